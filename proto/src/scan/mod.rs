//! Anti-virus scanning where the plaintext is (DESIGN §4 "Anti-virus"): the [`Scanner`]
//! interface every scanner implements, and the built-in [`SignatureScanner`] (the EICAR test
//! string and an operator's or user's signature file).
//!
//! A scanner is called on plaintext the client holds: before a mail is sent and before it is
//! shown (`policy::MailContent::inspect`). The interface is synchronous and sans-IO at this
//! level; a scanner that talks to a daemon (the light client's clamd client) does its own bounded
//! I/O behind it.

mod signatures;

pub use signatures::{
    EICAR, EICAR_NAME, MAX_SIGNATURE_BYTES, MAX_SIGNATURE_FILE_BYTES, MAX_SIGNATURE_NAME_BYTES,
    MAX_SIGNATURES, MIN_SIGNATURE_BYTES, SignatureError, SignatureScanner,
};

/// What a scanner found in one piece of data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanVerdict {
    /// Nothing the scanner knows.
    Clean,
    /// A known signature.
    Infected {
        /// The signature's name, as the scanner reports it.
        signature: String,
    },
}

/// Why a scanner gave no verdict. A caller treats it as "not known to be clean": the light
/// client quarantines what it could not scan.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The data is larger than the scanner takes.
    #[error("{len} bytes exceed the scanner's limit of {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The scanner cannot be reached or did not answer in time (a local failure; retry).
    #[error("scanner unavailable: {0}")]
    Unavailable(String),
    /// The scanner answered something that is not its protocol (oversized, malformed).
    #[error("scanner answered outside its protocol: {0}")]
    BadReply(String),
    /// The scanner reported an error of its own for this data.
    #[error("scanner failed: {0}")]
    Failed(String),
}

/// A scanner of plaintext.
pub trait Scanner {
    /// A short name for quarantine reasons (`"builtin"`, `"clamd"`).
    fn name(&self) -> &str;

    /// Scans `data`.
    fn scan(&self, data: &[u8]) -> Result<ScanVerdict, ScanError>;
}
