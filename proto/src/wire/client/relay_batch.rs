//! Relays in batches (`client.proto` `RelayMails`, `RelaysAccepted`; issue 12 §7): S_A sends
//! the mails due for one registered peer in one request instead of one `relay_mail` each, and
//! S_B answers each relay on its own (`RelayOutcome`), exactly as it would answer a
//! `relay_mail` of it — taken only once durable in the mailbox (or held already: idempotent by
//! msg_id), or refused with the same error. One request per batch instead of one per mail: the
//! relay's throughput is no longer the number of streams a connection carries divided by S_B's
//! round, and each relay still waits for S_B's flush and evidence round, shared by the batch.
//!
//! | message | limit | reason |
//! |---|---|---|
//! | `RelayMails.relays` | [`MAX_RELAYS_PER_REQUEST`], and the request bound | one answer; the rest in the next |
//! | `RelaysAccepted.outcomes` | one per relay, in order ([`expect_relays_accepted`]) | each relay accounted for once |

use super::answer::{AnswerError, expect, mismatch};
use crate::wire::pb::{self, client_request, client_response};
use crate::wire::validate::sized;
use crate::wire::{MAX_ERROR_MESSAGE_BYTES, MAX_MSG_ID_BYTES, WireError};

/// Most relays in one `RelayMails`.
pub const MAX_RELAYS_PER_REQUEST: usize = 64;

/// The bounds of a batch of relays: 1 to [`MAX_RELAYS_PER_REQUEST`], each a valid relay.
pub(super) fn validate_relay_mails(batch: &pb::RelayMails) -> Result<(), WireError> {
    if batch.relays.is_empty() || batch.relays.len() > MAX_RELAYS_PER_REQUEST {
        return Err(WireError::TooManyElements {
            field: "RelayMails.relays",
            count: batch.relays.len(),
            max: MAX_RELAYS_PER_REQUEST,
        });
    }
    batch
        .relays
        .iter()
        .try_for_each(pb::RelayEnvelope::validate_fields)
}

/// The bounds of the answer to a batch: at most [`MAX_RELAYS_PER_REQUEST`] outcomes, each
/// naming a msg_id, a refusal valid as any.
pub(super) fn validate_relays_accepted(answer: &pb::RelaysAccepted) -> Result<(), WireError> {
    if answer.outcomes.len() > MAX_RELAYS_PER_REQUEST {
        return Err(WireError::TooManyElements {
            field: "RelaysAccepted.outcomes",
            count: answer.outcomes.len(),
            max: MAX_RELAYS_PER_REQUEST,
        });
    }
    for outcome in &answer.outcomes {
        sized(
            "RelayOutcome.msg_id",
            outcome.msg_id.len(),
            1,
            MAX_MSG_ID_BYTES,
        )?;
        if let Some(refused) = &outcome.refused {
            refused.validate_fields(MAX_ERROR_MESSAGE_BYTES)?;
        }
    }
    Ok(())
}

impl pb::ClientRequest {
    /// The relays `relays` (each made by `paep::sign_relay`) in one request.
    pub fn relay_mails(relays: Vec<pb::RelayEnvelope>) -> Self {
        Self::of(client_request::Request::RelayMails(pb::RelayMails {
            relays,
        }))
    }
}

impl pb::RelayOutcome {
    /// A relay taken (stored now, or held already when `duplicate`).
    pub fn accepted(accepted: pb::RelayAccepted) -> Self {
        pb::RelayOutcome {
            msg_id: accepted.msg_id,
            duplicate: accepted.duplicate,
            refused: None,
        }
    }

    /// A relay of `msg_id` refused with `error`.
    pub fn refused(msg_id: Vec<u8>, error: pb::ClientError) -> Self {
        pb::RelayOutcome {
            msg_id,
            duplicate: false,
            refused: Some(error),
        }
    }
}

