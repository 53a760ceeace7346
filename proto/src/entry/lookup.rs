//! The secondary-index key of a leaf: what a gateway indexes a logged entry by, so that node and
//! clients agree on it (the node's `i ‖ index-name ‖ key` sled keys).
//!
//! - `KeyPublication` → its `req_hash` (certified mail step (d): B looks the key up by it). Lookups
//!   return the **lowest** index with that req_hash, which is also the one an arbiter counts.
//! - `IdentityBinding` / `IdentityRevocation` → the account address (key transparency lookups).
//! - `Evidence` → the msg_id (delivery status queries between gateways).
//!
//! Other kinds are found by index or leaf hash only.

use crate::wire::pb::{self, log_entry};

/// What a leaf is indexed by, per index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LookupKey {
    /// A certified-mail key publication, by `req_hash`.
    RequestHash([u8; 32]),
    /// A binding or revocation, by account address.
    Account(String),
    /// A notary evidence record, by msg_id.
    MsgId(Vec<u8>),
}

impl LookupKey {
    /// The index's name, for storage keys: `"cm-req"`, `"account"` or `"msg-id"`.
    pub fn index_name(&self) -> &'static str {
        match self {
            LookupKey::RequestHash(_) => "cm-req",
            LookupKey::Account(_) => "account",
            LookupKey::MsgId(_) => "msg-id",
        }
    }

    /// The key's bytes within its index.
    pub fn key_bytes(&self) -> &[u8] {
        match self {
            LookupKey::RequestHash(h) => h,
            LookupKey::Account(a) => a.as_bytes(),
            LookupKey::MsgId(m) => m,
        }
    }
}

/// The lookup key of a validated entry ([`crate::wire::Validate`] guarantees the lengths; an
/// entry that skipped validation and has a short `req_hash` gets no key).
pub fn lookup_key(entry: &pb::LogEntry) -> Option<LookupKey> {
    match entry.kind.as_ref()? {
        log_entry::Kind::KeyPublication(k) => k
            .req_hash
            .as_slice()
            .try_into()
            .ok()
            .map(LookupKey::RequestHash),
        log_entry::Kind::IdentityBinding(b) => Some(LookupKey::Account(b.account.clone())),
        log_entry::Kind::IdentityRevocation(r) => Some(LookupKey::Account(r.account.clone())),
        log_entry::Kind::Evidence(e) => Some(LookupKey::MsgId(e.msg_id.clone())),
        log_entry::Kind::WitnessedCheckpoint(_)
        | log_entry::Kind::Notarization(_)
        | log_entry::Kind::BatchNotarization(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publications_are_indexed_by_req_hash() {
        let entry = pb::LogEntry {
            kind: Some(log_entry::Kind::KeyPublication(pb::KeyPublication {
                req_hash: vec![7; 32],
                ..Default::default()
            })),
        };
        let key = lookup_key(&entry).unwrap();
        assert_eq!(key, LookupKey::RequestHash([7; 32]));
        assert_eq!(
            (key.index_name(), key.key_bytes()),
            ("cm-req", &[7u8; 32][..])
        );
    }

    #[test]
    fn bindings_and_revocations_share_the_account_index() {
        let b = pb::LogEntry {
            kind: Some(log_entry::Kind::IdentityBinding(pb::IdentityBinding {
                account: "bob@beta.test".into(),
                ..Default::default()
            })),
        };
        let r = pb::LogEntry {
            kind: Some(log_entry::Kind::IdentityRevocation(
                pb::IdentityRevocation {
                    account: "bob@beta.test".into(),
                    ..Default::default()
                },
            )),
        };
        assert_eq!(lookup_key(&b), lookup_key(&r));
        assert_eq!(lookup_key(&b).unwrap().index_name(), "account");
    }

    #[test]
    fn unindexed_and_malformed_entries_have_no_key() {
        let n = pb::LogEntry {
            kind: Some(log_entry::Kind::Notarization(pb::Notarization::default())),
        };
        assert_eq!(lookup_key(&n), None);
        assert_eq!(lookup_key(&pb::LogEntry { kind: None }), None);
        let short = pb::LogEntry {
            kind: Some(log_entry::Kind::KeyPublication(pb::KeyPublication {
                req_hash: vec![7; 31],
                ..Default::default()
            })),
        };
        assert_eq!(lookup_key(&short), None);
    }
}
