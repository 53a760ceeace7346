//! Accounts and key transparency on real in-process gateways (DESIGN §4):
//! registering with a one-time code binds IK in the log, the binding verifies against a
//! cosigned checkpoint the client checks with its own policy, and every way of abusing
//! registration is refused without changing anything. Disabling logs a revocation that the
//! binding answer shows.

use crate::network_support::{TestClient, error_of};
use crate::witness_support::{Domain, http, register_all};
use herald_node::accounts::{AccountState, api::AccountAdded, api::AccountList};
use herald_node::service::DisableReport;
use herald_proto::identity::{NotBound, verify_binding, verify_revocation};
use herald_proto::merkle::{LogHasher as _, Sha256Hasher};
use herald_proto::wire::pb::{self, ClientErrorKind, client_request, client_response};

use crate::certmail_support::{
    Account, binding, enrol, issue, now, own_trust, refusal, register, req_hash,
};

/// Two gateways that witness each other, so each log's checkpoints get cosigned.
async fn pair() -> (Domain, Domain) {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let beta = Domain::start("beta.test", |_| {}).await;
    register_all(&[&alpha, &beta]).await;
    (alpha, beta)
}

fn state(domain: &Domain, address: &str) -> Option<AccountState> {
    domain
        .gateway
        .intake()
        .accounts()
        .get(address)
        .expect("account book")
        .map(|r| r.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_binds_the_key_and_the_binding_verifies_against_the_cosigned_log() {
    let (alpha, beta) = pair().await;
    let mut client = TestClient::connect(alpha.addr()).await;
    let bob = Account::new("bob@alpha.test", 1);
    let ack = enrol(&alpha, &mut client, &bob).await;
    // The ack is the log's promise for the binding leaf.
    let entries = alpha.gateway.store().entries(ack.index, 1).unwrap();
    assert_eq!(Sha256Hasher.hash_leaf(&entries[0]), ack.leaf_hash[..]);
    assert!(matches!(
        state(&alpha, "bob@alpha.test"),
        Some(AccountState::Active { identity_key, binding_index, .. })
            if identity_key == bob.key() && binding_index == ack.index
    ));

    // Anyone can fetch the binding and check it with their own policy for alpha's log.
    let trust = own_trust(&mut client).await;
    assert_eq!(trust.origin(), "alpha.test/herald");
    let answer = binding(&mut client, "bob@alpha.test").await;
    assert!(answer.revocations.is_empty());
    let verified = verify_binding(&trust, answer.binding.as_ref().unwrap(), now(), 60)
        .expect("the binding verifies against a cosigned checkpoint");
    assert_eq!(verified.identity_key(), &bob.key());
    assert_eq!(verified.signed_prekey(), &bob.prekey);
    assert_eq!(verified.index(), ack.index);
    assert!(verified.bound_at(now(), &[]).is_ok());
    alpha.stop().await;
    beta.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_wrong_reused_and_expired_codes_are_unauthorized_and_change_nothing() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let mut client = TestClient::connect(alpha.addr()).await;
    let bob = Account::new("bob@alpha.test", 1);
    let code = issue(&alpha, &bob.address, 3600).await;
    let size = alpha.gateway.head().size;

    let wrong = register(&mut client, &bob, "0000-0000-0000-0000").await;
    assert_eq!(refusal(&wrong), Some(ClientErrorKind::Unauthorized));
    assert_eq!(alpha.gateway.head().size, size, "a refusal appends nothing");
    assert!(matches!(
        state(&alpha, &bob.address),
        Some(AccountState::Pending { .. })
    ));

    let ack = register(&mut client, &bob, &code).await;
    assert!(error_of(&ack).is_none(), "{ack:?}");
    let size = alpha.gateway.head().size;
    // The code is used: nobody can bind another key with it, nor re-register with it.
    let mallory = Account::new("bob@alpha.test", 66);
    for account in [&mallory, &bob] {
        let again = register(&mut client, account, &code).await;
        assert_eq!(refusal(&again), Some(ClientErrorKind::Unauthorized));
    }
    assert_eq!(alpha.gateway.head().size, size);
    assert!(matches!(
        state(&alpha, &bob.address),
        Some(AccountState::Active { identity_key, .. }) if identity_key == bob.key()
    ));

    // An expired code binds nothing.
    let carol = Account::new("carol@alpha.test", 3);
    let code = issue(&alpha, &carol.address, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let late = register(&mut client, &carol, &code).await;
    let (kind, e) = error_of(&late).expect("refused");
    assert_eq!(kind, ClientErrorKind::Unauthorized);
    assert!(e.message.contains("expired"), "{}", e.message);
    assert_eq!(alpha.gateway.head().size, size);
    alpha.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_bad_ik_or_prekey_signatures_are_refused() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let mut client = TestClient::connect(alpha.addr()).await;
    let bob = Account::new("bob@alpha.test", 1);
    let code = issue(&alpha, &bob.address, 3600).await;
    let size = alpha.gateway.head().size;
    let other = Account::new("bob@alpha.test", 2);

    // Someone who learnt the code but does not hold IK: the registration signature fails.
    let mut forged = bob.registration(&code);
    forged.signature = other.registration(&code).signature;
    // A prekey IK never signed (the gateway would bind a prekey the owner does not have).
    let mut swapped = bob.registration(&code);
    swapped.signed_prekey = vec![9; 32];
    // A registration signature made for another code cannot be replayed with this one.
    let mut replayed = bob.registration(&code);
    replayed.signature = bob.registration("another-code").signature;
    for request in [forged, swapped, replayed] {
        let answer =
            TestClient::request(&mut client, client_request::Request::Register(request)).await;
        assert_eq!(refusal(&answer), Some(ClientErrorKind::InvalidEntry));
    }
    assert_eq!(alpha.gateway.head().size, size);
    // Signature failures do not burn the code or the account's attempts.
    let ok = register(&mut client, &bob, &code).await;
    assert!(error_of(&ok).is_none(), "{ok:?}");
    alpha.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_foreign_and_disabled_accounts_cannot_register() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let mut client = TestClient::connect(alpha.addr()).await;
    let size = alpha.gateway.head().size;
    let nobody = Account::new("nobody@alpha.test", 4);
    let foreign = Account::new("bob@beta.test", 5);
    for account in [&nobody, &foreign] {
        let answer = register(&mut client, account, "some-code").await;
        assert_eq!(refusal(&answer), Some(ClientErrorKind::Unauthorized));
    }
    // A pending account disabled before it registered.
    let dave = Account::new("dave@alpha.test", 6);
    let code = issue(&alpha, &dave.address, 3600).await;
    let report = alpha
        .gateway
        .intake()
        .disable(dave.address.clone())
        .await
        .unwrap();
    assert_eq!(report.revocation_index, None);
    let answer = register(&mut client, &dave, &code).await;
    assert_eq!(refusal(&answer), Some(ClientErrorKind::Unauthorized));
    assert_eq!(alpha.gateway.head().size, size);
    alpha.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_logs_a_revocation_that_the_binding_answer_shows() {
    let (alpha, beta) = pair().await;
    let mut client = TestClient::connect(alpha.addr()).await;
    let addr = alpha.gateway.http_addr();
    let token = alpha.admin_token();

    // The operator enrols bob through the admin API (the token is required).
    let body = br#"{"account": "bob@alpha.test"}"#;
    let (status, _) = http(addr, "POST", "/admin/accounts", None, Some(body)).await;
    assert_eq!(status, 401);
    assert_eq!(state(&alpha, "bob@alpha.test"), None);
    let (status, answer) = http(addr, "POST", "/admin/accounts", Some(&token), Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    let added: AccountAdded = serde_json::from_str(&answer).unwrap();
    assert_eq!(added.account.state, "pending");
    let bob = Account::new("bob@alpha.test", 1);
    let ack = register(&mut client, &bob, &added.enrolment_code).await;
    assert!(error_of(&ack).is_none(), "{ack:?}");
    // Operators' mistakes are refused with a reason.
    for (body, expected) in [
        (&br#"{"account": "bob@alpha.test"}"#[..], 409),
        (br#"{"account": "Bob@alpha.test"}"#, 400),
        (br#"{"account": "bob@beta.test"}"#, 400),
        (br#"{"account": "bob@alpha.test", "x": 1}"#, 400),
    ] {
        let (status, answer) =
            http(addr, "POST", "/admin/accounts", Some(&token), Some(body)).await;
        assert_eq!(status, expected, "{answer}");
    }

    let (status, answer) = http(
        addr,
        "POST",
        "/admin/accounts/disable",
        Some(&token),
        Some(br#"{"account": "bob@alpha.test"}"#),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let report: DisableReport = serde_json::from_str(&answer).unwrap();
    let revocation_index = report.revocation_index.expect("a revocation was logged");
    assert_eq!(report.revoked_key, Some(hex::encode(bob.key())));
    let (status, _) = http(
        addr,
        "POST",
        "/admin/accounts/disable",
        Some(&token),
        Some(br#"{"account": "bob@alpha.test"}"#),
    )
    .await;
    assert_eq!(status, 409, "disabling twice");

    // The binding answer carries the revocation, proven in the same cosigned checkpoint.
    let trust = own_trust(&mut client).await;
    let answer = binding(&mut client, "bob@alpha.test").await;
    assert_eq!(answer.revocations.len(), 1);
    let bound = verify_binding(&trust, answer.binding.as_ref().unwrap(), now(), 60).unwrap();
    let revoked = verify_revocation(&trust, &answer.revocations[0], now(), 60).unwrap();
    assert_eq!(revoked.index(), revocation_index);
    assert_eq!(revoked.identity_key(), &bob.key());
    assert!(matches!(
        bound.bound_at(revoked.in_force_from(), std::slice::from_ref(&revoked)),
        Err(NotBound::Revoked { .. })
    ));

    // A disabled account cannot publish.
    let published = bob.publish(&mut client, req_hash(1)).await;
    assert_eq!(refusal(&published), Some(ClientErrorKind::Unauthorized));

    // Re-enrolled with a new key (the revoked one is refused), the binding answer moves on.
    let (_, answer) = http(addr, "POST", "/admin/accounts", Some(&token), Some(body)).await;
    let again: AccountAdded = serde_json::from_str(&answer).unwrap();
    let refused = register(&mut client, &bob, &again.enrolment_code).await;
    assert_eq!(refusal(&refused), Some(ClientErrorKind::Unauthorized));
    let bob2 = Account::new("bob@alpha.test", 11);
    let ok = register(&mut client, &bob2, &again.enrolment_code).await;
    assert!(error_of(&ok).is_none(), "{ok:?}");
    let answer = binding(&mut client, "bob@alpha.test").await;
    let bound = verify_binding(&trust, answer.binding.as_ref().unwrap(), now(), 60).unwrap();
    assert_eq!(bound.identity_key(), &bob2.key());
    assert_eq!(answer.revocations.len(), 1);

    let (status, answer) = http(addr, "GET", "/admin/accounts", Some(&token), None).await;
    assert_eq!(status, 200);
    let list: AccountList = serde_json::from_str(&answer).unwrap();
    assert_eq!(list.accounts.len(), 1);
    assert_eq!(list.accounts[0].state, "active");
    assert_eq!(list.accounts[0].revoked_keys, 1);
    alpha.stop().await;
    beta.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_lookups_are_not_found_or_pending_until_cosigned() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let mut client = TestClient::connect(alpha.addr()).await;
    let ask = |account: &str| {
        client_request::Request::Binding(pb::BindingRequest {
            account: account.to_owned(),
        })
    };
    let answer = client.request(ask("bob@alpha.test")).await;
    assert_eq!(refusal(&answer), Some(ClientErrorKind::NotFound));
    // Logged, but alpha has no witness yet: nothing is cosigned, so the answer is PENDING.
    let bob = Account::new("bob@alpha.test", 1);
    enrol(&alpha, &mut client, &bob).await;
    let answer = client.request(ask("bob@alpha.test")).await;
    let (kind, e) = error_of(&answer).expect("refused");
    assert_eq!(kind, ClientErrorKind::Pending);
    assert!(e.retry_after_ms > 0);
    // Without witnesses there is no trust list to give either.
    let answer = client
        .request(client_request::Request::Trust(pb::TrustRequest {}))
        .await;
    assert_eq!(refusal(&answer), Some(ClientErrorKind::NotFound));
    // Once a witness is registered and cosigns, the same request is answered.
    let beta = Domain::start("beta.test", |_| {}).await;
    register_all(&[&alpha, &beta]).await;
    let answer = binding(&mut client, "bob@alpha.test").await;
    assert!(answer.binding.is_some());
    let answer = client
        .request(client_request::Request::Trust(pb::TrustRequest {}))
        .await;
    let Some(client_response::Response::Trust(list)) = answer.response else {
        panic!("{answer:?}")
    };
    // alpha describes beta's log with the witnesses alpha knows for it: itself.
    assert_eq!(list.peers.len(), 1);
    assert_eq!(list.peers[0].log_key, beta.keys.log_verifier().to_string());
    assert_eq!(
        list.peers[0].witness_keys,
        vec![alpha.keys.witness_verifier().to_string()]
    );
    assert_eq!(
        list.own.unwrap().witness_keys,
        vec![beta.keys.witness_verifier().to_string()]
    );
    alpha.stop().await;
    beta.stop().await;
}

/// Enrolments of different accounts do not wait for each other: registered at once, they are
/// bound in the same sequencing rounds (one at a time, four registrations would need four
/// rounds, so four checkpoints).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_of_different_accounts_share_sequencing_rounds() {
    let alpha = Domain::start("alpha.test", |c| c.sequence_interval_ms = 1000).await;
    let accounts: Vec<Account> = (0..4)
        .map(|i| Account::new(&format!("user{i}@alpha.test"), 10 + i))
        .collect();
    let mut codes = Vec::new();
    let mut clients = Vec::new();
    for account in &accounts {
        codes.push(issue(&alpha, &account.address, 3600).await);
        clients.push(TestClient::connect(alpha.addr()).await);
    }
    let answers = futures::future::join_all(
        clients
            .iter_mut()
            .zip(&accounts)
            .zip(&codes)
            .map(|((client, account), code)| register(client, account, code)),
    )
    .await;
    let mut checkpoints = std::collections::BTreeSet::new();
    for answer in &answers {
        let Some(client_response::Response::Submitted(ack)) = &answer.response else {
            panic!("{answer:?}");
        };
        checkpoints.insert(ack.checkpoint.as_ref().unwrap().note.clone());
    }
    assert!(
        checkpoints.len() <= 2,
        "4 registrations took {} sequencing rounds",
        checkpoints.len()
    );
    for account in &accounts {
        assert!(matches!(
            state(&alpha, &account.address),
            Some(AccountState::Active { identity_key, .. }) if identity_key == account.key()
        ));
    }
    alpha.stop().await;
}

/// Two keys racing to register one account with its one code: exactly one is bound, the other
/// is refused, and the log holds one binding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_racing_one_code_with_two_keys_binds_exactly_one() {
    let alpha = Domain::start("alpha.test", |c| c.sequence_interval_ms = 500).await;
    let bob = Account::new("bob@alpha.test", 1);
    let mallory = Account::new("bob@alpha.test", 66);
    let code = issue(&alpha, &bob.address, 3600).await;
    let size = alpha.gateway.head().size;
    let mut c1 = TestClient::connect(alpha.addr()).await;
    let mut c2 = TestClient::connect(alpha.addr()).await;
    let (a, b) = tokio::join!(
        register(&mut c1, &bob, &code),
        register(&mut c2, &mallory, &code)
    );
    let won: Vec<&Account> = [(&a, &bob), (&b, &mallory)]
        .into_iter()
        .filter_map(|(answer, who)| error_of(answer).is_none().then_some(who))
        .collect();
    assert_eq!(won.len(), 1, "{a:?} / {b:?}");
    for answer in [&a, &b] {
        if let Some(kind) = refusal(answer) {
            assert_eq!(kind, ClientErrorKind::Unauthorized);
        }
    }
    assert_eq!(alpha.gateway.head().size, size + 1, "one binding appended");
    assert!(matches!(
        state(&alpha, &bob.address),
        Some(AccountState::Active { identity_key, .. }) if identity_key == won[0].key()
    ));
    alpha.stop().await;
}

/// A registration a crash interrupted before its binding reached the log (the account left
/// "binding"): the next start finds no binding and makes the account pending again with the
/// same code, which then registers normally. (With the binding in the log, the start completes
/// the activation instead: `testnet/tests/enrolment_crash.rs`, on a real SIGKILL.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_left_in_flight_without_its_binding_is_pending_again_after_restart() {
    use herald_node::accounts::{AccountBook, code_hash};
    use herald_node::store::LogStore;
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let bob = Account::new("bob@alpha.test", 1);
    let code = issue(&alpha, &bob.address, 3600).await;
    let stopped = alpha.stop().await;
    {
        // What the crash left: the binding recorded as in flight, nothing appended.
        let store = LogStore::open(stopped.config.store_dir()).unwrap();
        let book = AccountBook::open(store.db(), "alpha.test").unwrap();
        let h = code_hash(&bob.address, &code);
        let size = store.head().size;
        let password = herald_node::accounts::PasswordEntry::from_wire(
            &crate::certmail_support::password_record(&bob.address),
        )
        .unwrap();
        book.begin_binding(&bob.address, &h, [9; 32], size, &password)
            .unwrap();
        assert_eq!(book.in_flight().unwrap().len(), 1);
    }
    let alpha = stopped.start().await;
    assert!(matches!(
        state(&alpha, &bob.address),
        Some(AccountState::Pending { .. })
    ));
    let mut client = TestClient::connect(alpha.addr()).await;
    let ok = register(&mut client, &bob, &code).await;
    assert!(error_of(&ok).is_none(), "{ok:?}");
    assert!(matches!(
        state(&alpha, &bob.address),
        Some(AccountState::Active { identity_key, .. }) if identity_key == bob.key()
    ));
    alpha.stop().await;
}
