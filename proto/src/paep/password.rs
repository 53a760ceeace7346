//! From a password to SPAKE2+'s `(w0, w1)`, and the registration record `(w0, L = w1·G)` the
//! gateway stores (RFC 9383 §3.2, DESIGN §3.1).
//!
//! `w0s ‖ w1s = Argon2id(password, salt, params)` with 128 bytes of output, `w0 = w0s mod p`,
//! `w1 = w1s mod p`: each half is 512 bits, far above RFC 9383's `ceil(log2 p) + 64`. The salt is
//! `KDF("herald v1 paep salt", lp(account) ‖ lp(domain))`, so one password gives unrelated
//! records for two accounts or two gateways, and the RFC's identities are bound into the
//! derivation as its §3.2 recommends. The password is used as given (bytes); normalising it
//! (RFC 8265) is the client's job before this.
//!
//! **Who holds what.** [`ProverSecrets`] (w0, w1) exist only on the client, for one login or one
//! registration, and are zeroized on drop. [`VerifierRecord`] (w0, L) is the gateway's; with it
//! alone nobody can complete a login as the client (that needs w1, the discrete log of L), but
//! it does allow an offline dictionary attack on the password, which Argon2id makes costly.

use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::{Zeroize, Zeroizing};

use super::suite::Ciphersuite;
use super::{LoginError, Ristretto255Blake3};
use crate::entry::lp;
use crate::wire::{Validate as _, WireError, pb};

/// The KDF label of the Argon2id salt.
pub const SALT_LABEL: &str = "herald v1 paep salt";

/// Bytes of Argon2id output: two halves of 64 bytes, each reduced mod p.
const PBKDF_OUTPUT_BYTES: usize = 128;

/// Argon2id cost parameters (RFC 9106), within the bounds of `wire::paep`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Params {
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
}

impl Argon2Params {
    /// RFC 9106 §4's second recommended option (64 MiB, 3 passes, 4 lanes): what new
    /// registrations use unless the client is told otherwise.
    pub const RECOMMENDED: Argon2Params = Argon2Params {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 4,
    };

    /// Parameters within the bounds every client accepts, or why not.
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self, LoginError> {
        Self::from_pb(&pb::Argon2Params {
            memory_kib,
            iterations,
            parallelism,
        })
    }

    /// Parameters from the wire, checked against the bounds.
    pub fn from_pb(params: &pb::Argon2Params) -> Result<Self, LoginError> {
        params.validate_fields()?;
        Ok(Argon2Params {
            memory_kib: params.memory_kib,
            iterations: params.iterations,
            parallelism: params.parallelism,
        })
    }

    /// The wire form.
    pub fn to_pb(self) -> pb::Argon2Params {
        pb::Argon2Params {
            memory_kib: self.memory_kib,
            iterations: self.iterations,
            parallelism: self.parallelism,
        }
    }

    /// Memory cost in KiB.
    pub fn memory_kib(&self) -> u32 {
        self.memory_kib
    }

    /// Passes over the memory.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// Lanes.
    pub fn parallelism(&self) -> u32 {
        self.parallelism
    }

    /// Whether these costs are at least `floor`'s: as much memory and as many passes (lanes
    /// change how the work is spread, not how much of it an attacker must do, so any count is
    /// accepted). A gateway refuses a record derived with less than it offers.
    pub fn covers(&self, floor: Argon2Params) -> bool {
        self.memory_kib >= floor.memory_kib && self.iterations >= floor.iterations
    }
}

/// `KDF("herald v1 paep salt", lp(account) ‖ lp(domain))`.
pub fn password_salt(account: &str, domain: &str) -> [u8; 32] {
    let mut input = Vec::with_capacity(16 + account.len() + domain.len());
    lp(&mut input, account.as_bytes());
    lp(&mut input, domain.as_bytes());
    blake3::derive_key(SALT_LABEL, &input)
}

/// The client's (w0, w1): what a password is worth for one login. Zeroized on drop; never sent.
pub struct ProverSecrets<S: Ciphersuite> {
    w0: S::Scalar,
    w1: S::Scalar,
}

impl<S: Ciphersuite> core::fmt::Debug for ProverSecrets<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ProverSecrets(..)")
    }
}

/// A copy is zeroized on drop like the original (a client keeps one for a session's length, e.g.
/// to log in again after a restart of its gateway, or a benchmark for many logins).
impl<S: Ciphersuite> Clone for ProverSecrets<S> {
    fn clone(&self) -> Self {
        ProverSecrets {
            w0: self.w0.clone(),
            w1: self.w1.clone(),
        }
    }
}

