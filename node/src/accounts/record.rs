//! One account's stored record (JSON in the `accounts` tree, keys and hashes as hex), and the
//! view of it the admin API and `herald-node account list` show (no code hash).

use serde::{Deserialize, Serialize};

use super::password::PasswordEntry;

/// Where an account stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case", deny_unknown_fields)]
pub enum AccountState {
    /// Waiting for its owner to register with the one-time code.
    Pending {
        /// `code_hash(account, code)`.
        #[serde(with = "hex32")]
        code_hash: [u8; 32],
        /// The code is refused from this time on, Unix seconds.
        expires: u64,
    },
    /// Pending, with a registration of `identity_key` being logged: recorded (durably) before
    /// its `IdentityBinding` is appended, so that a crash between the append and the
    /// activation is settled at the next start — active if the binding is in the log, pending
    /// again if it is not — and the code never binds a second key.
    Binding {
        /// `code_hash(account, code)` of the code being used.
        #[serde(with = "hex32")]
        code_hash: [u8; 32],
        /// When that code expires, Unix seconds (kept for the return to pending).
        expires: u64,
        /// The key being bound.
        #[serde(with = "hex32")]
        identity_key: [u8; 32],
        /// The log's size before the append: the binding, if logged, is at this index or later.
        from_size: u64,
    },
    /// Registered: the log binds `identity_key` to the account.
    Active {
        /// IK.
        #[serde(with = "hex32")]
        identity_key: [u8; 32],
        /// The index of the `IdentityBinding` leaf.
        binding_index: u64,
        /// The binding's `valid_from`, Unix seconds.
        valid_from: u64,
    },
    /// Disabled by the operator.
    Disabled {
        /// The key that was revoked, if the account was active.
        #[serde(with = "hex32_opt", default)]
        identity_key: Option<[u8; 32]>,
        /// The index of the `IdentityRevocation` leaf, if one was logged.
        #[serde(default)]
        revocation_index: Option<u64>,
        /// When, Unix seconds.
        disabled_at: u64,
    },
}

/// An account as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountRecord {
    /// The canonical address.
    pub account: String,
    /// When it was first added, Unix seconds.
    pub created: u64,
    /// Where it stands.
    pub state: AccountState,
    /// Identity keys revoked for this account, oldest first; never bound again.
    #[serde(with = "hex32_list", default)]
    pub revoked_keys: Vec<[u8; 32]>,
    /// The SPAKE2+ record of the account's password, set by its registration and
    /// replaced by a password change; none for an account registered before logins existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<PasswordEntry>,
}

impl AccountRecord {
    /// The stored bytes.
    pub fn encode(&self) -> Vec<u8> {
        // Invariant: a record of strings, numbers and byte arrays always serializes.
        serde_json::to_vec(self).expect("an AccountRecord serializes")
    }

    /// Reads stored bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }

    /// What an operator sees.
    pub fn view(&self) -> AccountView {
        let mut view = AccountView {
            account: self.account.clone(),
            state: String::new(),
            created: self.created,
            code_expires: None,
            identity_key: None,
            binding_index: None,
            revocation_index: None,
            disabled_at: None,
            revoked_keys: self.revoked_keys.len(),
        };
        match &self.state {
            AccountState::Pending { expires, .. } => {
                view.state = "pending".into();
                view.code_expires = Some(*expires);
            }
            AccountState::Binding {
                expires,
                identity_key,
                ..
            } => {
                view.state = "binding".into();
                view.code_expires = Some(*expires);
                view.identity_key = Some(hex::encode(identity_key));
            }
            AccountState::Active {
                identity_key,
                binding_index,
                ..
            } => {
                view.state = "active".into();
                view.identity_key = Some(hex::encode(identity_key));
                view.binding_index = Some(*binding_index);
            }
            AccountState::Disabled {
                identity_key,
                revocation_index,
                disabled_at,
            } => {
                view.state = "disabled".into();
                view.identity_key = identity_key.map(hex::encode);
                view.revocation_index = *revocation_index;
                view.disabled_at = Some(*disabled_at);
            }
        }
        view
    }
}

/// An account as the admin API lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    /// The address.
    pub account: String,
    /// `pending`, `binding` (a registration being logged), `active` or `disabled`.
    pub state: String,
    /// When it was first added, Unix seconds.
    pub created: u64,
    /// Pending: when the code expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_expires: Option<u64>,
    /// Active: the bound key; disabled: the revoked key (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_key: Option<String>,
    /// Active: the binding leaf's index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding_index: Option<u64>,
    /// Disabled: the revocation leaf's index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_index: Option<u64>,
    /// Disabled: when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<u64>,
    /// How many keys were revoked for it so far.
    pub revoked_keys: usize,
}

fn from_hex<E: serde::de::Error>(s: &str) -> Result<[u8; 32], E> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|e| E::custom(format!("{s:?}: {e}")))?;
    Ok(out)
}

pub(super) mod hex32 {
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        super::from_hex(&String::deserialize(d)?)
    }
}

mod hex32_opt {
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&hex::encode(v)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<[u8; 32]>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| super::from_hex(&s))
            .transpose()
    }
}

mod hex32_list {
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[[u8; 32]], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(hex::encode))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 32]>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| super::from_hex(s))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_views_hide_the_code_hash() {
        let records = [
            AccountState::Pending {
                code_hash: [1; 32],
                expires: 9,
            },
            AccountState::Binding {
                code_hash: [1; 32],
                expires: 9,
                identity_key: [2; 32],
                from_size: 7,
            },
            AccountState::Active {
                identity_key: [2; 32],
                binding_index: 4,
                valid_from: 5,
            },
            AccountState::Disabled {
                identity_key: None,
                revocation_index: None,
                disabled_at: 6,
            },
        ]
        .map(|state| AccountRecord {
            account: "bob@beta.test".into(),
            created: 1,
            state,
            revoked_keys: vec![[3; 32]],
            password: None,
        });
        for r in records {
            assert_eq!(AccountRecord::decode(&r.encode()).unwrap(), r);
            let view = serde_json::to_string(&r.view()).unwrap();
            assert!(!view.contains(&hex::encode([1u8; 32])), "{view}");
        }
        assert!(AccountRecord::decode(b"{\"account\":1}").is_err());
        let bad_hex = br#"{"account":"a@b","created":1,"state":{"status":"active","identity_key":"zz","binding_index":0,"valid_from":0}}"#;
        assert!(AccountRecord::decode(bad_hex).is_err());
    }
}
