//! Test fixtures for prekeys and mail: Alice at `alpha.test` and Bob at `beta.test`, each bound
//! in their domain's log (real signatures, real proofs, cosigned by witnesses 1..=3), Bob's
//! binding prekey and one-time prekeys held in a [`MemoryPrekeys`] store.

use ed25519_dalek::SigningKey;
use prost::Message as _;

use super::keystore::MemoryPrekeys;
use super::prekey::{PrekeyKind, VerifiedPrekeyBundle, prekey_upload, verify_prekey_bundle};
use crate::entry::{IdentityBinding, IdentityRevocation, sign_fallback_prekey};
use crate::identity::{VerifiedBinding, VerifiedRevocation, verify_binding, verify_revocation};
use crate::inclusion::LogTrust;
use crate::testkit::{ALICE, BOB, MemoryLog, SKEW, alice_key, bob_key, filler};
use crate::wire::pb;

/// The clock of every fixture.
pub(super) const NOW: u64 = 1_800_000_000;
/// When the fixtures' checkpoints are cosigned.
const COSIGNED_AT: u64 = NOW - 900;
/// The secret of Bob's binding prekey (fallback 0).
const BOB_FALLBACK_SECRET: [u8; 32] = [0x42; 32];

pub(super) struct World {
    pub(super) alpha: MemoryLog,
    pub(super) beta: MemoryLog,
    pub(super) alice_binding: pb::IncludedLeaf,
    pub(super) bob_binding: pb::IncludedLeaf,
    /// Bob's key store: fallback 0 and whatever [`World::upload`] created.
    pub(super) bob_keys: MemoryPrekeys,
}

fn binding_entry(log: &MemoryLog, ik: &SigningKey, account: &str, prekey: [u8; 32]) -> Vec<u8> {
    IdentityBinding {
        account: account.into(),
        identity_key: ik.verifying_key().to_bytes(),
        signed_prekey: prekey,
        signed_prekey_signature: sign_fallback_prekey(ik, account, &prekey),
        valid_from: NOW - 1000,
    }
    .sign(&log.key)
    .encode_to_vec()
}

/// Appends `entry` to `log` and proves it in a freshly cosigned checkpoint.
fn publish(log: &mut MemoryLog, entry: &[u8]) -> pb::IncludedLeaf {
    let index = log.append(entry);
    log.append(&filler(index as u8));
    let note = log.cosigned(&[(1, COSIGNED_AT), (2, COSIGNED_AT), (3, COSIGNED_AT)]);
    log.included(index, &note)
}

impl World {
    pub(super) fn new() -> World {
        let mut alpha = MemoryLog::new("alpha.test", 1);
        let mut beta = MemoryLog::new("beta.test", 2);
        alpha.append(&filler(1));
        beta.append(&filler(2));
        let mut bob_keys = MemoryPrekeys::new(7);
        let bob_prekey = bob_keys.insert(0, PrekeyKind::Fallback, BOB_FALLBACK_SECRET);
        let alice_entry = binding_entry(&alpha, &alice_key(), ALICE, [9; 32]);
        let alice_binding = publish(&mut alpha, &alice_entry);
        let bob_entry = binding_entry(&beta, &bob_key(), BOB, bob_prekey);
        let bob_binding = publish(&mut beta, &bob_entry);
        World {
            alpha,
            beta,
            alice_binding,
            bob_binding,
            bob_keys,
        }
    }

    pub(super) fn alpha_trust(&self) -> LogTrust {
        self.alpha.trust(2)
    }

    pub(super) fn beta_trust(&self) -> LogTrust {
        self.beta.trust(2)
    }

    /// Alice's binding, as Bob verifies it.
    pub(super) fn alice(&self) -> VerifiedBinding {
        verify_binding(&self.alpha_trust(), &self.alice_binding, NOW, SKEW).unwrap()
    }

    /// Logs a revocation of `account`'s key `ik` in its domain's log; the proven leaf.
    pub(super) fn revoke(&mut self, account: &str, ik: &SigningKey) -> pb::IncludedLeaf {
        let log = if account == BOB {
            &mut self.beta
        } else {
            &mut self.alpha
        };
        let entry = IdentityRevocation {
            account: account.into(),
            identity_key: ik.verifying_key().to_bytes(),
            revoked_at: NOW - 100,
        }
        .sign(&log.key)
        .encode_to_vec();
        publish(log, &entry)
    }

    pub(super) fn verified_revocation(&self, leaf: &pb::IncludedLeaf) -> VerifiedRevocation {
        verify_revocation(&self.alpha_trust(), leaf, NOW, SKEW)
            .or_else(|_| verify_revocation(&self.beta_trust(), leaf, NOW, SKEW))
            .unwrap()
    }

    /// Bob uploads `n` one-time prekeys (created in his store, signed with his IK).
    pub(super) fn upload(&mut self, n: usize) -> pb::PrekeyUpload {
        prekey_upload(BOB, &bob_key(), &mut self.bob_keys, n, false).unwrap()
    }

    /// Bob's gateway handing out `prekey` with his binding (and `revocations`).
    pub(super) fn bundle(
        &self,
        prekey: pb::SignedPrekey,
        revocations: Vec<pb::IncludedLeaf>,
    ) -> pb::PrekeyBundle {
        pb::PrekeyBundle {
            prekey: Some(prekey),
            binding: Some(pb::BindingAnswer {
                binding: Some(self.bob_binding.clone()),
                revocations,
            }),
        }
    }

    /// Bob's fallback 0 as his gateway hands it out.
    pub(super) fn fallback_zero(&self) -> pb::SignedPrekey {
        let verified = verify_binding(&self.beta_trust(), &self.bob_binding, NOW, SKEW).unwrap();
        pb::SignedPrekey {
            kind: pb::PrekeyKind::Fallback as i32,
            id: 0,
            public_key: verified.signed_prekey().to_vec(),
            signature: vec![0; 64],
        }
    }

    /// A bundle of `prekey` for Bob, verified as Alice's client does.
    pub(super) fn verified(&self, prekey: pb::SignedPrekey) -> VerifiedPrekeyBundle {
        verify_prekey_bundle(
            &self.bundle(prekey, vec![]),
            BOB,
            &self.beta_trust(),
            NOW,
            SKEW,
        )
        .unwrap()
    }
}
