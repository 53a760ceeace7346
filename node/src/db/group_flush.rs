//! Group commit of sled changes: the changes made while a flush runs share the next flush,
//! instead of each waiting in line for a flush of its own.
//!
//! A writer applies its change to the tree (visible in memory at once), takes a
//! [`Ticket`], and waits ([`GroupFlush::wait`]) until a flush that *began after* the ticket was
//! taken has finished: sled's flush makes durable every write that returned before it began,
//! so the change is then durable, and only then may the writer answer ("durable before
//! acknowledged" is unchanged). Tickets taken while a flush runs wait for the next one, which
//! the first of them to find no flush running starts for all of them. The owner keeps its own
//! writer lock (what makes two changes see each other) and releases it *before* waiting, so
//! the next change is applied while this one's flush runs.
//!
//! Who owns what: the tree's owner (prekey takes, mailboxes, the outbound queue) decides what a
//! change is and when to answer; this type only decides which thread runs `flush` and when.
//! Blocking: called on blocking threads only, never on a runtime worker.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// The flushes of one sled tree (see the module docs). sled flushes the whole database, so a
/// flush through any tree covers the writes to all of them.
#[derive(Debug)]
pub(crate) struct GroupFlush {
    tree: sled::Tree,
    state: Mutex<State>,
    flushed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Tickets handed out (the last one's number).
    taken: u64,
    /// Every ticket up to this number is durable.
    durable: u64,
    /// A flush is running (on some waiter's thread).
    flushing: bool,
}

/// A change applied in memory that is not yet known to be durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[must_use = "a change is durable only once its ticket is waited for"]
pub(crate) struct Ticket(u64);

/// Clears `flushing` however the flush ends (an error or a panic in sled), so that a waiter
/// starts the next one instead of waiting for ever.
struct Running<'a>(&'a GroupFlush);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.state().flushing = false;
        self.0.flushed.notify_all();
    }
}

impl GroupFlush {
    /// The flushes of `tree`.
    pub(crate) fn new(tree: sled::Tree) -> Self {
        GroupFlush {
            tree,
            state: Mutex::new(State::default()),
            flushed: Condvar::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Counters only, each change of them complete: a panic elsewhere leaves them usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A ticket for the changes applied to the tree before this call returns.
    pub(crate) fn ticket(&self) -> Ticket {
        let mut state = self.state();
        state.taken += 1;
        Ticket(state.taken)
    }

    /// Blocks until the changes `ticket` covers are durable: a flush begun after the ticket was
    /// taken has finished, run by this thread or by another waiter. Its error, if the flush
    /// this thread ran failed (the other waiters then start another).
    pub(crate) fn wait(&self, ticket: Ticket) -> sled::Result<()> {
        let mut state = self.state();
        loop {
            if state.durable >= ticket.0 {
                return Ok(());
            }
            if state.flushing {
                state = self
                    .flushed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            // No flush running: this thread runs one for every ticket taken so far.
            state.flushing = true;
            let covers = state.taken;
            drop(state);
            let running = Running(self);
            let result = self.tree.flush();
            if result.is_ok() {
                let mut state = self.state();
                state.durable = state.durable.max(covers);
            }
            drop(running);
            result?;
            state = self.state();
        }
    }

    /// Makes the changes applied before this call durable (a ticket, waited for).
    pub(crate) fn flush(&self) -> sled::Result<()> {
        let ticket = self.ticket();
        self.wait(ticket)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn tree() -> (tempfile::TempDir, sled::Db, sled::Tree) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        let tree = db.open_tree("t").unwrap();
        (dir, db, tree)
    }

    #[test]
    fn a_ticket_waits_for_a_flush_begun_after_it() {
        let (_dir, _db, tree) = tree();
        let group = GroupFlush::new(tree.clone());
        let first = group.ticket();
        let second = group.ticket();
        assert!(first < second);
        group.wait(second).unwrap();
        // The flush second ran covered first too: no second flush needed.
        assert_eq!(group.state().durable, 2);
        group.wait(first).unwrap();
        // A ticket taken after that flush is not durable until another one runs.
        let third = group.ticket();
        assert!(group.state().durable < 3);
        group.wait(third).unwrap();
        assert_eq!(group.state().durable, 3);
    }

    #[test]
    fn many_writers_share_flushes_and_each_is_durable_when_it_returns() {
        let (dir, db, tree) = tree();
        let group = Arc::new(GroupFlush::new(tree.clone()));
        let threads: Vec<_> = (0..16u64)
            .map(|t| {
                let (group, tree) = (group.clone(), tree.clone());
                std::thread::spawn(move || {
                    for i in 0..20u64 {
                        tree.insert((t * 100 + i).to_be_bytes(), &[1u8][..])
                            .unwrap();
                        group.flush().unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(group.state().durable, 320);
        assert!(!group.state().flushing);
        drop((group, tree, db));
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        assert_eq!(db.open_tree("t").unwrap().len(), 320);
    }
}
