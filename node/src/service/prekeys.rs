//! Prekeys at the gateway (DESIGN §3.2): uploads and status inside a session, and the public
//! prekey bundle.
//!
//! - **Upload**: every prekey must verify under the account's bound IK (proto's
//!   `verify_prekey_upload`) before anything is stored; the book then refuses reused ids and
//!   more than `MAX_ONE_TIME_PREKEYS` per account, and answers once the upload is durable.
//! - **Bundle** (any sender may ask): the account's binding answer is fetched first (a prekey
//!   is not spent on an account whose binding cannot be shown), then one prekey is taken — a
//!   one-time prekey removed and flushed before it is answered, or when none is left the
//!   fallback, which is logged and counted. Fallback 0 is the binding's own prekey and
//!   signature.
//! - **Who is limited** ([`BundleAsker`]): an anonymous asker (`prekey_bundle` on the client
//!   protocol) at most [`BUNDLE_LIMIT`] per libp2p peer, then a growing back-off; a logged-in
//!   sender asking its own gateway (`mail_prekey`) the same limit per sending *account*, for
//!   local and remote recipients alike; a registered peer gateway relaying its senders'
//!   requests (`relay_prekey`) its own limit per peer, `relay_prekey_bundles_per_minute` from
//!   the configuration, since it speaks for all its accounts, each limited at that gateway
//!   (docs/decisions.md, "Prekey bundle limits").

use std::sync::Arc;
use std::time::Duration;

use herald_proto::paep::verify_prekey_upload;
use herald_proto::wire::pb::{self, log_entry};
use herald_proto::wire::{MAX_LOG_ENTRY_BYTES, decode};
use libp2p::PeerId;
use tracing::warn;

use super::paep::Paep;
use super::{Intake, Refusal};
use crate::accounts::attempts::Limit;
use crate::accounts::prekeys::{Handed, MAX_ONE_TIME_PREKEYS, PrekeyStoreError};
use crate::db::GroupWork;
use crate::metrics::KindLabel;

/// Prekey bundles one asker (an anonymous peer, or a logged-in sending account) may ask for
/// within a minute; then it is refused for a minute, doubling each time it asks too much again,
/// up to 15 minutes. Bounds how fast one asker can drain an account's one-time prekeys.
pub(super) const BUNDLE_LIMIT: Limit = Limit {
    max_failures: 30,
    window: Duration::from_secs(60),
    first_backoff: Duration::from_secs(60),
    max_backoff: Duration::from_secs(15 * 60),
};

/// The limit of one registered peer gateway: `per_minute` bundles, then [`BUNDLE_LIMIT`]'s
/// back-off.
pub(super) fn relay_bundle_limit(per_minute: u32) -> Limit {
    Limit {
        max_failures: per_minute.max(1),
        ..BUNDLE_LIMIT
    }
}

/// Who a prekey bundle is counted against (module docs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum BundleAsker {
    /// An anonymous asker on the client protocol.
    Peer(PeerId),
    /// A sending account logged in at this gateway.
    Account(String),
}

/// Prekey takes done in groups (`db::GroupWork`): each account's binding and then one prekey
/// of it, as `take_bundle` did in one blocking call each; the takes waiting while one group is
/// done form the next, on the same blocking thread, with one flush for the group
/// (`PrekeyBook::take_all`). Each asker is answered only after that flush, as before.
pub(super) type Takes = GroupWork<String, Result<(pb::BindingAnswer, Handed), Refusal>>;

/// The takes of the book behind `intake`.
pub(super) fn takes(intake: &Intake) -> Arc<Takes> {
    let intake = intake.clone();
    GroupWork::new(move |accounts: Vec<String>| {
        (intake.parts().prekeys).take_all(&accounts, |a| intake.binding_now(a), store_error)
    })
}

fn store_error(e: PrekeyStoreError) -> Refusal {
    match e {
        PrekeyStoreError::IdReused { id, .. } => Refusal::PrekeyIdReused { id },
        PrekeyStoreError::Full { .. } => Refusal::TooManyPrekeys {
            max: MAX_ONE_TIME_PREKEYS,
        },
        other => Refusal::Internal(other.to_string()),
    }
}

/// Fallback 0: the prekey and signature of the account's binding leaf.
fn binding_fallback(answer: &pb::BindingAnswer) -> Result<pb::SignedPrekey, Refusal> {
    let leaf = answer
        .binding
        .as_ref()
        .ok_or_else(|| Refusal::Internal("a binding answer without its binding".into()))?;
    let entry: pb::LogEntry = decode(&leaf.entry, MAX_LOG_ENTRY_BYTES)
        .map_err(|e| Refusal::Internal(format!("the binding leaf does not decode: {e}")))?;
    match entry.kind {
        Some(log_entry::Kind::IdentityBinding(b)) => Ok(pb::SignedPrekey {
            kind: pb::PrekeyKind::Fallback as i32,
            id: 0,
            public_key: b.signed_prekey,
            signature: b.signed_prekey_signature,
        }),
        _ => Err(Refusal::Internal(
            "the binding leaf is not an identity binding".into(),
        )),
    }
}

