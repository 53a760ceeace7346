//! Certified mail for a [`HeraldAccount`], over the light client's `CertMail` driver (proto's
//! sender and recipient machines; DESIGN §3.3). The four steps, with what the app carries
//! between the parties (as bytes, by any channel):
//! 1. A: [`HeraldAccount::send_certified`] seals the letter → `sealed` to B.
//! 2. B: [`HeraldAccount::request_key`] signs a key request (deadline T, location X) →
//!    `request` to A.
//! 3. A: [`HeraldAccount::accept_request`] looks B's identity binding up in B's domain log and
//!    checks the request; [`HeraldAccount::publish`] publishes the key at X and waits for a
//!    quorum of X's witnesses → the evidence bundle.
//! 4. B: [`HeraldAccount::fetch`] finds the key at X, checks it, decrypts.
//!
//! Every decision is the driver's and proto's; this file bounds the inputs, picks the log and
//! gateway of each step from the configuration, and converts the results.

use herald_light_client::Polling;
use herald_light_client::certmail::{
    Delivery, Letter, RequestTerms, SenderConfig, SenderPolicy, SenderStep, decode_request,
    decode_sealed,
};
use herald_proto::wire::{
    MAX_CM_PLAINTEXT_BYTES, MAX_KEY_REQUEST_BYTES, MAX_MSG_ID_BYTES, MAX_SEALED_MESSAGE_BYTES,
};

use crate::account::{HeraldAccount, check_len};
use crate::client::{ClientState, check_account, lookup, unix_now};
use crate::config::MAX_TIMEOUT_SECS;
use crate::error::HeraldError;
use crate::runtime::guard;

/// A sealed letter (step (a)).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SealedMail {
    /// The mail's id (random, 16 bytes).
    pub msg_id: Vec<u8>,
    /// The encoded `SealedMessage`, for the recipient.
    pub sealed: Vec<u8>,
}

/// A signed key request (step (b)).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct KeyRequest {
    /// req_hash: what the publication is looked up by (32 bytes).
    pub req_hash: Vec<u8>,
    /// The encoded `SignedKeyRequest`, for the sender.
    pub request: Vec<u8>,
    /// X's origin: where the key is to be published.
    pub origin: String,
    /// Just after T + δ: without the key by then the mail is undelivered (Unix seconds).
    pub wake_at: u64,
    /// The sender's identity key, if the sender signed the sealed message.
    pub sender_key: Option<Vec<u8>>,
}

/// A request the sender accepted (step (b) on A's side).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct AcceptedRequest {
    /// The mail.
    pub msg_id: Vec<u8>,
    /// The request (32 bytes).
    pub req_hash: Vec<u8>,
    /// X's origin, where [`HeraldAccount::publish`] publishes.
    pub origin: String,
}

/// How a publication ended.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum PublishOutcome {
    /// Proven: the evidence bundle (the file an arbiter judges; also kept, see
    /// [`HeraldAccount::evidence`]).
    Proven {
        /// The bundle's bytes.
        evidence: Vec<u8>,
    },
    /// No quorum of X's witnesses cosigned the publication by T + δ: nothing is proven.
    Lapsed,
}

/// How the key reached the recipient.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum KeyDelivery {
    /// Published at X at this index; `on_time` if a quorum cosigned it by T + δ.
    Published {
        /// The leaf's index in X's log.
        index: u64,
        /// Whether in time (otherwise an arbiter would not count it).
        on_time: bool,
    },
    /// Sent directly (optimistic variant).
    Direct,
}

/// The opened letter (step (d)).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct OpenedMail {
    /// The request answered.
    pub req_hash: Vec<u8>,
    /// M.
    pub plaintext: Vec<u8>,
    /// How the key came.
    pub delivery: KeyDelivery,
    /// Whether M meets the request's expectation (true when there was none).
    pub expectation_met: bool,
}

/// Latest deadline a request may set, seconds from now.
const MAX_DEADLINE_SECS: u64 = 366 * 86_400;

fn check_deadline(deadline: u64, now: u64) -> Result<(), HeraldError> {
    if deadline <= now || deadline - now > MAX_DEADLINE_SECS {
        return Err(HeraldError::bad_input(format!(
            "deadline: after now ({now}) and at most {MAX_DEADLINE_SECS} s ahead"
        )));
    }
    Ok(())
}

fn req_hash32(req_hash: &[u8]) -> Result<[u8; 32], HeraldError> {
    req_hash
        .try_into()
        .map_err(|_| HeraldError::bad_input(format!("req_hash: {} bytes, not 32", req_hash.len())))
}

fn polling(wait_secs: u64) -> Result<Polling, HeraldError> {
    if wait_secs == 0 || wait_secs > MAX_TIMEOUT_SECS {
        return Err(HeraldError::bad_input(format!(
            "wait_secs: 1 to {MAX_TIMEOUT_SECS}"
        )));
    }
    Ok(Polling {
        until: unix_now().saturating_add(wait_secs),
        min_interval: std::time::Duration::from_millis(100),
        max_interval: std::time::Duration::from_secs(2),
    })
}

fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

#[uniffi::export]
impl HeraldAccount {
    /// Step (a): seals `plaintext` for `recipient` under a fresh key K (signed by IK if `sign`).
    pub async fn send_certified(
        &self,
        recipient: String,
        plaintext: Vec<u8>,
        sign: bool,
    ) -> Result<SealedMail, HeraldError> {
        guard(|| {
            check_account(&recipient)?;
            check_len("plaintext", &plaintext, MAX_CM_PLAINTEXT_BYTES)
        })?;
        self.with_mail(None, move |_, mail| {
            Box::pin(async move {
                let letter = Letter {
                    recipient,
                    plaintext,
                    sign,
                };
                let (msg_id, steps) = mail.send(letter, &mut os_rng())?;
                let sealed = SenderStep::sealed_in(&steps)
                    .ok_or_else(|| HeraldError::internal("the sender gave no sealed message"))?;
                Ok(SealedMail {
                    msg_id,
                    sealed: sealed.to_vec(),
                })
            })
        })
        .await
    }

    /// Step (b): checks `sealed` is for this account and signs a request for its key, to be
    /// published at `location` (an origin of the configured logs; default: the sender's domain
    /// log, where the sender publishes) by `deadline` (Unix seconds).
    pub async fn request_key(
        &self,
        sealed: Vec<u8>,
        deadline: u64,
        location: Option<String>,
    ) -> Result<KeyRequest, HeraldError> {
        guard(|| {
            check_len("sealed", &sealed, MAX_SEALED_MESSAGE_BYTES)?;
            check_deadline(deadline, unix_now())
        })?;
        self.with_mail(None, move |client, mail| {
            Box::pin(async move {
                let origin = match location {
                    Some(origin) => origin,
                    None => {
                        let sender = decode_sealed(&sealed)?.sender;
                        client.domain_log(&sender)?
                    }
                };
                let terms = RequestTerms {
                    deadline,
                    location: client.config.log(&origin)?.location.clone(),
                    expect: None,
                };
                let made = mail.request(&sealed, terms, unix_now(), &mut os_rng())?;
                Ok(KeyRequest {
                    req_hash: made.req_hash.to_vec(),
                    request: made.request,
                    origin: made.origin,
                    wake_at: made.wake_at,
                    sender_key: made.sender_key.map(|k| k.to_vec()),
                })
            })
        })
        .await
    }

    /// Step (b) on the sender's side: looks the recipient's identity binding up in its domain's
    /// log, then checks `request` against the sealed mail, that binding, and this client's
    /// policy (deadline, location: the home log). Accepted, the key is due to be published.
    pub async fn accept_request(&self, request: Vec<u8>) -> Result<AcceptedRequest, HeraldError> {
        guard(|| check_len("request", &request, MAX_KEY_REQUEST_BYTES))?;
        self.with_mail(None, move |client, mail| {
            Box::pin(async move {
                let signed = decode_request(&request)?;
                let recipient = signed
                    .request
                    .as_ref()
                    .map(|r| r.recipient.clone())
                    .unwrap_or_default();
                let domain = client.domain_log(&recipient)?;
                let binding = lookup(client, &domain, &recipient).await?;
                let config = sender_config(client);
                let steps = mail.accept(
                    &request,
                    binding.material(),
                    &config,
                    unix_now(),
                    &mut os_rng(),
                )?;
                let (req_hash, _) = SenderStep::publication_in(&steps)
                    .ok_or_else(|| HeraldError::internal("accepted, but nothing to publish"))?;
                let msg_id = mail.msg_id_of(req_hash)?;
                let origin = mail.sent_request(&msg_id)?.location().origin().to_owned();
                Ok(AcceptedRequest {
                    msg_id,
                    req_hash: req_hash.to_vec(),
                    origin,
                })
            })
        })
        .await
    }

    /// Step (c): publishes the key of the accepted mail `msg_id` at X and waits (at most
    /// `wait_secs`, never past T + δ) until a quorum of X's witnesses cosigned it. Cancel the
    /// call to stop waiting; publishing again later resumes.
    pub async fn publish(
        &self,
        msg_id: Vec<u8>,
        wait_secs: u64,
    ) -> Result<PublishOutcome, HeraldError> {
        let polling = guard(|| {
            check_len("msg_id", &msg_id, MAX_MSG_ID_BYTES)?;
            polling(wait_secs)
        })?;
        self.with_mail(None, move |client, mail| {
            Box::pin(async move {
                let origin = mail.sent_request(&msg_id)?.location().origin().to_owned();
                let gateway = client.gateway(client.config.log(&origin)?).await?;
                let steps = mail
                    .publish(gateway, &client.checkpoints, &msg_id, &polling)
                    .await?;
                if let Some(bundle) = SenderStep::evidence_in(&steps) {
                    return Ok(PublishOutcome::Proven {
                        evidence: bundle.to_vec(),
                    });
                }
                if steps.contains(&SenderStep::Lapsed) {
                    return Ok(PublishOutcome::Lapsed);
                }
                Err(HeraldError::internal(
                    "the publication ended with neither evidence nor a lapse",
                ))
            })
        })
        .await
    }

