//! Why the log store could not be opened, read or written.
//!
//! Reads keep *the caller asked for something that is not there* (`OutOfRange`, `NotFound`,
//! `InvalidCount`: answer the peer) apart from *local failure* (`Storage`, `Corrupt`: log it,
//! answer "internal"). Bytes read from disk are outside input: a value that does not parse is
//! `Corrupt`, never a panic.

use std::path::PathBuf;

use herald_proto::merkle::HashAlgorithm;
use herald_proto::wire::MAX_ORIGIN_BYTES;

/// Why a log store could not be created or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Another process (or another open store in this one) holds the data directory; `open`
    /// waits up to 2 s for it first.
    #[error("the log at {path} is in use by another process")]
    Locked {
        /// The data directory.
        path: PathBuf,
    },
    /// `open` found no log in the directory.
    #[error("no Herald log at {path}")]
    NotALog {
        /// The data directory.
        path: PathBuf,
    },
    /// `create` found a log already there.
    #[error("a Herald log already exists at {path}")]
    AlreadyExists {
        /// The data directory.
        path: PathBuf,
    },
    /// The log was written by another version of the layout.
    #[error("log layout version {found} is not supported (this build reads {supported})")]
    UnsupportedFormat {
        /// The version on disk.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// The origin asked for is not the log's.
    #[error("the log's origin is {stored:?}, not {given:?}")]
    OriginMismatch {
        /// The origin on disk.
        stored: String,
        /// The origin the caller expected.
        given: String,
    },
    /// The hash algorithm asked for is not the log's (it is fixed at creation).
    #[error("the log hashes with {stored}, not {given}")]
    AlgorithmMismatch {
        /// The algorithm on disk.
        stored: HashAlgorithm,
        /// The algorithm the caller expected.
        given: HashAlgorithm,
    },
    /// The origin is not a valid note key name or is too long.
    #[error(
        "invalid log origin {0:?}: must be a note key name of at most {MAX_ORIGIN_BYTES} bytes"
    )]
    InvalidOrigin(String),
    /// The log is shorter than a tree it already signed and made durable (its high-water mark,
    /// kept outside sled): sled lost committed rounds, e.g. a partial restore of the data
    /// directory or a storage fault. Writing on would sign a fork of what was signed, so
    /// nothing is opened and nothing is cut.
    #[error(
        "the log at {path} holds {stored} entries, but this log already signed a tree of {signed}          entries (its high-water mark): its database lost committed rounds, e.g. a partial          restore. Refusing to open it, which would sign a fork of what was signed; restore the          whole data directory (database and sealed files together)"
    )]
    BehindSigned {
        /// The data directory.
        path: PathBuf,
        /// The committed size the database holds.
        stored: u64,
        /// The largest size this log signed.
        signed: u64,
    },
    /// The log's tree at its high-water size has another root than the one signed there.
    #[error(
        "the log at {path} holds a tree of {size} entries other than the one this log signed at          that size (its high-water mark); refusing to open it"
    )]
    ForkOfSigned {
        /// The data directory.
        path: PathBuf,
        /// The high-water size.
        size: u64,
    },
    /// The stored log could not be read back consistently.
    #[error("reading the log failed")]
    Read(#[from] ReadError),
    /// sled failed (I/O, or its own corruption check).
    #[error("storage failure")]
    Storage(#[from] sled::Error),
}

/// Why a read of the log failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// An index or size is past the end of the log (or of the size asked about), sizes are out
    /// of order, or an old size of 0 was given for a consistency proof. `size` is the log's
    /// latest published size, what a client should ask within.
    #[error("out of range: the log has {size} entries")]
    OutOfRange {
        /// The log's latest published size.
        size: u64,
    },
    /// No leaf has the asked-for hash (within the size asked about).
    #[error("no leaf has that hash")]
    NotFound,
    /// An entry page of zero entries was asked for.
    #[error("an entry page must ask for at least one entry")]
    InvalidCount,
    /// sled failed.
    #[error("storage failure")]
    Storage(#[from] sled::Error),
    /// Reading (or, when opening, creating or cutting) a sealed file failed.
    #[error("sealed file {file}")]
    Io {
        /// The file, in the log's `sealed/` directory.
        file: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A stored value is missing or malformed; `what` says which.
    #[error("corrupt log storage: {what}")]
    Corrupt {
        /// Which value, and how it is wrong.
        what: String,
    },
}

impl ReadError {
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        ReadError::Corrupt { what: what.into() }
    }

    /// Whether the request was at fault (answer the peer) rather than the node (log it).
    pub fn is_request_error(&self) -> bool {
        matches!(
            self,
            ReadError::OutOfRange { .. } | ReadError::NotFound | ReadError::InvalidCount
        )
    }
}

/// Why a sequencing round could not be made durable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// sled failed to apply or flush the round.
    #[error("storage failure")]
    Storage(#[from] sled::Error),
    /// Writing or syncing the round's sealed records failed.
    #[error("writing sealed records failed")]
    Sealed(#[from] std::io::Error),
    /// Recording the round's tree as the high-water mark failed (`store::high_water`).
    #[error("recording the high-water mark failed")]
    HighWater(#[source] std::io::Error),
}
