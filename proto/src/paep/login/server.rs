//! The gateway's (verifier's) side of the login: [`ServerStart`], then [`AwaitingConfirm`].
//!
//! The gateway's work per login is the server-side cost the benchmark measures: one fixed-base
//! and one table multiplication for Y, one table multiplication for `w0·M`, two variable-base
//! multiplications for Z and V, and hashing. For an unknown account the gateway runs exactly
//! this code on a fake record ([`super::super::FakeRecords`]).

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::super::LoginError;
use super::super::channel::Role;
use super::super::password::VerifierRecord;
use super::super::spake2plus::{
    KeySchedule, LoginContext, confirmation_matches, decode_share, share_v, transcript,
    verifier_shared,
};
use super::super::suite::Ciphersuite;
use super::{LoggedIn, SessionKey, check_deadline, deadline};
use crate::wire::pb;

/// The gateway has the account's record and waits for message 1.
pub struct ServerStart<S: Ciphersuite> {
    context: LoginContext,
    record: VerifierRecord<S>,
}

impl<S: Ciphersuite> core::fmt::Debug for ServerStart<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ServerStart")
            .field("account", &self.context.id_prover())
            .finish_non_exhaustive()
    }
}

impl<S: Ciphersuite> ServerStart<S> {
    /// Ready to answer a login of `context`'s account with its registration record (or, for an
    /// unknown account, a fake one).
    pub fn new(context: LoginContext, record: VerifierRecord<S>) -> Self {
        ServerStart { context, record }
    }

    /// Message 1 arrived: checks shareP, draws y, and answers with message 2 (shareV and
    /// confirmV). The session key exists from here but is released only by
    /// [`AwaitingConfirm::handle`].
    pub fn handle(
        self,
        share: &pb::LoginShare,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(AwaitingConfirm, pb::LoginChallenge), LoginError> {
        let y = S::random_scalar(rng);
        self.respond(share, y, now)
    }

    /// As [`Self::handle`] with a given y (the RFC's vectors fix it).
    pub(in crate::paep) fn respond(
        self,
        share: &pb::LoginShare,
        y: S::Scalar,
        now: u64,
    ) -> Result<(AwaitingConfirm, pb::LoginChallenge), LoginError> {
        let y = Zeroizing::new(y);
        if share.account != self.context.id_prover() {
            return Err(LoginError::WrongAccount);
        }
        let x = decode_share::<S>(&share.share_p, "shareP")?;
        let w0 = self.record.w0();
        let share_v = S::encode_element(&share_v::<S>(w0, &y));
        let (z, v) = verifier_shared::<S>(w0, self.record.l(), &y, &x)?;
        let tt = transcript::<S>(&self.context, &share.share_p, &share_v, &z, &v, w0);
        let keys = KeySchedule::derive::<S>(&tt);
        let challenge = pb::LoginChallenge {
            confirm_v: keys.confirm_v::<S>(&share.share_p),
            share_v: share_v.clone(),
        };
        let state = AwaitingConfirm {
            account: self.context.id_prover().to_owned(),
            verifier: self.context.id_verifier().to_owned(),
            expected: Zeroizing::new(keys.confirm_p::<S>(&share_v)),
            key: SessionKey::new(keys.k_shared.clone()),
            deadline: deadline(now),
        };
        Ok((state, challenge))
    }
}

/// The gateway answered and waits for the client's confirmP.
pub struct AwaitingConfirm {
    account: String,
    verifier: String,
    /// confirmP as an honest client computes it.
    expected: Zeroizing<Vec<u8>>,
    /// K_shared, held back until confirmP verifies.
    key: SessionKey,
    deadline: u64,
}

impl core::fmt::Debug for AwaitingConfirm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AwaitingConfirm")
            .field("account", &self.account)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl AwaitingConfirm {
    /// The account logging in.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Message 3 arrived: the login is complete if confirmP verifies (constant-time compare).
    pub fn handle(self, confirm: &pb::LoginConfirm, now: u64) -> Result<LoggedIn, LoginError> {
        check_deadline(self.deadline, now)?;
        if !confirmation_matches(&self.expected, &confirm.confirm_p) {
            return Err(LoginError::BadConfirmation { what: "confirmP" });
        }
        Ok(LoggedIn::new(
            Role::Server,
            &self.account,
            &self.verifier,
            self.key,
        ))
    }
}