impl Paep {
    /// Stores an upload of `account` (bound to `identity_key`) once every prekey verifies.
    pub(super) async fn upload_prekeys(
        &self,
        account: &str,
        identity_key: &[u8; 32],
        upload: pb::PrekeyUpload,
    ) -> Result<pb::PrekeyStatus, Refusal> {
        verify_prekey_upload(&upload, account, identity_key).map_err(Refusal::BadPrekeys)?;
        let (book, account) = (self.prekeys().clone(), account.to_owned());
        tokio::task::spawn_blocking(move || book.store(&account, &upload).map_err(store_error))
            .await
            .map_err(|e| Refusal::Internal(format!("task failed: {e}")))?
    }

    /// How many prekeys the gateway holds for `account`.
    pub(super) async fn prekey_status(&self, account: &str) -> Result<pb::PrekeyStatus, Refusal> {
        let (book, account) = (self.prekeys().clone(), account.to_owned());
        tokio::task::spawn_blocking(move || book.status(&account).map_err(store_error))
            .await
            .map_err(|e| Refusal::Internal(format!("task failed: {e}")))?
    }

    /// One prekey of `account` for the anonymous asker `peer` (see the module docs).
    pub async fn prekey_bundle(
        &self,
        peer: PeerId,
        account: String,
    ) -> Result<pb::PrekeyBundle, Refusal> {
        self.prekey_bundle_for(BundleAsker::Peer(peer), account)
            .await
    }

    /// One prekey of `account` for the registered peer gateway `peer`, under the relay limit.
    pub(super) async fn relay_prekey_bundle(
        &self,
        peer: PeerId,
        account: String,
    ) -> Result<pb::PrekeyBundle, Refusal> {
        count_against(&self.inner.relay_bundles, &peer, self.now(), self)?;
        self.take_bundle(account).await
    }

    /// Counts one bundle against `asker`'s [`BUNDLE_LIMIT`]; the refusal once it is over.
    pub(super) fn limit_bundles(&self, asker: &BundleAsker) -> Result<(), Refusal> {
        count_against(&self.inner.bundles, asker, self.now(), self)
    }

    /// One prekey of `account` for `asker`, counted against its limit.
    pub(super) async fn prekey_bundle_for(
        &self,
        asker: BundleAsker,
        account: String,
    ) -> Result<pb::PrekeyBundle, Refusal> {
        self.limit_bundles(&asker)?;
        self.take_bundle(account).await
    }

    /// One prekey of `account` (module docs), the asker's limit already counted.
    async fn take_bundle(&self, account: String) -> Result<pb::PrekeyBundle, Refusal> {
        let metrics = &self.inner.metrics;
        if self
            .accounts()
            .active_key(&account)
            .ok()
            .flatten()
            .is_none()
        {
            return Err(Refusal::NotFound("no active account has this address"));
        }
        // The binding and the take in the next group of takes (`takes`); the binding first, so
        // a binding not yet cosigned (PENDING) consumes no prekey.
        let (binding, handed) = (self.inner.takes)
            .submit(account.clone())
            .await
            .map_err(|e| Refusal::Internal(format!("prekey takes: {e}")))??;
        let prekey = match handed {
            Handed::OneTime(p) => {
                crate::fault::reached(crate::fault::FaultPoint::PrekeyTaken);
                metrics
                    .prekeys_handed_out
                    .get_or_create(&KindLabel { kind: "one_time" })
                    .inc();
                p
            }
            fallback => {
                metrics
                    .prekeys_handed_out
                    .get_or_create(&KindLabel { kind: "fallback" })
                    .inc();
                warn!(
                    account,
                    "no one-time prekey left: handed out the fallback prekey (the account should top up)"
                );
                match fallback {
                    Handed::Fallback(p) => p,
                    _ => binding_fallback(&binding)?,
                }
            }
        };
        Ok(pb::PrekeyBundle {
            prekey: Some(prekey),
            binding: Some(binding),
        })
    }
}

/// Counts one bundle against `key` in `strikes`; refused (and counted) while it is blocked.
fn count_against<K: std::hash::Hash + Eq + Clone + std::fmt::Debug>(
    strikes: &std::sync::Mutex<crate::accounts::attempts::Strikes<K>>,
    key: &K,
    now: u64,
    paep: &Paep,
) -> Result<(), Refusal> {
    let mut asked = strikes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(retry_after) = asked.blocked(key, now) {
        paep.inner.metrics.prekey_bundles_limited.inc();
        return Err(Refusal::TooManyAttempts { retry_after });
    }
    if let Some(backoff) = asked.record_failure(key, now) {
        warn!(asker = ?key, ?backoff, "prekey bundles: an asker asked too often; refused for a while");
    }
    Ok(())
}