    /// Step (d): asks X's gateway for the key of the request `req_hash` until it is published
    /// in a checkpoint cosigned as X requires (at most `wait_secs`), checks it against the
    /// request and the key commitment, and decrypts. Cancel the call to stop waiting.
    pub async fn fetch(
        &self,
        req_hash: Vec<u8>,
        wait_secs: u64,
    ) -> Result<OpenedMail, HeraldError> {
        let (req_hash, polling) = guard(|| Ok((req_hash32(&req_hash)?, polling(wait_secs)?)))?;
        self.with_mail(None, move |client, mail| {
            Box::pin(async move {
                let origin = mail
                    .stored_request(&req_hash)?
                    .location()
                    .origin()
                    .to_owned();
                let gateway = client.gateway(client.config.log(&origin)?).await?;
                let opened = mail
                    .fetch(&gateway, &req_hash, &client.checkpoints, &polling)
                    .await?;
                Ok(OpenedMail {
                    req_hash: opened.req_hash.to_vec(),
                    plaintext: opened.plaintext,
                    delivery: match opened.delivery {
                        Delivery::Published { index, on_time } => {
                            KeyDelivery::Published { index, on_time }
                        }
                        Delivery::Direct { .. } => KeyDelivery::Direct,
                    },
                    expectation_met: opened.expectation_met,
                })
            })
        })
        .await
    }

    /// The evidence bundle of the finished mail `msg_id` (the file an arbiter judges).
    pub async fn evidence(&self, msg_id: Vec<u8>) -> Result<Vec<u8>, HeraldError> {
        guard(|| check_len("msg_id", &msg_id, MAX_MSG_ID_BYTES))?;
        self.with_mail(None, move |_, mail| {
            Box::pin(async move { Ok(mail.evidence(&msg_id)?) })
        })
        .await
    }

    /// Forgets the request `req_hash` (its secret and record) once the plaintext is kept.
    pub async fn forget_request(&self, req_hash: Vec<u8>) -> Result<(), HeraldError> {
        let req_hash = guard(|| req_hash32(&req_hash))?;
        self.with_mail(None, move |_, mail| {
            Box::pin(async move { Ok(mail.forget_request(&req_hash)?) })
        })
        .await
    }
}

/// What this client accepts as a sender: publishing at its home log, with the configured
/// timing, checking recipients' bindings in every configured log.
fn sender_config(client: &ClientState) -> SenderConfig {
    let policy = &client.config.policy;
    SenderConfig {
        policy: SenderPolicy {
            locations: vec![client.config.home().location.clone()],
            witness_period: policy.witness_period_secs,
            margin: policy.margin_secs,
            max_wait: policy.max_wait_secs,
            max_clock_skew: client.config.max_clock_skew,
            optimistic: false,
        },
        recipient_domains: client.config.logs.iter().map(|l| l.trust.clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::tests::{bad_input, block_on, offline_client};

    #[test]
    fn step_inputs_out_of_bounds_are_refused() {
        let now = 1_700_000_000;
        bad_input(check_deadline(now, now));
        bad_input(check_deadline(now + MAX_DEADLINE_SECS + 1, now));
        assert!(check_deadline(now + 60, now).is_ok());
        bad_input(req_hash32(&[0; 31]));
        bad_input(polling(0));
        bad_input(polling(MAX_TIMEOUT_SECS + 1));
    }

    #[test]
    fn a_letter_is_sealed_offline_and_steps_that_do_not_apply_are_refused() {
        let (_dir, client) = offline_client();
        let alice = block_on(client.create_account(
            "alice@d0.test".into(),
            "a passphrase of enough words".into(),
        ))
        .unwrap();
        bad_input(block_on(alice.send_certified(
            "bob@d1.test".into(),
            vec![],
            true,
        )));
        bad_input(block_on(alice.send_certified(
            "nobody".into(),
            b"hi".to_vec(),
            true,
        )));
        // Step (a) needs no network.
        let sealed =
            block_on(alice.send_certified("bob@d1.test".into(), b"hello".to_vec(), true)).unwrap();
        assert_eq!(sealed.msg_id.len(), 16);
        // The sealed mail is Bob's, not Alice's to request; it is not accepted yet, so there is
        // nothing to publish; no evidence exists for it; garbage is no request; nothing was
        // requested under this req_hash. None of it reaches the network.
        let deadline = unix_now() + 60;
        bad_input(block_on(alice.request_key(
            sealed.sealed.clone(),
            deadline,
            None,
        )));
        bad_input(block_on(alice.request_key(sealed.sealed.clone(), 1, None)));
        bad_input(block_on(alice.publish(sealed.msg_id.clone(), 5)));
        bad_input(block_on(alice.evidence(sealed.msg_id.clone())));
        bad_input(block_on(
            alice.accept_request(b"\xffnot a request".to_vec()),
        ));
        bad_input(block_on(alice.fetch(vec![7; 32], 5)));
        assert_eq!(client.operations_in_flight(), 0);
    }
}
