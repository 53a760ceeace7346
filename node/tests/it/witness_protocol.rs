//! `/herald/witness/1` against a real node over libp2p: a registered log is cosigned, and every
//! bad request (the attacks of DESIGN §2 and §5) is answered with its typed refusal and changes
//! nothing: the held state is the same afterwards and a following valid request still works.

use crate::witness_support::{Answer, Domain, FakeLog, WitnessClient, metric};
use herald_proto::checkpoint::{Cosignature, VerifiedCheckpoint, WitnessPolicy};
use herald_proto::note::NoteSigner;
use herald_proto::wire::pb::{self, witness_refusal::Reason};

/// A witness node `alpha.test` that has registered the fake log `beta.test`, and a client
/// connected as beta's peer.
async fn witness_and_log() -> (Domain, FakeLog, WitnessClient) {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let beta = FakeLog::new("beta.test", 40, 0);
    alpha.register(&beta.record()).await;
    let client = WitnessClient::connect(beta.keys.identity.clone(), alpha.addr()).await;
    (alpha, beta, client)
}

/// The cosignature verifies under alpha's witness key and covers exactly `note`.
fn assert_cosigns(alpha: &Domain, log: &FakeLog, note: &[u8], answer: &Answer) {
    let Answer::Cosigned(line) = answer else {
        panic!("expected a cosignature, got {answer:?}");
    };
    let checkpoint = VerifiedCheckpoint::verify(note, &log.keys.log_verifier()).unwrap();
    let cosignature = Cosignature::parse(line).unwrap();
    let cosigned = checkpoint
        .with_cosignature(&alpha.keys.witness_verifier(), &cosignature)
        .expect("the cosignature verifies");
    let policy = WitnessPolicy::new(
        log.keys.log_verifier(),
        vec![alpha.keys.witness_verifier()],
        1,
    )
    .unwrap();
    policy
        .verify(cosigned.note().as_bytes(), u64::MAX / 2, 0)
        .expect("one cosignature satisfies a quorum of 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_log_is_cosigned_as_it_grows() {
    let (alpha, mut beta, mut client) = witness_and_log().await;
    beta.grow_to(9);
    for (old, new) in [(0, 3), (3, 3), (3, 8), (8, 9)] {
        let answer = client.send(beta.request(old, new)).await;
        assert_cosigns(&alpha, &beta, &beta.checkpoint(new), &answer);
        assert_eq!(alpha.held(&beta.origin()), Some((new, beta.root(new))));
    }
    let page = alpha.metrics().await;
    assert!(
        page.contains("herald_witness_requests_total{kind=\"cosigned\"} 4"),
        "{page}"
    );
    alpha.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_bad_requests_are_refused_by_reason_without_state_change() {
    let (alpha, mut beta, mut client) = witness_and_log().await;
    beta.grow_to(12);
    assert!(matches!(
        client.send(beta.request(0, 5)).await,
        Answer::Cosigned(_)
    ));
    let held = Some((5, beta.root(5)));

    // Unknown origin: beta's connection asks for another log's checkpoint (even a log alpha
    // knows nothing about, signed by that log's own key).
    let gamma = FakeLog::new("gamma.test", 60, 3);
    let answer = client.send(gamma.request(0, 3)).await;
    assert_eq!(answer.reason(), Some(Reason::UnknownOrigin));
    assert_eq!(alpha.held(&gamma.origin()), None);

    // Forged signature: beta's origin signed by another key of the same name.
    let mut forged = beta.clone();
    forged.keys.log = NoteSigner::new(
        "beta.test/herald",
        ed25519_dalek::SigningKey::from_bytes(&[99; 32]),
    )
    .unwrap();
    let answer = client.send(forged.request(5, 9)).await;
    assert_eq!(answer.reason(), Some(Reason::BadSignature));
    // A genuine body under the log's signature line of another checkpoint.
    let mut request = beta.request(5, 9);
    let body_of = |note: &[u8]| {
        let text = String::from_utf8(note.to_vec()).unwrap();
        let (body, sig) = text.split_once("\n\n").unwrap();
        (body.to_owned(), sig.to_owned())
    };
    let (body9, _) = body_of(&beta.checkpoint(9));
    let (_, sig8) = body_of(&beta.checkpoint(8));
    request.checkpoint = format!("{body9}\n\n{sig8}").into_bytes();
    assert_eq!(
        client.send(request).await.reason(),
        Some(Reason::BadSignature)
    );

    // Old size above the new size.
    let mut request = beta.request(5, 7);
    request.old_size = 9;
    assert_eq!(
        client.send(request).await.reason(),
        Some(Reason::OldSizeTooLarge)
    );

    // A wrong consistency proof (right length, wrong hashes): refused, no alarm.
    let mut request = beta.request(5, 9);
    for hash in &mut request.consistency_proof {
        hash[0] ^= 0xff;
    }
    assert_eq!(client.send(request).await.reason(), Some(Reason::BadProof));
    // A proof where none is needed, and a truncated one.
    let mut request = beta.request(5, 5);
    request.consistency_proof = vec![vec![7; 32]];
    assert_eq!(client.send(request).await.reason(), Some(Reason::BadProof));
    let mut request = beta.request(5, 9);
    request.consistency_proof.pop();
    assert_eq!(client.send(request).await.reason(), Some(Reason::BadProof));

    // Not a checkpoint at all.
    let request = pb::AddCheckpointRequest {
        old_size: 5,
        consistency_proof: Vec::new(),
        checkpoint: b"hello\n".to_vec(),
    };
    assert_eq!(
        client.send(request).await.reason(),
        Some(Reason::MalformedRequest)
    );

    // Nothing changed, nothing was raised, each refusal was counted by its reason.
    assert_eq!(alpha.held(&beta.origin()), held);
    assert!(!alpha.distrusts(&beta.origin()));
    assert!(alpha.gateway.watch().alerts().is_empty());
    let page = alpha.metrics().await;
    for (kind, n) in [
        ("unknown_origin", 1),
        ("bad_signature", 2),
        ("old_size_too_large", 1),
        ("bad_proof", 3),
        ("malformed_request", 1),
    ] {
        let line = format!("herald_witness_requests_total{{kind=\"{kind}\"}} {n}");
        assert!(page.contains(&line), "{line} not in\n{page}");
    }
    assert_eq!(metric(&page, "herald_alerts"), 0.0);
    // And the log is still served.
    let answer = client.send(beta.request(5, 12)).await;
    assert_cosigns(&alpha, &beta, &beta.checkpoint(12), &answer);
    alpha.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_an_unregistered_caller_is_refused() {
    let (alpha, mut beta, mut client) = witness_and_log().await;
    beta.grow_to(4);
    // Another peer id presents beta's genuine checkpoint.
    let stranger = FakeLog::new("stranger.test", 80, 0);
    let mut impostor = WitnessClient::connect(stranger.keys.identity.clone(), alpha.addr()).await;
    let answer = impostor.send(beta.request(0, 4)).await;
    assert_eq!(answer.reason(), Some(Reason::UnregisteredPeer));
    assert_eq!(alpha.held(&beta.origin()), None);
    // The registered peer still gets it cosigned.
    assert!(matches!(
        client.send(beta.request(0, 4)).await,
        Answer::Cosigned(_)
    ));
    // Once unregistered, beta is refused too.
    let registry = alpha.gateway.peers().clone();
    tokio::task::spawn_blocking(move || registry.remove("beta.test"))
        .await
        .unwrap()
        .unwrap();
    beta.grow_to(6);
    let answer = client.send(beta.request(4, 6)).await;
    assert_eq!(answer.reason(), Some(Reason::UnregisteredPeer));
    assert_eq!(alpha.held(&beta.origin()), Some((4, beta.root(4))));
    alpha.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_replayed_stale_request_gets_conflict_with_the_held_size() {
    let (alpha, mut beta, mut client) = witness_and_log().await;
    beta.grow_to(9);
    let first = beta.request(0, 5);
    assert!(matches!(
        client.send(first.clone()).await,
        Answer::Cosigned(_)
    ));
    assert!(matches!(
        client.send(beta.request(5, 9)).await,
        Answer::Cosigned(_)
    ));
    // Replays of the older requests: the witness holds 9 and says so.
    assert_eq!(
        client.send(first).await,
        Answer::Refused(Reason::Conflict, 9)
    );
    assert_eq!(
        client.send(beta.request(5, 9)).await,
        Answer::Refused(Reason::Conflict, 9)
    );
    assert_eq!(alpha.held(&beta.origin()), Some((9, beta.root(9))));
    // The log retries from the held size, as CONFLICT asks.
    beta.grow_to(10);
    assert!(matches!(
        client.send(beta.request(9, 10)).await,
        Answer::Cosigned(_)
    ));
    alpha.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_concurrent_conflicting_requests_cosign_only_one() {
    let (alpha, mut beta, client) = witness_and_log().await;
    beta.grow_to(4);
    let mut client = client;
    assert!(matches!(
        client.send(beta.request(0, 4)).await,
        Answer::Cosigned(_)
    ));
    let mut second = WitnessClient::connect(beta.keys.identity.clone(), alpha.addr()).await;
    let mut held = 4u64;
    for round in 0..6u64 {
        // Two inconsistent trees of the same size, both extending what the witness holds
        // (the fork rewrites a leaf after it), sent at once on two connections.
        let size = held + 3 + round;
        let mut honest = beta.clone();
        honest.grow_to(size);
        let fork = honest.forked_at(held as usize + 1);
        let (a, b) = tokio::join!(
            client.send(honest.request(held, size)),
            second.send(fork.request(held, size))
        );
        let cosigned = [&a, &b]
            .iter()
            .filter(|x| matches!(x, Answer::Cosigned(_)))
            .count();
        assert_eq!(cosigned, 1, "round {round}: {a:?} / {b:?}");
        // The loser is refused: it comes second and either conflicts with the size now held
        // or shows a same-size split view (which distrusts the origin).
        let (winner, loser) = if matches!(a, Answer::Cosigned(_)) {
            (&honest, &b)
        } else {
            (&fork, &a)
        };
        assert!(
            matches!(
                loser.reason(),
                Some(Reason::Conflict | Reason::DistrustedOrigin)
            ),
            "{loser:?}"
        );
        assert_eq!(alpha.held(&beta.origin()), Some((size, winner.root(size))));
        if alpha.distrusts(&beta.origin()) {
            break;
        }
        held = size;
        beta = winner.clone();
    }
    alpha.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_same_size_fork_is_an_equivocation_and_the_origin_is_refused_after() {
    let (alpha, mut beta, mut client) = witness_and_log().await;
    beta.grow_to(6);
    assert!(matches!(
        client.send(beta.request(0, 6)).await,
        Answer::Cosigned(_)
    ));
    let fork = beta.forked_at(2);
    let answer = client.send(fork.request(6, 6)).await;
    assert_eq!(answer.reason(), Some(Reason::DistrustedOrigin));
    assert!(alpha.distrusts(&beta.origin()));
    let proofs = alpha
        .gateway
        .watch()
        .alerts()
        .list(Some(&beta.origin()), 16)
        .unwrap();
    assert_eq!(proofs.len(), 1);
    let verified = proofs[0]
        .verify()
        .expect("the stored proof verifies offline");
    assert_eq!(verified.origin(), beta.origin());
    // The held state is not moved by the fork, and the origin is refused from now on, even
    // for a checkpoint that extends what is held.
    assert_eq!(alpha.held(&beta.origin()), Some((6, beta.root(6))));
    beta.grow_to(8);
    assert_eq!(
        client.send(beta.request(6, 8)).await.reason(),
        Some(Reason::DistrustedOrigin)
    );
    let page = alpha.metrics().await;
    assert_eq!(metric(&page, "herald_alerts"), 1.0);
    assert_eq!(metric(&page, "herald_equivocations_detected_total"), 1.0);
    let status = alpha.status().await;
    assert_eq!(status["distrusted"][0], beta.origin());
    alpha.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_proof_committing_to_another_held_root_is_an_equivocation() {
    let (alpha, mut beta, mut client) = witness_and_log().await;
    beta.grow_to(5);
    assert!(matches!(
        client.send(beta.request(0, 5)).await,
        Answer::Cosigned(_)
    ));
    // The log rewrites leaf 1 and proves its new tree of 9 from its *new* tree of 5: the proof
    // authenticates the new root yet commits the log to another root at size 5.
    let mut fork = beta.forked_at(1);
    fork.grow_to(9);
    let answer = client.send(fork.request(5, 9)).await;
    assert_eq!(answer.reason(), Some(Reason::DistrustedOrigin));
    assert!(alpha.distrusts(&beta.origin()));
    assert_eq!(alpha.held(&beta.origin()), Some((5, beta.root(5))));
    alpha.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_witness_state_and_distrust_survive_a_restart() {
    let (alpha, mut beta, mut client) = witness_and_log().await;
    beta.grow_to(9);
    assert!(matches!(
        client.send(beta.request(0, 5)).await,
        Answer::Cosigned(_)
    ));
    let gamma = FakeLog::new("gamma.test", 60, 4);
    alpha.register(&gamma.record()).await;
    let mut gamma_client = WitnessClient::connect(gamma.keys.identity.clone(), alpha.addr()).await;
    assert!(matches!(
        gamma_client.send(gamma.request(0, 4)).await,
        Answer::Cosigned(_)
    ));
    let fork = gamma.forked_at(0);
    assert_eq!(
        gamma_client.send(fork.request(4, 4)).await.reason(),
        Some(Reason::DistrustedOrigin)
    );
    drop(client);
    drop(gamma_client);

    let alpha = alpha.stop().await.start().await;
    let mut client = WitnessClient::connect(beta.keys.identity.clone(), alpha.addr()).await;
    // The registry, the held size and the distrust all came back from disk.
    assert_eq!(alpha.held(&beta.origin()), Some((5, beta.root(5))));
    assert_eq!(
        client.send(beta.request(0, 5)).await,
        Answer::Refused(Reason::Conflict, 5)
    );
    assert!(matches!(
        client.send(beta.request(5, 9)).await,
        Answer::Cosigned(_)
    ));
    assert!(alpha.distrusts(&gamma.origin()));
    let mut gamma_client = WitnessClient::connect(gamma.keys.identity.clone(), alpha.addr()).await;
    assert_eq!(
        gamma_client.send(gamma.request(4, 4)).await.reason(),
        Some(Reason::DistrustedOrigin)
    );
    alpha.stop().await;
}
