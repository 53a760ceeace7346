//! The client's (prover's) side of the login: one state, [`AwaitingChallenge`].

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::super::LoginError;
use super::super::channel::Role;
use super::super::password::ProverSecrets;
use super::super::spake2plus::{
    KeySchedule, LoginContext, confirmation_matches, decode_share, prover_shared, share_p,
    transcript,
};
use super::super::suite::Ciphersuite;
use super::{LoggedIn, SessionKey, check_deadline, deadline};
use crate::wire::pb;

/// The client sent shareP = X and waits for the gateway's shareV and confirmV.
pub struct AwaitingChallenge<S: Ciphersuite> {
    context: LoginContext,
    secrets: ProverSecrets<S>,
    x: Zeroizing<S::Scalar>,
    /// X as sent (the transcript and confirmV cover exactly these bytes).
    share_p: Vec<u8>,
    deadline: u64,
}

impl<S: Ciphersuite> core::fmt::Debug for AwaitingChallenge<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AwaitingChallenge")
            .field("account", &self.context.id_prover())
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl<S: Ciphersuite> AwaitingChallenge<S> {
    /// Starts a login with a fresh x: returns the state and message 1 (`LoginShare`) to send.
    pub fn start(
        context: LoginContext,
        secrets: ProverSecrets<S>,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> (Self, pb::LoginShare) {
        let x = S::random_scalar(rng);
        Self::with_ephemeral(context, secrets, x, now)
    }

    /// As [`Self::start`] with a given x (the RFC's vectors fix it).
    pub(in crate::paep) fn with_ephemeral(
        context: LoginContext,
        secrets: ProverSecrets<S>,
        x: S::Scalar,
        now: u64,
    ) -> (Self, pb::LoginShare) {
        let x = Zeroizing::new(x);
        let share = S::encode_element(&share_p::<S>(secrets.w0(), &x));
        let message = pb::LoginShare {
            account: context.id_prover().to_owned(),
            share_p: share.clone(),
        };
        let state = AwaitingChallenge {
            context,
            secrets,
            x,
            share_p: share,
            deadline: deadline(now),
        };
        (state, message)
    }

    /// Message 2 arrived: checks shareV and confirmV, and only if both hold returns the
    /// finished login with message 3 (`LoginConfirm`) to send. Anything wrong ends the attempt.
    pub fn handle(
        self,
        challenge: &pb::LoginChallenge,
        now: u64,
    ) -> Result<(LoggedIn, pb::LoginConfirm), LoginError> {
        check_deadline(self.deadline, now)?;
        let y = decode_share::<S>(&challenge.share_v, "shareV")?;
        let w0 = self.secrets.w0();
        let (z, v) = prover_shared::<S>(w0, self.secrets.w1(), &self.x, &y)?;
        let tt = transcript::<S>(&self.context, &self.share_p, &challenge.share_v, &z, &v, w0);
        let keys = KeySchedule::derive::<S>(&tt);
        // The gateway's confirmation first (RFC 9383 §3.4): a gateway that does not hold this
        // account's (w0, L) learns nothing more from us than one online guess.
        let expected = keys.confirm_v::<S>(&self.share_p);
        if !confirmation_matches(&expected, &challenge.confirm_v) {
            return Err(LoginError::BadConfirmation { what: "confirmV" });
        }
        let confirm = pb::LoginConfirm {
            confirm_p: keys.confirm_p::<S>(&challenge.share_v),
        };
        let key = SessionKey::new(keys.k_shared.clone());
        let logged_in = LoggedIn::new(
            Role::Client,
            self.context.id_prover(),
            self.context.id_verifier(),
            key,
        );
        Ok((logged_in, confirm))
    }
}
