//! Scanning and quarantine where the plaintext is (DESIGN §4 "Policy", "Anti-virus").
//!
//! The gateway serves its rule set ([`rule_set`]); before sending a mail and before showing one,
//! the client runs proto's [`MailContent::inspect`] with the rule set and a [`Scanner`] — the
//! built-in [`SignatureScanner`] (EICAR and a signature file, [`load_signatures`]) or a
//! [`ClamdScanner`] — and keeps aside what matches in a [`Quarantine`], with the reason
//! ([`screen`]). [`Screening`] holds the three for a client (the CLI's `herald send` and
//! `herald read`, the mobile binding's `send` and `read`) and screens off the async task.

mod clamd;
mod quarantine;
mod screening;

pub use clamd::{
    CHUNK_BYTES, ClamdAddress, ClamdConfig, ClamdError, ClamdScanner, ClamdVerdict,
    DEFAULT_MAX_STREAM_BYTES, DEFAULT_TIMEOUT, MAX_REPLY_BYTES,
};
pub use herald_proto::policy::{MailContent, QuarantineReason, RuleError, RuleSet};
pub use herald_proto::scan::{
    EICAR, ScanError, ScanVerdict, Scanner, SignatureError, SignatureScanner,
};
pub use quarantine::{Quarantine, QuarantineError, Quarantined, Screened, screen};
pub use screening::{ScreenError, Screening, SharedScanner};

use std::path::Path;

use herald_proto::scan::MAX_SIGNATURE_FILE_BYTES;

use crate::durable_file::{self, ReadError};
use crate::error::ClientError;
use crate::gateway::Gateway;

/// Why a signature file was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum SignatureFileError {
    /// It could not be read, or is over [`MAX_SIGNATURE_FILE_BYTES`] (read no further).
    #[error("signature file: {0}")]
    Read(#[from] ReadError),
    /// Its content is not the format (`herald_proto::scan`'s docs).
    #[error("{path}: {source}")]
    Format {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong, with the line.
        source: SignatureError,
    },
}

/// The built-in scanner with the signatures of the file at `path` (and EICAR).
pub fn load_signatures(path: &Path) -> Result<SignatureScanner, SignatureFileError> {
    let bytes = durable_file::read_bounded(path, MAX_SIGNATURE_FILE_BYTES)?;
    SignatureScanner::from_file_bytes(&bytes).map_err(|source| SignatureFileError::Format {
        path: path.to_path_buf(),
        source,
    })
}

/// Why the gateway's rule set was not obtained.
#[derive(Debug, thiserror::Error)]
pub enum RuleSetError {
    /// The request failed or was refused.
    #[error(transparent)]
    Gateway(#[from] ClientError),
    /// The gateway served a rule set that does not parse (it misbehaved).
    #[error("the gateway's {0}")]
    Rules(#[from] RuleError),
}

/// The rule set `gateway` serves (no session needed), checked whole.
pub async fn rule_set<G: Gateway>(gateway: &G) -> Result<RuleSet, RuleSetError> {
    let wire = gateway.policy().await?;
    Ok(RuleSet::from_wire(&wire)?)
}

#[cfg(test)]
mod tests {
    use herald_proto::wire::pb;

    use super::*;

    /// A gateway that answers every request with one response.
    struct Serves(pb::ClientResponse);

    impl Gateway for Serves {
        async fn exchange(
            &self,
            _request: pb::ClientRequest,
        ) -> Result<pb::ClientResponse, ClientError> {
            Ok(self.0.clone())
        }
    }

    fn serving(rules: pb::PolicyRules) -> Serves {
        Serves(pb::ClientResponse {
            response: Some(pb::client_response::Response::Policy(rules)),
        })
    }

    #[tokio::test]
    async fn the_served_rule_set_is_parsed_and_a_malformed_one_refused() {
        let mut rules = RuleSet::default().to_wire();
        rules.recipient_deny = vec!["*@*.spam.test".into()];
        let parsed = rule_set(&serving(rules.clone())).await.unwrap();
        assert_eq!(parsed.to_wire(), rules);

        rules.recipient_deny = vec!["spam.test".into()];
        assert!(matches!(
            rule_set(&serving(rules)).await,
            Err(RuleSetError::Rules(RuleError::Pattern(_)))
        ));
        let refused = Serves(pb::ClientResponse::refusal(
            pb::ClientErrorKind::Busy,
            "busy",
        ));
        assert!(matches!(
            rule_set(&refused).await,
            Err(RuleSetError::Gateway(ClientError::Refused(_)))
        ));
    }
}
