//! The light client against a gateway that lies about what it was asked (the reliability
//! review's §3: lies the client handled but no test showed over the network).
//!
//! A real node runs in process; a [`LyingGateway`] stands in front of it and serves
//! `/herald/client/1` over real libp2p (TCP, noise, yamux, the one codec), forwarding every
//! request and answering the one under test with the node's honest answer to another question.
//! Each test brings a light client (`TrustedLog`, its checkpoint in a file) to a trusted
//! checkpoint through the gateway while it is honest, has it tell one lie, and checks that the
//! client refuses with the typed error that names it, as the gateway's misbehaviour, and that
//! nothing it trusts changed (the checkpoint held and the one in its file); then that the same
//! call succeeds once the gateway is honest again (the refusal accused the answer, not the log).

mod common;

use std::time::Duration;

use common::bounded;
use common::in_process::{request, start_node};
use ed25519_dalek::SigningKey;
use herald_light_client::{
    CheckpointStore as _, ClientError, FileCheckpointStore, GatewayClient, Leaf, LogTrust,
    TrustedLog, VerifyError,
};
use herald_node::testkit::TestGateway;
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::wire::WireError;
use herald_testnet::lying_gateway::{Lie, LyingGateway};
use tempfile::TempDir;

const TEST_BOUND: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Entries in the log before the lie: enough for neighbours and smaller trees to exist.
const ENTRIES: u8 = 6;

type Client = TrustedLog<GatewayClient, FileCheckpointStore>;

/// A node, the lying gateway in front of it, and a light client through the gateway that
/// trusts the node's checkpoint of [`ENTRIES`] entries.
struct Setup {
    _dir: TempDir,
    node: TestGateway,
    liar: LyingGateway,
    client: Client,
    store: FileCheckpointStore,
    author: SigningKey,
}

impl Setup {
    async fn new() -> Setup {
        let dir = TempDir::new().unwrap();
        let node = start_node().await;
        let upstream = GatewayClient::connect(&node.tcp_addr(), CONNECT_TIMEOUT)
            .await
            .unwrap();
        let liar = LyingGateway::start(upstream).await.unwrap();
        let through_liar = GatewayClient::connect(liar.addr(), CONNECT_TIMEOUT)
            .await
            .unwrap();
        let store = FileCheckpointStore::new(dir.path().join("client"));
        let trust = LogTrust::unwitnessed(node.log_key.clone(), node.config.hash);
        let mut client = TrustedLog::open(through_liar.clone(), trust, store.clone()).unwrap();
        let author = SigningKey::from_bytes(&[7; 32]);
        for i in 0..ENTRIES {
            client
                .submit_notarization(&request(i), &author)
                .await
                .unwrap();
        }
        let trusted = client.refresh().await.unwrap().checkpoint;
        assert_eq!(trusted.size(), u64::from(ENTRIES));
        // The liar serves `/herald/client/1` only: the client fell back to it.
        assert!(!through_liar.is_pipelined().await);
        Setup {
            _dir: dir,
            node,
            liar,
            client,
            store,
            author,
        }
    }

    /// What the client trusts now: the checkpoint it holds and the note in its file.
    fn trusted(&self) -> (VerifiedCheckpoint, Vec<u8>) {
        let held = self
            .client
            .trusted()
            .cloned()
            .expect("a trusted checkpoint");
        let saved = self
            .store
            .load(held.origin())
            .unwrap()
            .expect("a saved checkpoint");
        (held, saved)
    }

    /// Grows the log by `n` entries, submitted to the node directly (not through the liar).
    async fn grow(&self, n: u8) {
        let direct = GatewayClient::connect(&self.node.tcp_addr(), CONNECT_TIMEOUT)
            .await
            .unwrap();
        let trust = LogTrust::unwitnessed(self.node.log_key.clone(), self.node.config.hash);
        let mut log = TrustedLog::open(
            direct,
            trust,
            herald_light_client::MemoryCheckpointStore::new(),
        )
        .unwrap();
        for i in 0..n {
            log.submit_notarization(&request(100 + i), &self.author)
                .await
                .unwrap();
        }
    }

