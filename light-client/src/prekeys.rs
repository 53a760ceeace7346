//! Prekeys on the client (DESIGN §3.2): keeping the account's one-time prekeys topped up at its
//! gateway, and fetching another account's prekey to write to it.
//!
//! - **Upload** ([`Session::upload_prekeys`], [`Session::top_up_prekeys`]): the key store creates
//!   the prekeys inside itself and signs them with IK (proto's `card_prekey_upload` over the
//!   store, the IC card); the upload travels in the session and is answered, once durable, with
//!   how many one-time prekeys the gateway holds. A refused upload's secrets are erased again, so
//!   the store keeps only prekeys the gateway has.
//! - **Status** ([`Session::prekey_status`]): how many remain, and whether the fallback was used
//!   (then a top-up also uploads a new fallback).
//! - **Fetch** ([`fetch_prekey_bundle`]): a sender asks the recipient's own gateway (public; no
//!   session) for one prekey, and accepts it only as proto's `VerifiedPrekeyBundle`: the
//!   recipient's binding proven in a cosigned checkpoint of the recipient domain's log, for that
//!   account, not revoked, and the prekey signed by the bound IK.

use herald_proto::inclusion::LogTrust;
use herald_proto::paep::{VerifiedPrekeyBundle, card_prekey_upload, verify_prekey_bundle};
use herald_proto::wire::MAX_PREKEYS_PER_UPLOAD;
use herald_proto::wire::client::{AnswerError, expect_prekey_status};
use herald_proto::wire::pb::{self, session_request};

use crate::gateway::Gateway;
use crate::keystore::{Card, SecureKeyStore};
use crate::session::{Session, SessionError, SessionStore, answer_error};

/// How many one-time prekeys a top-up keeps at the gateway unless told otherwise.
pub const DEFAULT_PREKEY_TARGET: usize = 100;

/// What a top-up did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopUp {
    /// One-time prekeys uploaded.
    pub uploaded: usize,
    /// Whether a new fallback prekey was uploaded (the old one had been handed out).
    pub new_fallback: bool,
    /// The gateway's count after the top-up.
    pub status: pb::PrekeyStatus,
}

impl<S: SessionStore> Session<S> {
    /// How many prekeys the gateway holds for the account.
    pub async fn prekey_status<G: Gateway>(
        &mut self,
        gateway: &G,
    ) -> Result<pb::PrekeyStatus, SessionError> {
        let request = pb::SessionRequest {
            request: Some(session_request::Request::PrekeyStatus(
                pb::PrekeyStatusRequest {},
            )),
        };
        let response = self.request(gateway, &request).await?;
        expect_prekey_status(response).map_err(answer_error)
    }

    /// Creates `one_time` prekeys (at most `wire::MAX_PREKEYS_PER_UPLOAD`), and a new fallback
    /// if asked, inside `keys`, and uploads them signed by IK. If the gateway refuses the upload
    /// their secrets are erased again.
    pub async fn upload_prekeys<G: Gateway, K: SecureKeyStore>(
        &mut self,
        gateway: &G,
        keys: &mut K,
        one_time: usize,
        fallback: bool,
    ) -> Result<pb::PrekeyStatus, SessionError> {
        let upload = card_prekey_upload(self.account(), &mut Card(keys), one_time, fallback)?;
        let ids: Vec<u64> = upload
            .one_time
            .iter()
            .chain(upload.fallback.iter())
            .map(|p| p.id)
            .collect();
        let request = pb::SessionRequest {
            request: Some(session_request::Request::PrekeyUpload(upload)),
        };
        let response = self.request(gateway, &request).await?;
        match expect_prekey_status(response) {
            Ok(status) => Ok(status),
            Err(e @ AnswerError::Refused(_)) => {
                // Not stored by the gateway: never handed out, so never needed.
                for id in ids {
                    keys.erase_prekey(id)?;
                }
                Err(answer_error(e))
            }
            Err(e) => Err(answer_error(e)),
        }
    }

    /// Tops the gateway's one-time prekeys up to `target` (in uploads of at most
    /// `wire::MAX_PREKEYS_PER_UPLOAD`), with a new fallback if the gateway has handed the old one
    /// out.
    pub async fn top_up_prekeys<G: Gateway, K: SecureKeyStore>(
        &mut self,
        gateway: &G,
        keys: &mut K,
        target: usize,
    ) -> Result<TopUp, SessionError> {
        let mut status = self.prekey_status(gateway).await?;
        let new_fallback = status.fallback_used;
        let held = usize::try_from(status.one_time_remaining).unwrap_or(usize::MAX);
        let mut missing = target.saturating_sub(held);
        let mut fallback_pending = new_fallback;
        let mut uploaded = 0;
        while missing > 0 || fallback_pending {
            let batch = missing.min(MAX_PREKEYS_PER_UPLOAD);
            status = self
                .upload_prekeys(gateway, keys, batch, fallback_pending)
                .await?;
            uploaded += batch;
            missing -= batch;
            fallback_pending = false;
        }
        Ok(TopUp {
            uploaded,
            new_fallback,
            status,
        })
    }
}

/// Fetches one prekey of `account` from its own gateway and verifies it against `trust`, the
/// log of the account's domain, at `now` (cosignatures up to `max_skew` ahead count): the
/// binding is proven, names `account`, is not revoked, and the prekey is signed by the bound
/// key. Anything else is refused, and the prekey is not used.
pub async fn fetch_prekey_bundle<G: Gateway>(
    gateway: &G,
    account: &str,
    trust: &LogTrust,
    now: u64,
    max_skew: u64,
) -> Result<VerifiedPrekeyBundle, SessionError> {
    let bundle = gateway.prekey_bundle(account).await?;
    Ok(verify_prekey_bundle(
        &bundle, account, trust, now, max_skew,
    )?)
}
