//! The watcher task: hands validated gossip (judged by [`crate::gossip::GossipJudge`] for the
//! network worker and for alert sync) to the [`SplitViewWatch`], one event at a time, so that
//! the worker never waits on storage.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::SplitViewWatch;
use crate::gossip::GossipEvent;

/// Starts the watcher; it ends when every sender (the judge's clones) is dropped.
pub fn spawn(watch: SplitViewWatch, mut events: mpsc::Receiver<GossipEvent>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                GossipEvent::Checkpoint(peer, checkpoint) => {
                    watch.observe(peer, checkpoint).await;
                }
                GossipEvent::Alert(proof) => watch.receive_alert(proof).await,
            }
        }
    })
}