    /// Checks that `result` is the client's refusal of an answer about something else than it
    /// asked (`what` differs), that the gateway told a lie, and that nothing trusted changed.
    fn assert_refused<T: std::fmt::Debug>(
        &self,
        result: Result<T, ClientError>,
        what: &str,
        before: &(VerifiedCheckpoint, Vec<u8>),
    ) {
        let err = self.assert_misbehaviour(result, before);
        match err.verification() {
            Some(VerifyError::AnswerMismatch { what: w, .. }) => assert_eq!(*w, what, "{err}"),
            other => panic!("not the refusal of a mismatched answer: {other:?} ({err})"),
        }
    }

    /// Checks that `result` is refused as the gateway's misbehaviour, that the gateway told a
    /// lie, and that nothing trusted changed; the error.
    fn assert_misbehaviour<T: std::fmt::Debug>(
        &self,
        result: Result<T, ClientError>,
        before: &(VerifiedCheckpoint, Vec<u8>),
    ) -> ClientError {
        let err = result.expect_err("the lie was accepted");
        assert!(err.is_peer_misbehaviour(), "{err:?}");
        assert!(self.liar.lies_told() > 0, "the gateway never lied");
        assert_eq!(&self.trusted(), before, "the trusted state changed");
        err
    }

    async fn stop(self) {
        drop(self.liar);
        self.node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_entries_page_with_another_start() {
    bounded(TEST_BOUND, async {
        let mut s = Setup::new().await;
        let before = s.trusted();
        s.liar.tell(Lie::EntriesFromAnotherStart);
        let lie = s.client.entry(2).await;
        s.assert_refused(lie, "first index of the entry page", &before);

        s.liar.be_honest();
        let entry = s.client.entry(2).await.unwrap();
        assert_eq!(entry.index(), 2);
        s.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_ack_index_at_or_past_the_checkpoint_size() {
    bounded(TEST_BOUND, async {
        let mut s = Setup::new().await;
        for (i, lie) in [Lie::AckIndexAtTheSize, Lie::AckIndexPastTheSize]
            .into_iter()
            .enumerate()
        {
            let before = s.trusted();
            s.liar.tell(lie);
            let author = s.author.clone();
            let refused = s
                .client
                .submit_notarization(&request(50 + i as u8), &author)
                .await;
            // The ack carries the entry's audit path (one round trip), so the moved index is
            // caught against the path's leaf index before the checkpoint-size check; either way
            // it is the refusal of an index the proofs do not back.
            let err = s.assert_misbehaviour(refused, &before);
            match err.verification() {
                Some(VerifyError::AnswerMismatch { what, .. }) => assert!(
                    ["inclusion proof leaf index", "acknowledged index"].contains(what),
                    "{err}"
                ),
                other => panic!("not the refusal of a mismatched answer: {other:?} ({err})"),
            }
            s.liar.be_honest();
            // The node did append the entry; the client trusts its tree once it is proved.
            let after = s.client.refresh().await.unwrap().checkpoint;
            assert!(after.size() > before.0.size());
        }
        let told = s.liar.lies_told();
        assert_eq!(told, 2, "one lie per submission");
        let author = s.author.clone();
        let honest = s
            .client
            .submit_notarization(&request(60), &author)
            .await
            .unwrap();
        assert!(honest.index() < honest.inclusion().checkpoint().size());
        s.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_inclusion_answer_for_another_size() {
    bounded(TEST_BOUND, async {
        let mut s = Setup::new().await;
        let before = s.trusted();
        s.liar.tell(Lie::InclusionForAnotherSize);
        let lie = s.client.prove(Leaf::Index(1)).await;
        s.assert_refused(lie, "inclusion proof tree size", &before);

        s.liar.be_honest();
        let proved = s.client.prove(Leaf::Index(1)).await.unwrap();
        assert_eq!(proved.checkpoint().size(), before.0.size());
        s.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_inclusion_answer_for_another_leaf() {
    bounded(TEST_BOUND, async {
        let mut s = Setup::new().await;
        let before = s.trusted();
        let leaf_hash = *s.client.prove(Leaf::Index(3)).await.unwrap().leaf_hash();
        s.liar.tell(Lie::InclusionForAnotherLeaf);
        // Asked by index: the proof is of the leaf before.
        let by_index = s.client.prove(Leaf::Index(3)).await;
        s.assert_refused(by_index, "inclusion proof leaf index", &before);
        // Asked by hash: the answer is leaf 0's.
        let by_hash = s.client.prove(Leaf::Hash(leaf_hash)).await;
        s.assert_refused(by_hash, "leaf hash", &before);
        // An entry read back: its audit path is asked by index too.
        let entry = s.client.entry(3).await;
        s.assert_refused(entry, "inclusion proof leaf index", &before);
        assert_eq!(s.liar.lies_told(), 3);

        s.liar.be_honest();
        assert_eq!(
            s.client.prove(Leaf::Hash(leaf_hash)).await.unwrap().index(),
            3
        );
        s.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_inclusion_answer_without_a_proof() {
    bounded(TEST_BOUND, async {
        let mut s = Setup::new().await;
        let before = s.trusted();
        s.liar.tell(Lie::InclusionWithoutProof);
        // The codec's validation refuses it before any matcher: a malformed answer.
        let lie = s.client.prove(Leaf::Index(4)).await;
        let err = s.assert_misbehaviour(lie, &before);
        assert!(
            matches!(
                err,
                ClientError::MalformedResponse(WireError::MissingField {
                    field: "InclusionAnswer.proof"
                })
            ),
            "{err:?}"
        );
        s.liar.be_honest();
        assert_eq!(s.client.prove(Leaf::Index(4)).await.unwrap().index(), 4);
        s.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_consistency_answer_for_other_sizes() {
    bounded(TEST_BOUND, async {
        let mut s = Setup::new().await;
        let before = s.trusted();
        s.liar.tell(Lie::ConsistencyForOtherSizes);
        // Between two older trees, asked directly.
        let asked = s.client.consistency(3, Some(5)).await;
        s.assert_refused(asked, "consistency proof sizes", &before);
        // Following the log as it grows: the proof from the trusted size is for another one, so
        // the larger checkpoint is not trusted.
        s.grow(3).await;
        let refresh = s.client.refresh().await;
        s.assert_refused(refresh, "consistency proof sizes", &before);
        assert_eq!(s.liar.lies_told(), 2);

        s.liar.be_honest();
        let update = s.client.refresh().await.unwrap();
        assert_eq!(update.checkpoint.size(), before.0.size() + 3);
        assert_eq!(update.previous.as_ref(), Some(&before.0));
        s.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lying_gateway_is_a_faithful_gateway_until_it_lies() {
    bounded(TEST_BOUND, async {
        let mut s = Setup::new().await;
        // Every call the attacks use succeeds through it while it is honest, and says what the
        // node says.
        s.grow(2).await;
        let update = s.client.refresh().await.unwrap();
        assert_eq!(update.checkpoint.size(), u64::from(ENTRIES) + 2);
        assert!(
            update.proof.is_some(),
            "moved forward by a consistency proof"
        );
        let entry = s.client.entry(5).await.unwrap();
        assert_eq!(
            s.client
                .prove(Leaf::Hash(*entry.inclusion().leaf_hash()))
                .await
                .unwrap(),
            s.client.prove(Leaf::Index(5)).await.unwrap()
        );
        s.client.consistency(2, Some(7)).await.unwrap();
        assert_eq!(s.liar.lies_told(), 0);
        s.stop().await;
    })
    .await;
}
