//! Answers for accounts that do not exist (DESIGN §3.1: "unknown accounts get a fake but
//! well-formed answer": indistinguishable from a wrong password).
//!
//! For an unknown account the gateway runs the real verifier ([`ServerStart`]) on a **fake
//! registration record** derived from a gateway secret and the account name:
//!
//! ```text
//! w0s ‖ w1s = 128 bytes of BLAKE3-derive-key("herald v1 paep fake record",
//!                                             lp(secret) ‖ lp(account)) (XOF)
//! w0 = w0s mod ℓ,  L = (w1s mod ℓ)·G
//! ```
//!
//! - **Same shape, same work.** The answer is a `LoginChallenge` of the same lengths, made by
//!   the same code with the same multiplications; the client's confirmation then fails exactly
//!   as it does after a wrong password ([`LoginError::BadConfirmation`](super::LoginError)).
//! - **Stable.** Asking twice for one unknown account meets the same record (as a real account's
//!   would), so repeated tries cannot tell "random each time" from "a real, fixed record". The
//!   record is distributed as a real one is: w0 and w1 are uniform scalars.
//! - **Parameters.** `PasswordParams` for an unknown account are [`FakeRecords::params`]: the
//!   gateway should set them to what its real accounts use (the default for new registrations).
//!
//! The secret must be the gateway's, kept across restarts (e.g. derived from its signing key
//! with its own label), so that fake records do not change when the node restarts.

use zeroize::Zeroizing;

use super::Ristretto255Blake3;
use super::login::ServerStart;
use super::password::{Argon2Params, VerifierRecord};
use super::spake2plus::LoginContext;
use super::suite::Ciphersuite;
use crate::entry::lp;

/// The BLAKE3 key-derivation context of fake records.
pub const FAKE_RECORD_LABEL: &str = "herald v1 paep fake record";

/// Makes the gateway's fake records for unknown accounts.
pub struct FakeRecords {
    secret: Zeroizing<[u8; 32]>,
    params: Argon2Params,
}

impl core::fmt::Debug for FakeRecords {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FakeRecords")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl FakeRecords {
    /// Fake records keyed by the gateway's `secret`, offering `params` to whoever asks.
    pub fn new(secret: [u8; 32], params: Argon2Params) -> Self {
        FakeRecords {
            secret: Zeroizing::new(secret),
            params,
        }
    }

    /// The Argon2id parameters to answer a `PasswordParamsRequest` for an unknown account with.
    pub fn params(&self) -> Argon2Params {
        self.params
    }

    /// The fake record of `account`: the same every time for one account and secret.
    pub fn record(&self, account: &str) -> VerifierRecord<Ristretto255Blake3> {
        let mut input = Zeroizing::new(Vec::with_capacity(48 + account.len()));
        lp(&mut input, &self.secret[..]);
        lp(&mut input, account.as_bytes());
        let mut wide = Zeroizing::new([[0u8; 64]; 2]);
        let mut reader = blake3::Hasher::new_derive_key(FAKE_RECORD_LABEL)
            .update(&input)
            .finalize_xof();
        reader.fill(&mut wide[0]);
        reader.fill(&mut wide[1]);
        let w0 = Ristretto255Blake3::scalar_from_wide(&wide[0]);
        let w1 = Zeroizing::new(Ristretto255Blake3::scalar_from_wide(&wide[1]));
        VerifierRecord::from_parts(w0, Ristretto255Blake3::base_mul(&w1))
    }

    /// The verifier for a login of `account` at `domain` that has no real record.
    pub fn server_start(&self, account: &str, domain: &str) -> ServerStart<Ristretto255Blake3> {
        ServerStart::new(LoginContext::herald(account, domain), self.record(account))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_records_are_stable_per_account_and_secret() {
        let fake = FakeRecords::new([7; 32], Argon2Params::RECOMMENDED);
        let a = fake.record("ghost@beta.test").encode();
        assert_eq!(a, fake.record("ghost@beta.test").encode());
        assert_ne!(a, fake.record("ghost2@beta.test").encode());
        let other = FakeRecords::new([8; 32], Argon2Params::RECOMMENDED);
        assert_ne!(a, other.record("ghost@beta.test").encode());
        // A fake record is a valid one: it decodes like a stored real record.
        assert!(VerifierRecord::<Ristretto255Blake3>::decode(&a.0, &a.1).is_ok());
    }
}
