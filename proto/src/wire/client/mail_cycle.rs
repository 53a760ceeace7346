//! A reader's cycle in one request (`mail.proto` `NextMails`; issue 12): the mails read in the
//! previous cycle acknowledged, the mailbox listed (held while empty), the first listed mails
//! fetched, where a reader otherwise asks `acknowledge_mails`, `inbox` and `fetch_mails` in
//! turn. The bounds, the request, and the check that an answer is the one asked for: every
//! id acknowledged is accounted for once, and the fetched mails are exactly the first ones
//! listed.
//!
//! | message | limit | reason |
//! |---|---|---|
//! | `NextMails.acknowledge` | 0 to [`MAX_FETCH_MAILS`], none twice | as `AcknowledgeMails` |
//! | `NextMails.fetch` | 1 to [`MAX_FETCH_MAILS`] | as `FetchMails` |
//! | `NextMails.wait_ms` | [`MAX_INBOX_WAIT_MS`] | as `InboxRequest` |

use std::collections::BTreeSet;

use super::AnswerError;
use super::mail::required;
use super::mail_batch::{MAX_FETCH_MAILS, expect_mails_acknowledged_in, expect_stored_mails_in};
use super::session::expect_in_session;
use crate::wire::pb::{self, session_request, session_response};
use crate::wire::{MAX_INBOX_WAIT_MS, WireError};

/// The bounds of `NextMails`.
pub(super) fn validate_request(n: &pb::NextMails) -> Result<(), WireError> {
    if n.acknowledge.len() > MAX_FETCH_MAILS {
        return Err(WireError::TooManyElements {
            field: "NextMails.acknowledge",
            count: n.acknowledge.len(),
            max: MAX_FETCH_MAILS,
        });
    }
    let mut seen = BTreeSet::new();
    if !n.acknowledge.iter().all(|id| seen.insert(*id)) {
        return Err(WireError::DuplicateElement {
            field: "NextMails.acknowledge",
        });
    }
    if n.wait_ms > MAX_INBOX_WAIT_MS {
        return Err(WireError::Inconsistent {
            field: "NextMails.wait_ms",
            reason: "longer than MAX_INBOX_WAIT_MS",
        });
    }
    if n.fetch == 0 || n.fetch as usize > MAX_FETCH_MAILS {
        return Err(WireError::Inconsistent {
            field: "NextMails.fetch",
            reason: "not 1 to MAX_FETCH_MAILS",
        });
    }
    Ok(())
}

/// The bounds of `NextMailsAnswer`: its three parts present, each within its own bounds.
pub(super) fn validate_response(a: &pb::NextMailsAnswer) -> Result<(), WireError> {
    let acknowledged = required("NextMailsAnswer.acknowledged", &a.acknowledged)?;
    if !(acknowledged.deleted.is_empty() && acknowledged.missing.is_empty()) {
        super::mail_batch::validate_acknowledged(acknowledged)?;
    }
    super::mail::validate_inbox(required("NextMailsAnswer.inbox", &a.inbox)?)?;
    let fetched = required("NextMailsAnswer.fetched", &a.fetched)?;
    let none = fetched.mails.is_empty()
        && fetched.missing.is_empty()
        && fetched.deferred.is_empty()
        && fetched.large.is_empty();
    if !none {
        super::mail_batch::validate_stored_mails(fetched)?;
    }
    Ok(())
}

impl pb::SessionRequest {
    /// One reader's cycle: delete `acknowledge`, list the mailbox (held up to `wait_ms` while
    /// it is empty), fetch up to `fetch` of the listed mails.
    pub fn next_mails(acknowledge: Vec<u64>, wait_ms: u32, fetch: u32) -> Self {
        pb::SessionRequest {
            request: Some(session_request::Request::NextMails(pb::NextMails {
                acknowledge,
                wait_ms,
                fetch,
            })),
        }
    }
}

