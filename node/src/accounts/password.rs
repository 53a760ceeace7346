//! An account's password as the gateway keeps it (PAEP, DESIGN §3.1): only the SPAKE2+
//! registration record `(w0, L)` and the Argon2id costs the client derived it with, stored in the
//! account's record, set by registration and replaced by a password change. Never the password
//! nor anything computed from it without the offline work Argon2id imposes; `w0` and `L` alone
//! do not let anyone complete a login (that needs w1, the discrete log of L).

use herald_proto::paep::{Argon2Params, LoginError, Ristretto255Blake3, VerifierRecord};
use herald_proto::wire::pb;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize as _;

use super::record::hex32;
use super::{AccountBook, AccountError, AccountRecord, AccountState};

/// A stored password record (JSON in the account record, keys as hex).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordEntry {
    /// w0, a canonical ristretto255 scalar.
    #[serde(with = "hex32")]
    w0: [u8; 32],
    /// L = w1·G, a canonical ristretto255 point, not the identity.
    #[serde(with = "hex32")]
    l: [u8; 32],
    /// Argon2id memory, KiB.
    memory_kib: u32,
    /// Argon2id passes.
    iterations: u32,
    /// Argon2id lanes.
    parallelism: u32,
}

impl core::fmt::Debug for PasswordEntry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PasswordEntry")
            .field("memory_kib", &self.memory_kib)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl Drop for PasswordEntry {
    fn drop(&mut self) {
        self.w0.zeroize();
    }
}

impl PasswordEntry {
    /// The entry of a record a client sent, checked as proto reads it (canonical w0, L a
    /// group element that is not the identity, costs within bounds).
    pub fn from_wire(record: &pb::PasswordRecord) -> Result<Self, LoginError> {
        let (verifier, params) = VerifierRecord::<Ristretto255Blake3>::from_pb(record)?;
        let (w0, l) = verifier.encode();
        let mut entry = PasswordEntry {
            w0: [0; 32],
            l: [0; 32],
            memory_kib: params.memory_kib(),
            iterations: params.iterations(),
            parallelism: params.parallelism(),
        };
        entry.w0.copy_from_slice(&w0);
        entry.l.copy_from_slice(&l);
        Ok(entry)
    }

    /// The Argon2id costs the client derived it with.
    pub fn params(&self) -> Result<Argon2Params, LoginError> {
        Argon2Params::new(self.memory_kib, self.iterations, self.parallelism)
    }

    /// The verifier record for a login, and its costs (checked again: what is read back from
    /// the database is checked as anything from outside is).
    pub fn verifier(
        &self,
    ) -> Result<(VerifierRecord<Ristretto255Blake3>, Argon2Params), LoginError> {
        Ok((VerifierRecord::decode(&self.w0, &self.l)?, self.params()?))
    }
}

/// What a login needs of an account: its stored password record. Only an active account with a
/// password has one; every other address meets a fake record.
#[derive(Debug)]
pub struct LoginRecord {
    /// The password record.
    pub password: PasswordEntry,
    /// The bound identity key IK (prekey uploads are checked against it).
    pub identity_key: [u8; 32],
}

impl AccountRecord {
    /// The login record, if the account is active and has a password.
    pub fn login_record(&self) -> Option<LoginRecord> {
        match (&self.state, &self.password) {
            (AccountState::Active { identity_key, .. }, Some(password)) => Some(LoginRecord {
                password: password.clone(),
                identity_key: *identity_key,
            }),
            _ => None,
        }
    }
}

impl AccountBook {
    /// The login record of `account` (see [`AccountRecord::login_record`]).
    pub fn login_record(&self, account: &str) -> Result<Option<LoginRecord>, AccountError> {
        Ok(self.get(account)?.and_then(|r| r.login_record()))
    }

    /// Replaces the password of the active `account` bound to `identity_key` (the session's
    /// account, which must still hold that key). Durable when this returns.
    pub fn set_password(
        &self,
        account: &str,
        identity_key: &[u8; 32],
        password: PasswordEntry,
    ) -> Result<(), AccountError> {
        let _write = self.lock();
        let mut record = self
            .get(account)?
            .ok_or_else(|| AccountError::Unknown(account.to_owned()))?;
        match &record.state {
            AccountState::Active {
                identity_key: bound,
                ..
            } if bound == identity_key => {}
            _ => return Err(AccountError::Changed(account.to_owned())),
        }
        record.password = Some(password);
        self.put(&record)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use herald_proto::paep::ProverSecrets;

    use super::*;

    pub(crate) fn entry(password: &[u8]) -> PasswordEntry {
        let params = Argon2Params::new(64, 1, 1).unwrap();
        let secrets = ProverSecrets::<Ristretto255Blake3>::derive(
            password,
            "bob@beta.test",
            "beta.test",
            params,
        )
        .unwrap();
        PasswordEntry::from_wire(&secrets.record().to_pb(params)).unwrap()
    }

    #[test]
    fn an_entry_round_trips_and_never_shows_w0() {
        let e = entry(b"pw");
        let json = serde_json::to_string(&e).unwrap();
        let back: PasswordEntry = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
        assert!(!format!("{e:?}").contains(&hex::encode(e.w0)));
        let (verifier, params) = back.verifier().unwrap();
        assert_eq!(verifier.encode().1, e.l.to_vec());
        assert_eq!(params.memory_kib(), 64);
        // An identity L is refused when read, as when received.
        let mut bad = e.clone();
        bad.l = [0; 32];
        assert!(bad.verifier().is_err());
        let wire = pb::PasswordRecord {
            w0: vec![1; 32],
            l: vec![0; 32],
            argon2: Some(params.to_pb()),
        };
        assert!(PasswordEntry::from_wire(&wire).is_err());
    }
}