impl<S: Ciphersuite> Drop for ProverSecrets<S> {
    fn drop(&mut self) {
        self.w0.zeroize();
        self.w1.zeroize();
    }
}

impl<S: Ciphersuite> ProverSecrets<S> {
    /// Derives (w0, w1) from `password` for `account` at `domain` with Argon2id. This is the
    /// client's cost (RFC 9106 parameters: tens of milliseconds to seconds), never the gateway's.
    pub fn derive(
        password: &[u8],
        account: &str,
        domain: &str,
        params: Argon2Params,
    ) -> Result<Self, LoginError> {
        let argon2_params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            Some(PBKDF_OUTPUT_BYTES),
        )
        .map_err(|e| LoginError::Argon2(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon2_params);
        let salt = password_salt(account, domain);
        let mut out = Zeroizing::new([0u8; PBKDF_OUTPUT_BYTES]);
        argon2
            .hash_password_into(password, &salt, &mut out[..])
            .map_err(|e| LoginError::Argon2(e.to_string()))?;
        let mut halves = Zeroizing::new([[0u8; 64]; 2]);
        halves[0].copy_from_slice(&out[..64]);
        halves[1].copy_from_slice(&out[64..]);
        Ok(ProverSecrets {
            w0: S::scalar_from_wide(&halves[0]),
            w1: S::scalar_from_wide(&halves[1]),
        })
    }

    /// Secrets given as scalars (the RFC's test vectors give w0 and w1 directly).
    pub fn from_scalars(w0: S::Scalar, w1: S::Scalar) -> Self {
        ProverSecrets { w0, w1 }
    }

    /// The registration record for the gateway: `(w0, L = w1·G)`.
    pub fn record(&self) -> VerifierRecord<S> {
        VerifierRecord {
            w0: self.w0.clone(),
            l: S::base_mul(&self.w1),
        }
    }

    pub(super) fn w0(&self) -> &S::Scalar {
        &self.w0
    }

    pub(super) fn w1(&self) -> &S::Scalar {
        &self.w1
    }
}

/// The gateway's registration record `(w0, L)` for one account. `w0` is zeroized on drop.
pub struct VerifierRecord<S: Ciphersuite> {
    w0: S::Scalar,
    l: S::Element,
}

impl<S: Ciphersuite> core::fmt::Debug for VerifierRecord<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VerifierRecord")
            .field("L", &S::encode_element(&self.l))
            .finish_non_exhaustive()
    }
}

impl<S: Ciphersuite> Clone for VerifierRecord<S> {
    fn clone(&self) -> Self {
        VerifierRecord {
            w0: self.w0.clone(),
            l: self.l.clone(),
        }
    }
}

impl<S: Ciphersuite> Drop for VerifierRecord<S> {
    fn drop(&mut self) {
        self.w0.zeroize();
    }
}

impl<S: Ciphersuite> VerifierRecord<S> {
    /// A record from its encodings: `w0` a canonical scalar, `L` a canonical element that is not
    /// the identity (an identity L would make V the identity for every y).
    pub fn decode(w0: &[u8], l: &[u8]) -> Result<Self, LoginError> {
        let w0 = S::decode_scalar(w0).ok_or(LoginError::BadRecord {
            reason: "w0 is not a canonical scalar",
        })?;
        let l = S::decode_element(l).ok_or(LoginError::BadRecord {
            reason: "L is not a canonical group element",
        })?;
        if S::is_identity(&l) {
            return Err(LoginError::BadRecord {
                reason: "L is the identity",
            });
        }
        Ok(VerifierRecord { w0, l })
    }

    /// `(encode(w0), encode(L))`.
    pub fn encode(&self) -> (Zeroizing<Vec<u8>>, Vec<u8>) {
        (S::encode_scalar(&self.w0), S::encode_element(&self.l))
    }

    pub(super) fn from_parts(w0: S::Scalar, l: S::Element) -> Self {
        VerifierRecord { w0, l }
    }

    pub(super) fn w0(&self) -> &S::Scalar {
        &self.w0
    }

    pub(super) fn l(&self) -> &S::Element {
        &self.l
    }
}