/// The answer to [`pb::ClientRequest::relay_mails`] for relays of `msg_ids` (in the order
/// sent): each relay's acceptance or refusal, in that order. An answer that leaves out a
/// relay, adds one or answers them in another order is refused whole.
pub fn expect_relays_accepted(
    response: pb::ClientResponse,
    msg_ids: &[&[u8]],
) -> Result<Vec<Result<pb::RelayAccepted, pb::ClientError>>, AnswerError> {
    let answer = expect(response, "relay_mails", |r| match r {
        client_response::Response::RelaysAccepted(a) => Ok(a),
        other => Err(Box::new(other)),
    })?;
    if answer.outcomes.len() != msg_ids.len() {
        return Err(mismatch(
            "relay outcomes",
            msg_ids.len(),
            answer.outcomes.len(),
        ));
    }
    answer
        .outcomes
        .into_iter()
        .zip(msg_ids)
        .map(|(outcome, &asked)| {
            if outcome.msg_id != asked {
                return Err(mismatch(
                    "relayed msg_id",
                    format!("{asked:02x?}"),
                    format!("{:02x?}", outcome.msg_id),
                ));
            }
            Ok(match outcome.refused {
                Some(error) => Err(error),
                None => Ok(pb::RelayAccepted {
                    msg_id: outcome.msg_id,
                    duplicate: outcome.duplicate,
                }),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Validate as _;

    fn relay(msg_id: &[u8]) -> pb::RelayEnvelope {
        pb::RelayEnvelope {
            from_domain: "alpha.test".into(),
            to_domain: "beta.test".into(),
            expires_at: 5000,
            envelope: Some(pb::MailEnvelope {
                msg_id: msg_id.to_vec(),
                sender: "alice@alpha.test".into(),
                recipient: "bob@beta.test".into(),
                ephemeral_key: vec![9; 32],
                prekey_id: 1,
                ciphertext: vec![0x5a; 32],
                sender_signature: vec![2; 64],
            }),
            gateway_signature: vec![1; 64],
        }
    }

    fn answer(outcomes: Vec<pb::RelayOutcome>) -> pb::ClientResponse {
        pb::ClientResponse {
            response: Some(client_response::Response::RelaysAccepted(
                pb::RelaysAccepted { outcomes },
            )),
        }
    }

    #[test]
    fn a_batch_holds_one_to_the_bound_of_valid_relays() {
        let ok = pb::ClientRequest::relay_mails(vec![relay(b"m-1"), relay(b"m-2")]);
        ok.validate().unwrap();
        assert!(pb::ClientRequest::relay_mails(vec![]).validate().is_err());
        let over = vec![relay(b"m"); MAX_RELAYS_PER_REQUEST + 1];
        assert!(pb::ClientRequest::relay_mails(over).validate().is_err());
        let mut bad = relay(b"m-3");
        bad.gateway_signature.pop();
        assert!(
            pb::ClientRequest::relay_mails(vec![relay(b"m-1"), bad])
                .validate()
                .is_err(),
            "one bad relay refuses the batch"
        );
    }

    #[test]
    fn each_relay_is_answered_on_its_own_in_the_order_sent() {
        let refusal = pb::ClientError {
            kind: pb::ClientErrorKind::NotFound as i32,
            message: "no active account".into(),
            ..pb::ClientError::default()
        };
        let outcomes = vec![
            pb::RelayOutcome::accepted(pb::RelayAccepted {
                msg_id: b"m-1".to_vec(),
                duplicate: false,
            }),
            pb::RelayOutcome::refused(b"m-2".to_vec(), refusal.clone()),
            pb::RelayOutcome::accepted(pb::RelayAccepted {
                msg_id: b"m-3".to_vec(),
                duplicate: true,
            }),
        ];
        answer(outcomes.clone()).validate().unwrap();
        let got =
            expect_relays_accepted(answer(outcomes.clone()), &[b"m-1", b"m-2", b"m-3"]).unwrap();
        assert_eq!(got[0].as_ref().map(|a| a.duplicate), Ok(false));
        assert_eq!(got[1], Err(refusal));
        assert_eq!(got[2].as_ref().map(|a| a.duplicate), Ok(true));
        // One left out, one added, two swapped: refused whole.
        for (what, asked) in [
            ("one left out", &[&b"m-1"[..], b"m-2", b"m-3", b"m-4"][..]),
            ("one added", &[&b"m-1"[..], b"m-2"][..]),
            ("two swapped", &[&b"m-2"[..], b"m-1", b"m-3"][..]),
        ] {
            assert!(
                matches!(
                    expect_relays_accepted(answer(outcomes.clone()), asked),
                    Err(AnswerError::Mismatch { .. })
                ),
                "{what}"
            );
        }
        // A refusal of the whole request is the request's.
        let whole = pb::ClientResponse::refusal(pb::ClientErrorKind::Forbidden, "unregistered");
        assert!(matches!(
            expect_relays_accepted(whole, &[b"m-1"]),
            Err(AnswerError::Refused(_))
        ));
    }
}
