//! The order of one mail's records at its recipient's gateway: `RELAY_ACCEPTED` and
//! `CONSIGNMENT` before `HANDOVER` (DESIGN §3.4 reads the records as a timeline).
//!
//! The mail is in the mailbox (and fetchable) before its consignment records are logged, since
//! they say it is there; a recipient who fetches at once would otherwise have its `HANDOVER`
//! queued before the `CONSIGNMENT`. So the consignment takes the mail's turn before the mailbox
//! write and keeps it until its records are **queued** in the sequencer, and the handover takes
//! the same turn before queueing its record. The sequencer gives indexes in the order of its
//! pool (within a round and across rounds, a submission never split), so queued after is
//! logged after: the handover need not wait for the consignment's round, and a fetch right
//! after the arrival usually lands in the same round (docs/decisions.md, "One round at the
//! recipient's gateway"). Turns are per msg_id and live only while someone holds or waits for
//! one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as TurnLock, OwnedMutexGuard};

/// The turns of the mails being consigned or handed over now.
#[derive(Debug, Default)]
pub(super) struct RecordOrder {
    turns: Mutex<HashMap<Vec<u8>, Arc<TurnLock<()>>>>,
}

/// One mail's turn to write its records; the next waiter goes when it is dropped.
#[derive(Debug)]
pub(super) struct Turn {
    order: Arc<RecordOrder>,
    msg_id: Vec<u8>,
    held: Option<OwnedMutexGuard<()>>,
}

impl RecordOrder {
    /// Waits for `msg_id`'s turn.
    pub(super) async fn turn(self: &Arc<Self>, msg_id: &[u8]) -> Turn {
        let lock = self
            .lock()
            .entry(msg_id.to_vec())
            .or_insert_with(|| Arc::new(TurnLock::new(())))
            .clone();
        Turn {
            order: self.clone(),
            msg_id: msg_id.to_vec(),
            held: Some(lock.lock_owned().await),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Arc<TurnLock<()>>>> {
        self.turns.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut turns = self.order.lock();
        drop(self.held.take());
        // Nobody else holds or waits for this mail's turn: forget it.
        if turns
            .get(&self.msg_id)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            turns.remove(&self.msg_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_handover_waits_for_the_consignment_of_the_same_mail_only() {
        let order = Arc::new(RecordOrder::default());
        let consignment = order.turn(b"mail one").await;
        let waiting = {
            let order = order.clone();
            tokio::spawn(async move { drop(order.turn(b"mail one").await) })
        };
        // Another mail goes at once.
        tokio::time::timeout(Duration::from_secs(1), order.turn(b"mail two"))
            .await
            .expect("another mail's turn is free");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "the handover waits for the consignment"
        );
        drop(consignment);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("the handover goes once the consignment is done")
            .unwrap();
        assert_eq!(order.len(), 0, "no turn is kept once nobody holds one");
    }
}
