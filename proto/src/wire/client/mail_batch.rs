//! Mail read in batches (`mail.proto` `FetchMails`, `AcknowledgeMails`; issue 12 §7): a reader
//! with a backlog fetches several mails in one session request, whose `Handover` records the
//! gateway writes in one evidence round, and acknowledges them in one more, instead of one
//! request (and one round) per mail. The bounds, the requests, and the checks that an answer is
//! the one asked for: every mail answered was asked for, and every id asked is accounted for
//! exactly once.
//!
//! | message | limit | reason |
//! |---|---|---|
//! | `FetchMails.ids`, `AcknowledgeMails.ids` | [`MAX_FETCH_MAILS`] | one answer; the rest in the next |
//! | `StoredMails.mails` together | [`MAX_FETCHED_MAILS_BYTES`] (the first mail always goes) | what the gateway buffers for one answer |

use std::collections::BTreeSet;

use super::AnswerError;
use super::session::expect_in_session;
use crate::wire::pb::{self, session_request, session_response};
use crate::wire::validate::sized;
use crate::wire::{MAX_ACCOUNT_BYTES, WireError};

/// Most accounts named by one `SenderBindingsRequest`.
pub const MAX_SENDER_BINDINGS: usize = 16;
/// The encoded size past which a gateway refuses the further binding answers of one
/// `SenderBindings` as BUSY (ask again; the first always goes).
pub const MAX_SENDER_BINDINGS_BYTES: usize = 512 * 1024;

/// Most mails named by one `FetchMails` or `AcknowledgeMails`.
pub const MAX_FETCH_MAILS: usize = 64;
/// The encoded size past which a gateway stops adding mails to one `StoredMails` answer (a
/// larger first mail is still answered alone).
pub const MAX_FETCHED_MAILS_BYTES: usize = 512 * 1024;

/// 1 to [`MAX_FETCH_MAILS`] ids, none twice.
fn ids(field: &'static str, ids: &[u64]) -> Result<(), WireError> {
    if ids.is_empty() || ids.len() > MAX_FETCH_MAILS {
        return Err(WireError::TooManyElements {
            field,
            count: ids.len(),
            max: MAX_FETCH_MAILS,
        });
    }
    let mut seen = BTreeSet::new();
    if ids.iter().all(|id| seen.insert(*id)) {
        Ok(())
    } else {
        Err(WireError::DuplicateElement { field })
    }
}

/// 1 to [`MAX_SENDER_BINDINGS`] accounts of 1 to `MAX_ACCOUNT_BYTES`, none twice.
fn accounts(accounts: &[String]) -> Result<(), WireError> {
    let field = "SenderBindingsRequest.accounts";
    if accounts.is_empty() || accounts.len() > MAX_SENDER_BINDINGS {
        return Err(WireError::TooManyElements {
            field,
            count: accounts.len(),
            max: MAX_SENDER_BINDINGS,
        });
    }
    let mut seen = BTreeSet::new();
    for a in accounts {
        sized(field, a.len(), 1, MAX_ACCOUNT_BYTES)?;
        if !seen.insert(a.as_str()) {
            return Err(WireError::DuplicateElement { field });
        }
    }
    Ok(())
}

/// The bounds of `FetchMails` and `AcknowledgeMails` (1 to [`MAX_FETCH_MAILS`] ids, none twice).
pub(super) fn validate_request(r: &session_request::Request) -> Result<(), WireError> {
    match r {
        session_request::Request::FetchMails(f) => ids("FetchMails.ids", &f.ids),
        session_request::Request::AcknowledgeMails(a) => ids("AcknowledgeMails.ids", &a.ids),
        session_request::Request::SenderBindings(b) => accounts(&b.accounts),
        _ => Ok(()),
    }
}

/// The bounds of a `StoredMails` (alone or in a `NextMailsAnswer`): each mail valid, no id
/// twice over its lists, 1 to [`MAX_FETCH_MAILS`] ids.
pub(super) fn validate_stored_mails(m: &pb::StoredMails) -> Result<(), WireError> {
    for mail in &m.mails {
        super::mail::validate_stored_mail(mail)?;
    }
    let all: Vec<u64> = (m.mails.iter().map(|m| m.id))
        .chain(m.missing.iter().copied())
        .chain(m.deferred.iter().copied())
        .chain(m.large.iter().copied())
        .collect();
    ids("StoredMails (ids)", &all)
}

/// The bounds of a `MailsAcknowledged` (alone or in a `NextMailsAnswer`): 1 to
/// [`MAX_FETCH_MAILS`] ids, none twice.
pub(super) fn validate_acknowledged(a: &pb::MailsAcknowledged) -> Result<(), WireError> {
    let all: Vec<u64> = a.deleted.iter().chain(&a.missing).copied().collect();
    ids("MailsAcknowledged (ids)", &all)
}