impl VerifierRecord<Ristretto255Blake3> {
    /// The record as the client sends it at enrolment or on a password change.
    pub fn to_pb(&self, params: Argon2Params) -> pb::PasswordRecord {
        let (w0, l) = self.encode();
        pb::PasswordRecord {
            w0: w0.to_vec(),
            l,
            argon2: Some(params.to_pb()),
        }
    }

    /// A record as the gateway receives or stores it, with its Argon2id parameters.
    pub fn from_pb(record: &pb::PasswordRecord) -> Result<(Self, Argon2Params), LoginError> {
        record.validate()?;
        let params = record.argon2.as_ref().ok_or(WireError::MissingField {
            field: "PasswordRecord.argon2",
        })?;
        Ok((
            Self::decode(&record.w0, &record.l)?,
            Argon2Params::from_pb(params)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type S = Ristretto255Blake3;

    /// Cheap parameters for tests (the derivation is the same code at any cost).
    pub(crate) fn test_params() -> Argon2Params {
        Argon2Params::new(64, 1, 1).unwrap()
    }

    #[test]
    fn the_salt_is_the_documented_kdf_of_account_and_domain() {
        let mut input = Vec::new();
        input.extend_from_slice(&13u64.to_le_bytes());
        input.extend_from_slice(b"bob@beta.test");
        input.extend_from_slice(&9u64.to_le_bytes());
        input.extend_from_slice(b"beta.test");
        assert_eq!(
            password_salt("bob@beta.test", "beta.test"),
            blake3::derive_key("herald v1 paep salt", &input)
        );
        assert_ne!(
            password_salt("bob@beta.test", "beta.test"),
            password_salt("bob@beta.tes", "tbeta.test")
        );
    }

    #[test]
    fn one_password_gives_unrelated_records_per_account_and_domain() {
        let p = test_params();
        let a = ProverSecrets::<S>::derive(b"pw", "bob@beta.test", "beta.test", p).unwrap();
        let again = ProverSecrets::<S>::derive(b"pw", "bob@beta.test", "beta.test", p).unwrap();
        let other = ProverSecrets::<S>::derive(b"pw", "eve@beta.test", "beta.test", p).unwrap();
        let (w0, l) = a.record().encode();
        assert_eq!((w0.clone(), l.clone()), again.record().encode());
        assert_ne!(l, other.record().encode().1);
        assert_ne!(a.w0(), a.w1());
        // Other costs give other scalars.
        let costlier = Argon2Params::new(128, 1, 1).unwrap();
        let c = ProverSecrets::<S>::derive(b"pw", "bob@beta.test", "beta.test", costlier).unwrap();
        assert_ne!(c.record().encode().1, l);
    }

    #[test]
    fn costs_cover_a_floor_by_memory_and_passes() {
        let floor = Argon2Params::new(1024, 2, 4).unwrap();
        assert!(floor.covers(floor));
        assert!(Argon2Params::new(2048, 2, 1).unwrap().covers(floor));
        assert!(!Argon2Params::new(1023, 9, 4).unwrap().covers(floor));
        assert!(!Argon2Params::new(4096, 1, 4).unwrap().covers(floor));
        assert_eq!(
            (floor.memory_kib(), floor.iterations(), floor.parallelism()),
            (1024, 2, 4)
        );
    }

    #[test]
    fn a_record_round_trips_and_bad_records_are_refused() {
        let secrets =
            ProverSecrets::<S>::derive(b"pw", "bob@beta.test", "beta.test", test_params()).unwrap();
        let record = secrets.record();
        let wire = record.to_pb(test_params());
        let (back, params) = VerifierRecord::<S>::from_pb(&wire).unwrap();
        assert_eq!(back.encode(), record.encode());
        assert_eq!(params, test_params());

        let mut identity = wire.clone();
        identity.l = vec![0; 32];
        assert!(matches!(
            VerifierRecord::<S>::from_pb(&identity),
            Err(LoginError::BadRecord {
                reason: "L is the identity"
            })
        ));
        let mut big_w0 = wire.clone();
        big_w0.w0 = vec![0xff; 32];
        assert!(matches!(
            VerifierRecord::<S>::from_pb(&big_w0),
            Err(LoginError::BadRecord { .. })
        ));
        let mut greedy = wire;
        greedy.argon2 = Some(pb::Argon2Params {
            memory_kib: u32::MAX,
            iterations: 1,
            parallelism: 1,
        });
        assert!(matches!(
            VerifierRecord::<S>::from_pb(&greedy),
            Err(LoginError::Wire(_))
        ));
    }
}
