//! The logs a gateway trusts ([`pb::TrustList`]): its own log and its registered peers', each
//! with the witness policy the gateway applies (its peers' witness keys and its quorum).
//!
//! What the client can check is limited and said plainly: the own log must be the log the
//! client already knows (same key, same hash), and every entry must be a usable description
//! (proto's `LogTrust::from_pb`: canonical keys, known hash, a valid quorum), with no origin
//! listed twice. The peers' keys are the gateway's word: a client that trusts its gateway's
//! operator may write locations and domain files from them (`herald log trust`), nothing
//! more.

// `VerifyError` carries whole checkpoints as evidence (see `verify.rs`).
#![allow(clippy::result_large_err)]

use std::collections::BTreeSet;

use herald_proto::inclusion::LogTrust;
use herald_proto::wire::pb;

use crate::error::ClientError;
use crate::gateway::Gateway;
use crate::store::CheckpointStore;
use crate::trusted_log::TrustedLog;
use crate::verify::VerifyError;

/// A gateway's trust list, checked as the module documentation says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedTrustList {
    /// The gateway's own log (the client's known key and hash) and its witness policy.
    pub own: LogTrust,
    /// The registered peers' logs, as the gateway knows them.
    pub peers: Vec<LogTrust>,
}

/// Checks `list` as the trust list of the gateway of `log`.
pub fn check_trust_list(
    log: &LogTrust,
    list: pb::TrustList,
) -> Result<CheckedTrustList, VerifyError> {
    let usable = |t: &pb::LogTrust| {
        LogTrust::from_pb(t).map_err(|e| VerifyError::BadTrustList {
            which: t.log_key.chars().take(128).collect(),
            reason: e.to_string(),
        })
    };
    // The codec checked `own` is there.
    let own = usable(&list.own.unwrap_or_default())?;
    if own.log() != log.log() || own.algorithm() != log.algorithm() {
        return Err(VerifyError::BadTrustList {
            which: "own".into(),
            reason: format!(
                "it describes {} ({}), not this gateway's log {} ({})",
                own.log(),
                own.algorithm(),
                log.log(),
                log.algorithm()
            ),
        });
    }
    let mut origins = BTreeSet::from([own.origin().to_owned()]);
    let mut peers = Vec::with_capacity(list.peers.len());
    for p in &list.peers {
        let peer = usable(p)?;
        if !origins.insert(peer.origin().to_owned()) {
            return Err(VerifyError::BadTrustList {
                which: p.log_key.chars().take(128).collect(),
                reason: format!("the origin {} is listed twice", peer.origin()),
            });
        }
        peers.push(peer);
    }
    Ok(CheckedTrustList { own, peers })
}

impl<G: Gateway, S: CheckpointStore> TrustedLog<G, S> {
    /// The gateway's trust list, checked against this log (see [`check_trust_list`]).
    pub async fn trust_list(&self) -> Result<CheckedTrustList, ClientError> {
        self.refuse_if_distrusted()?;
        let list = self.gateway.trust().await?;
        Ok(check_trust_list(&self.log, list)?)
    }
}

#[cfg(test)]
mod tests {
    use herald_proto::checkpoint::WitnessPolicy;
    use herald_proto::merkle::HashAlgorithm;

    use super::*;
    use crate::test_log::{TestLog, witness};

    fn trust(log: &TestLog, quorum: usize) -> LogTrust {
        let policy = WitnessPolicy::new(
            log.verifier(),
            vec![witness(7).verifier(), witness(8).verifier()],
            quorum,
        )
        .unwrap();
        LogTrust::new(policy, HashAlgorithm::Blake3)
    }

    #[test]
    fn a_trust_list_must_describe_the_known_log_and_usable_peers() {
        let alpha = TestLog::new(1);
        let beta = TestLog::with_key("beta.test/herald", [2; 32], 1);
        let known = LogTrust::unwitnessed(alpha.verifier(), HashAlgorithm::Blake3);
        let list = pb::TrustList {
            own: Some(trust(&alpha, 1).to_pb()),
            peers: vec![trust(&beta, 2).to_pb()],
        };
        let checked = check_trust_list(&known, list.clone()).unwrap();
        assert_eq!(checked.own, trust(&alpha, 1));
        assert_eq!(checked.peers, vec![trust(&beta, 2)]);

        // Another log as "own", or the right key with another hash.
        let mut other = list.clone();
        other.own = Some(trust(&beta, 1).to_pb());
        let sha = LogTrust::unwitnessed(alpha.verifier(), HashAlgorithm::Sha256);
        for (id, l) in [(&known, other), (&sha, list.clone())] {
            assert!(matches!(
                check_trust_list(id, l),
                Err(VerifyError::BadTrustList { .. })
            ));
        }
        // A peer listed twice, a quorum larger than its witnesses, a non-canonical key.
        let mut twice = list.clone();
        twice.peers.push(trust(&beta, 1).to_pb());
        let mut quorum = list.clone();
        quorum.peers[0].quorum = 3;
        let mut spelled = list;
        spelled.peers[0].log_key.push(' ');
        for bad in [twice, quorum, spelled] {
            assert!(matches!(
                check_trust_list(&known, bad),
                Err(VerifyError::BadTrustList { .. })
            ));
        }
    }
}