/// The bounds of `StoredMails` and `MailsAcknowledged`: each mail valid as a `StoredMail`, no
/// id twice over all the lists (that each id is one asked for is [`expect_mails`]'s check).
pub(super) fn validate_response(r: &session_response::Response) -> Result<(), WireError> {
    match r {
        session_response::Response::Mails(m) => validate_stored_mails(m),
        session_response::Response::MailsAcknowledged(a) => validate_acknowledged(a),
        session_response::Response::SenderBindings(b) => {
            for o in &b.outcomes {
                match (&o.answer, &o.refused) {
                    (Some(a), None) => a.validate_fields()?,
                    (None, Some(e)) => super::session::error_fields(e)?,
                    _ => {
                        return Err(WireError::Inconsistent {
                            field: "SenderBindingOutcome",
                            reason: "not exactly one of answer and refused",
                        });
                    }
                }
            }
            let asked: Vec<String> = b.outcomes.iter().map(|o| o.account.clone()).collect();
            accounts(&asked)
        }
        _ => Ok(()),
    }
}

impl pb::SessionRequest {
    /// Mails `ids`, whole, in one request.
    pub fn fetch_mails(ids: Vec<u64>) -> Self {
        pb::SessionRequest {
            request: Some(session_request::Request::FetchMails(pb::FetchMails { ids })),
        }
    }

    /// The bindings of the senders `accounts`, from their domains.
    pub fn sender_bindings(accounts: Vec<String>) -> Self {
        pb::SessionRequest {
            request: Some(session_request::Request::SenderBindings(
                pb::SenderBindingsRequest { accounts },
            )),
        }
    }

    /// Delete mails `ids`.
    pub fn acknowledge_mails(ids: Vec<u64>) -> Self {
        pb::SessionRequest {
            request: Some(session_request::Request::AcknowledgeMails(
                pb::AcknowledgeMails { ids },
            )),
        }
    }
}

/// Whether `answered` (ids in order) accounts for exactly the ids `asked`, each once.
fn same_ids(what: &'static str, asked: &[u64], mut answered: Vec<u64>) -> Result<(), AnswerError> {
    let mut asked_sorted = asked.to_vec();
    asked_sorted.sort_unstable();
    answered.sort_unstable();
    if asked_sorted == answered {
        Ok(())
    } else {
        Err(AnswerError::Mismatch {
            what,
            asked: format!("{asked_sorted:?}"),
            answered: format!("{answered:?}"),
        })
    }
}

/// The answer to a `fetch_mails` session request for `ids`: the mails, the missing and the
/// deferred ids together are exactly `ids`, and at least one id is not deferred (an answer
/// that defers everything would make a reader ask forever).
pub fn expect_mails(
    response: pb::SessionResponse,
    ids: &[u64],
) -> Result<pb::StoredMails, AnswerError> {
    let mails = expect_in_session(response, "fetch_mails", |r| match r {
        session_response::Response::Mails(m) => Ok(m),
        other => Err(Box::new(other)),
    })?;
    expect_stored_mails_in(mails, ids)
}

/// [`expect_mails`]'s checks of the mails answered for `ids` (alone or in a
/// `NextMailsAnswer`, where `ids` may be none: then nothing is answered).
pub(super) fn expect_stored_mails_in(
    mails: pb::StoredMails,
    ids: &[u64],
) -> Result<pb::StoredMails, AnswerError> {
    let answered = (mails.mails.iter().map(|m| m.id))
        .chain(mails.missing.iter().copied())
        .chain(mails.deferred.iter().copied())
        .chain(mails.large.iter().copied())
        .collect();
    same_ids("fetched mail ids", ids, answered)?;
    if !ids.is_empty() && mails.deferred.len() == ids.len() {
        return Err(AnswerError::Mismatch {
            what: "fetched mails",
            asked: format!("{} mails", ids.len()),
            answered: "none (all deferred)".into(),
        });
    }
    Ok(mails)
}

/// The answer to an `acknowledge_mails` session request for `ids`: deleted and missing
/// together are exactly `ids`.
pub fn expect_mails_acknowledged(
    response: pb::SessionResponse,
    ids: &[u64],
) -> Result<pb::MailsAcknowledged, AnswerError> {
    let acknowledged = expect_in_session(response, "acknowledge_mails", |r| match r {
        session_response::Response::MailsAcknowledged(a) => Ok(a),
        other => Err(Box::new(other)),
    })?;
    expect_mails_acknowledged_in(acknowledged, ids)
}

/// [`expect_mails_acknowledged`]'s checks of the acknowledgements answered for `ids` (alone
/// or in a `NextMailsAnswer`, where `ids` may be none).
pub(super) fn expect_mails_acknowledged_in(
    acknowledged: pb::MailsAcknowledged,
    ids: &[u64],
) -> Result<pb::MailsAcknowledged, AnswerError> {
    let answered = acknowledged
        .deleted
        .iter()
        .chain(&acknowledged.missing)
        .copied()
        .collect();
    same_ids("acknowledged mail ids", ids, answered)?;
    Ok(acknowledged)
}