/// The answer to a `next_mails` session request that acknowledged `acknowledge` and asked to
/// fetch `fetch`: the acknowledged and missing ids are exactly `acknowledge`, no acknowledged
/// mail is listed, and the fetched ids are exactly the first `min(fetch, listed)` ids listed
/// (as [`expect_mails`](super::expect_mails) checks a `fetch_mails` answer).
pub fn expect_next_mails(
    response: pb::SessionResponse,
    acknowledge: &[u64],
    fetch: u32,
) -> Result<(pb::MailsAcknowledged, pb::Inbox, pb::StoredMails), AnswerError> {
    let answer = expect_in_session(response, "next_mails", |r| match r {
        session_response::Response::NextMails(a) => Ok(a),
        other => Err(Box::new(other)),
    })?;
    // The codec checked all three are present.
    let (acknowledged, inbox, fetched) = (
        answer.acknowledged.unwrap_or_default(),
        answer.inbox.unwrap_or_default(),
        answer.fetched.unwrap_or_default(),
    );
    let acknowledged = expect_mails_acknowledged_in(acknowledged, acknowledge)?;
    if let Some(e) = inbox
        .entries
        .iter()
        .find(|e| acknowledged.deleted.contains(&e.id))
    {
        return Err(AnswerError::Mismatch {
            what: "mailbox after the acknowledgements",
            asked: format!("mail {} deleted", e.id),
            answered: "still listed".into(),
        });
    }
    let listed: Vec<u64> = (inbox.entries.iter().take(fetch as usize))
        .map(|e| e.id)
        .collect();
    let fetched = expect_stored_mails_in(fetched, &listed)?;
    Ok((acknowledged, inbox, fetched))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Validate;

    fn entry(id: u64) -> pb::InboxEntry {
        pb::InboxEntry {
            id,
            msg_id: vec![1],
            sender: "a@x.test".into(),
            received_at: 1,
            size: 17,
        }
    }

    fn answer(
        deleted: Vec<u64>,
        listed: Vec<u64>,
        fetched: pb::StoredMails,
    ) -> pb::SessionResponse {
        pb::SessionResponse {
            response: Some(session_response::Response::NextMails(pb::NextMailsAnswer {
                acknowledged: Some(pb::MailsAcknowledged {
                    deleted,
                    missing: vec![],
                }),
                inbox: Some(pb::Inbox {
                    entries: listed.into_iter().map(entry).collect(),
                    truncated: false,
                }),
                fetched: Some(fetched),
            })),
        }
    }

    #[test]
    fn a_cycle_acknowledges_at_most_the_bound_once_each_and_fetches_one_to_the_bound() {
        let most = MAX_FETCH_MAILS as u32;
        for ok in [
            pb::SessionRequest::next_mails(vec![], 0, 1),
            pb::SessionRequest::next_mails((0..MAX_FETCH_MAILS as u64).collect(), 5_000, most),
        ] {
            assert_eq!(ok.validate(), Ok(()));
        }
        for bad in [
            pb::SessionRequest::next_mails((0..=MAX_FETCH_MAILS as u64).collect(), 0, 1),
            pb::SessionRequest::next_mails(vec![4, 5, 4], 0, 1),
            pb::SessionRequest::next_mails(vec![], 0, 0),
            pb::SessionRequest::next_mails(vec![], 0, most + 1),
            pb::SessionRequest::next_mails(vec![], MAX_INBOX_WAIT_MS + 1, 1),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_cycle_answer_fetches_exactly_the_first_listed_and_lists_nothing_acknowledged() {
        let fetched = |ids: Vec<u64>| pb::StoredMails {
            missing: ids,
            ..Default::default()
        };
        let good = answer(vec![1], vec![2, 3, 4], fetched(vec![2, 3]));
        assert_eq!(good.validate(), Ok(()));
        assert!(expect_next_mails(good.clone(), &[1], 2).is_ok());
        // An empty mailbox: nothing fetched, nothing acknowledged.
        let empty = answer(vec![], vec![], fetched(vec![]));
        assert_eq!(empty.validate(), Ok(()));
        assert!(expect_next_mails(empty, &[], 3).is_ok());
        for (bad, acknowledge, fetch) in [
            // An acknowledgement not asked for, or one left out.
            (good.clone(), &[][..], 2),
            (good.clone(), &[1, 9][..], 2),
            // Not the first listed, too few, too many.
            (good.clone(), &[1][..], 1),
            (good.clone(), &[1][..], 3),
            (answer(vec![1], vec![2, 3], fetched(vec![3])), &[1][..], 1),
            // A deleted mail still listed.
            (answer(vec![2], vec![2, 3], fetched(vec![2])), &[2][..], 1),
        ] {
            assert!(expect_next_mails(bad, acknowledge, fetch).is_err());
        }
        let mut missing = answer(vec![1], vec![2], fetched(vec![2]));
        if let Some(session_response::Response::NextMails(a)) = &mut missing.response {
            a.inbox = None;
        }
        assert!(missing.validate().is_err());
    }
}
