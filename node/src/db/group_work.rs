//! Blocking storage work of one kind done in groups: async callers hand their items to one
//! blocking thread at a time, which takes every item waiting, does them together (in memory,
//! then one flush: the owner's `run`) and answers each.
//!
//! Why: a `spawn_blocking` per item costs a blocking-pool thread woken per item and, with sled,
//! a flush per item in line behind the owner's writer lock. Here the items that arrive while a
//! group is being done wait for the next group, done by the same thread without another
//! hand-off; a caller is answered only once `run` returned its group, so "durable before
//! acknowledged" is `run`'s to keep (it flushes before it returns) and unchanged.
//!
//! Who owns what: the owner (mail's mailboxes and outbound queue) decides what an item is and
//! what `run` does with a group; this type only decides which blocking thread runs it and when.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

/// What the owner does with one group, on a blocking thread: one output per input, in order.
type Run<I, O> = dyn Fn(Vec<I>) -> Vec<O> + Send + Sync;

/// Items of one kind done in groups (see the module docs).
pub(crate) struct GroupWork<I, O> {
    queue: Mutex<Queue<I, O>>,
    run: Box<Run<I, O>>,
}

impl<I, O> std::fmt::Debug for GroupWork<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupWork").finish_non_exhaustive()
    }
}

struct Queue<I, O> {
    waiting: Vec<(I, oneshot::Sender<O>)>,
    /// A blocking thread is doing groups (and takes what is waiting before it stops).
    running: bool,
}

/// Why an item got no answer: its group's `run` panicked (a bug; reported as an internal
/// error by the caller). The items waiting meanwhile are done in the next group.
#[derive(Debug, thiserror::Error)]
#[error("the group this item was in failed")]
pub(crate) struct GroupFailed;

impl<I, O> GroupWork<I, O> {
    fn queue(&self) -> MutexGuard<'_, Queue<I, O>> {
        // The queue is consistent after every step: a panic elsewhere leaves it usable.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<I: Send + 'static, O: Send + 'static> GroupWork<I, O> {
    /// Groups done by `run` (called on a blocking thread; it must return one output per input).
    pub(crate) fn new(run: impl Fn(Vec<I>) -> Vec<O> + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(GroupWork {
            queue: Mutex::new(Queue {
                waiting: Vec::new(),
                running: false,
            }),
            run: Box::new(run),
        })
    }

    /// Does `item` in the next group and returns its output.
    pub(crate) async fn submit(self: &Arc<Self>, item: I) -> Result<O, GroupFailed> {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut queue = self.queue();
            queue.waiting.push((item, answer));
            !std::mem::replace(&mut queue.running, true)
        };
        if start {
            let this = self.clone();
            // Not awaited: the thread answers through the channels and stops by itself.
            drop(tokio::task::spawn_blocking(move || this.turn()));
        }
        answered.await.map_err(|_| GroupFailed)
    }

    /// Does groups until nothing waits. A group whose `run` panics is not answered (its
    /// callers get [`GroupFailed`]); the thread goes on with the next one, so an item that came
    /// meanwhile is never left waiting with no thread to do it.
    fn turn(&self) {
        loop {
            let group = {
                let mut queue = self.queue();
                if queue.waiting.is_empty() {
                    queue.running = false;
                    break;
                }
                std::mem::take(&mut queue.waiting)
            };
            let (items, answers): (Vec<I>, Vec<oneshot::Sender<O>>) = group.into_iter().unzip();
            let run = std::panic::AssertUnwindSafe(|| (self.run)(items));
            let Ok(outputs) = std::panic::catch_unwind(run) else {
                // The answers are dropped: each caller of this group gets `GroupFailed`.
                continue;
            };
            debug_assert_eq!(outputs.len(), answers.len());
            for (answer, output) in answers.into_iter().zip(outputs) {
                // A caller that went away no longer needs its answer; the work is done.
                let _ = answer.send(output);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_item_is_answered_with_its_own_output_and_items_share_groups() {
        let groups = Arc::new(AtomicUsize::new(0));
        let counted = groups.clone();
        let work = GroupWork::new(move |items: Vec<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(5));
            items.into_iter().map(|i| i * 2).collect()
        });
        let answers = futures::future::join_all((0..200u32).map(|i| {
            let work = work.clone();
            async move { (i, work.submit(i).await.unwrap()) }
        }))
        .await;
        for (i, doubled) in answers {
            assert_eq!(doubled, i * 2);
        }
        let groups = groups.load(Ordering::SeqCst);
        assert!(groups < 200, "{groups} groups for 200 items at once");
        // Nothing waits and no thread runs: the next item starts a new turn.
        assert_eq!(work.submit(7).await.unwrap(), 14);
        assert!(!work.queue().running || work.queue().waiting.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_group_fails_its_items_and_the_next_item_is_done() {
        let work = GroupWork::new(|items: Vec<u32>| {
            assert!(!items.contains(&13), "unlucky");
            items
        });
        assert!(work.submit(13).await.is_err());
        assert_eq!(work.submit(1).await.unwrap(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn items_that_come_while_a_group_panics_are_done_in_the_next_group() {
        let work = GroupWork::new(|items: Vec<u32>| {
            if items.contains(&13) {
                std::thread::sleep(std::time::Duration::from_millis(50));
                panic!("unlucky");
            }
            items
        });
        let first = tokio::spawn({
            let work = work.clone();
            async move { work.submit(13).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let (two, three) = tokio::join!(work.submit(2), work.submit(3));
        assert!(first.await.unwrap().is_err());
        assert_eq!((two.unwrap(), three.unwrap()), (2, 3));
    }
}