/// The answer to a `sender_bindings` session request for `accounts`: one outcome per account,
/// in the order asked.
pub fn expect_sender_bindings(
    response: pb::SessionResponse,
    accounts: &[String],
) -> Result<pb::SenderBindings, AnswerError> {
    let bindings = expect_in_session(response, "sender_bindings", |r| match r {
        session_response::Response::SenderBindings(b) => Ok(b),
        other => Err(Box::new(other)),
    })?;
    let answered: Vec<&str> = bindings
        .outcomes
        .iter()
        .map(|o| o.account.as_str())
        .collect();
    if answered != accounts.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(AnswerError::Mismatch {
            what: "accounts of the sender bindings",
            asked: format!("{accounts:?}"),
            answered: format!("{answered:?}"),
        });
    }
    Ok(bindings)
}

/// Splits `ids` into requests of at most [`MAX_FETCH_MAILS`] (for callers with a longer list).
pub fn fetch_batches(ids: &[u64]) -> impl Iterator<Item = &[u64]> {
    ids.chunks(MAX_FETCH_MAILS)
}

// A full batch of the largest mails is answered over several requests, never refused: the
// gateway defers what does not fit, so the answer stays within one session frame.
const _: () = assert!(MAX_FETCHED_MAILS_BYTES < crate::wire::MAX_SESSION_PLAINTEXT_BYTES);
const _: () = assert!(MAX_FETCH_MAILS <= super::MAX_INBOX_ENTRIES);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Validate;

    fn stored(id: u64) -> pb::StoredMail {
        pb::StoredMail {
            id,
            envelope: Some(pb::MailEnvelope {
                msg_id: vec![1],
                sender: "a@x.test".into(),
                recipient: "b@y.test".into(),
                ephemeral_key: vec![0; 32],
                prekey_id: 0,
                ciphertext: vec![0; 17],
                sender_signature: vec![0; 64],
            }),
            received_at: 1,
            from_domain: "x.test".into(),
        }
    }

    fn answer(response: session_response::Response) -> pb::SessionResponse {
        pb::SessionResponse {
            response: Some(response),
        }
    }

    #[test]
    fn a_batch_names_one_to_the_bound_ids_once_each() {
        let ok = pb::SessionRequest::fetch_mails(vec![3, 1, 2]);
        assert_eq!(ok.validate(), Ok(()));
        for bad in [
            pb::SessionRequest::fetch_mails(vec![]),
            pb::SessionRequest::fetch_mails((0..=MAX_FETCH_MAILS as u64).collect()),
            pb::SessionRequest::fetch_mails(vec![1, 2, 1]),
            pb::SessionRequest::acknowledge_mails(vec![]),
            pb::SessionRequest::acknowledge_mails(vec![7, 7]),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let full: Vec<u64> = (0..MAX_FETCH_MAILS as u64).collect();
        assert_eq!(fetch_batches(&full).count(), 1);
        assert_eq!(
            pb::SessionRequest::acknowledge_mails(full).validate(),
            Ok(())
        );
    }

    #[test]
    fn a_fetch_answer_accounts_for_every_id_asked_once() {
        let good = pb::StoredMails {
            mails: vec![stored(1)],
            missing: vec![2],
            deferred: vec![3],
            large: vec![],
        };
        let got = expect_mails(
            answer(session_response::Response::Mails(good.clone())),
            &[1, 2, 3],
        );
        assert_eq!(got, Ok(good.clone()));
        assert_eq!(
            answer(session_response::Response::Mails(good.clone())).validate(),
            Ok(())
        );
        // A mail not asked for, an id left out, everything deferred, an id twice.
        let mut other = good.clone();
        other.mails[0].id = 9;
        let mut twice = good.clone();
        twice.missing = vec![1];
        for (bad, asked) in [
            (other, &[1u64, 2, 3][..]),
            (good.clone(), &[1, 2, 3, 4][..]),
            (
                pb::StoredMails {
                    mails: vec![],
                    missing: vec![],
                    deferred: vec![1],
                    large: vec![],
                },
                &[1][..],
            ),
            (twice, &[1, 2, 3][..]),
        ] {
            assert!(expect_mails(answer(session_response::Response::Mails(bad)), asked).is_err());
        }
    }

    #[test]
    fn an_acknowledgement_answer_accounts_for_every_id_asked_once() {
        let good = pb::MailsAcknowledged {
            deleted: vec![1, 3],
            missing: vec![2],
        };
        let response = || answer(session_response::Response::MailsAcknowledged(good.clone()));
        assert_eq!(
            expect_mails_acknowledged(response(), &[3, 2, 1]),
            Ok(good.clone())
        );
        assert!(expect_mails_acknowledged(response(), &[1, 2]).is_err());
        assert!(expect_mails_acknowledged(response(), &[1, 2, 3, 4]).is_err());
        let twice = pb::MailsAcknowledged {
            deleted: vec![1],
            missing: vec![1],
        };
        assert!(
            answer(session_response::Response::MailsAcknowledged(twice))
                .validate()
                .is_err()
        );
    }
}
