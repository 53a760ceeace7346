//! What the certified-mail tests share: enrolling accounts on in-process gateways (started with
//! `witness_support::Domain`, registered as each other's witnesses so checkpoints get
//! cosigned), the certified-mail client requests, and waiting out `PENDING`.
#![allow(dead_code)]

use std::time::Duration;

use ed25519_dalek::SigningKey;
use herald_proto::entry::{
    MailParties, PublicationOpening, SealedKeyPublication, sign_fallback_prekey, sign_registration,
};
use herald_proto::inclusion::LogTrust;
use herald_proto::wire::pb::{self, client_request, client_response};
use prost::Message as _;

use crate::network_support::{TestClient, error_of};
use crate::witness_support::{Domain, WAIT};

/// Unix seconds now.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// An account's client side: its address, identity key and fallback prekey.
pub(crate) struct Account {
    pub address: String,
    pub identity: SigningKey,
    pub prekey: [u8; 32],
}

/// A password record as a client sends it, claiming the costs the node offers by default
/// (derived here with cheap costs: the gateway cannot tell, and these tests do not log in).
pub(crate) fn password_record(account: &str) -> pb::PasswordRecord {
    let domain = account.rsplit_once('@').map_or("", |(_, d)| d);
    let cheap = herald_proto::paep::Argon2Params::new(64, 1, 1).unwrap();
    herald_proto::paep::ProverSecrets::<herald_proto::paep::Ristretto255Blake3>::derive(
        b"test password",
        account,
        domain,
        cheap,
    )
    .unwrap()
    .record()
    .to_pb(herald_proto::paep::Argon2Params::RECOMMENDED)
}

impl Account {
    /// The account `address` with keys made from `seed`.
    pub(crate) fn new(address: &str, seed: u8) -> Self {
        Account {
            address: address.to_owned(),
            identity: SigningKey::from_bytes(&[seed; 32]),
            prekey: [seed.wrapping_add(100); 32],
        }
    }

    /// IK's public key.
    pub(crate) fn key(&self) -> [u8; 32] {
        self.identity.verifying_key().to_bytes()
    }

    /// The registration request with `code`, signed as a client signs it.
    pub(crate) fn registration(&self, code: &str) -> pb::RegisterAccount {
        pb::RegisterAccount {
            account: self.address.clone(),
            identity_key: self.key().to_vec(),
            signed_prekey: self.prekey.to_vec(),
            signed_prekey_signature: sign_fallback_prekey(
                &self.identity,
                &self.address,
                &self.prekey,
            )
            .to_vec(),
            enrolment_code: code.to_owned(),
            signature: sign_registration(&self.identity, &self.address, &self.prekey, code)
                .to_vec(),
            password: Some(password_record(&self.address)),
        }
    }

    /// The salt of the test mail `req_hash` (a real client derives it from the request).
    pub(crate) fn salt(&self, req_hash: [u8; 32]) -> [u8; 32] {
        blake3::derive_key("herald test mail salt", &req_hash)
    }

    /// The parties of this account's test mail `req_hash` to bob@beta.test.
    pub(crate) fn parties(&self, req_hash: [u8; 32]) -> MailParties {
        MailParties::new(self.salt(req_hash), &self.address, RECIPIENT).unwrap()
    }

    /// The opening sent beside this account's publication for `req_hash`.
    pub(crate) fn opening(&self, req_hash: [u8; 32]) -> pb::PublicationOpening {
        PublicationOpening {
            parties: self.parties(req_hash),
            author_key: self.key(),
        }
        .to_pb()
    }

    /// A sealed key publication by this account for `req_hash`, encoded.
    pub(crate) fn publication(&self, req_hash: [u8; 32]) -> Vec<u8> {
        self.publication_of(req_hash, *blake3::hash(&req_hash).as_bytes())
    }

    /// A sealed key publication for `req_hash` of the ciphertext `ciphertext_hash`, encoded.
    pub(crate) fn publication_of(&self, req_hash: [u8; 32], ciphertext_hash: [u8; 32]) -> Vec<u8> {
        let parties = self.parties(req_hash);
        let (author_commitment, recipient_commitment) = parties.commitments();
        SealedKeyPublication {
            req_hash,
            ciphertext_hash,
            ephemeral_key: [5; 32],
            wrapped_key: [6; 32],
            author_commitment,
            recipient_commitment,
            created: now(),
        }
        .sign(&self.identity, parties.salt())
        .encode_to_vec()
    }

    /// Submits this account's publication for `req_hash` with its opening.
    pub(crate) async fn publish(
        &self,
        client: &mut TestClient,
        req_hash: [u8; 32],
    ) -> pb::ClientResponse {
        client
            .submit_with(self.publication(req_hash), Some(self.opening(req_hash)))
            .await
    }
}

/// The recipient of the tests' certified mail.
pub(crate) const RECIPIENT: &str = "bob@beta.test";

/// Issues an enrolment code for `address` on `domain`'s gateway.
pub(crate) async fn issue(domain: &Domain, address: &str, valid_for: u64) -> String {
    let (code, _) = domain
        .gateway
        .intake()
        .issue_code(address.to_owned(), valid_for)
        .await
        .expect("code issued");
    code.as_str().to_owned()
}

/// Sends `request` and returns the response.
pub(crate) async fn ask(
    client: &mut TestClient,
    request: client_request::Request,
) -> pb::ClientResponse {
    client.request(request).await
}

/// The error kind of `response`, if it is a refusal.
pub(crate) fn refusal(response: &pb::ClientResponse) -> Option<pb::ClientErrorKind> {
    error_of(response).map(|(kind, _)| kind)
}

/// Registers `account` with `code`; the raw response.
pub(crate) async fn register(
    client: &mut TestClient,
    account: &Account,
    code: &str,
) -> pb::ClientResponse {
    ask(
        client,
        client_request::Request::Register(account.registration(code)),
    )
    .await
}

/// Enrols `account` on `domain` (code, registration) and returns the binding's ack.
pub(crate) async fn enrol(
    domain: &Domain,
    client: &mut TestClient,
    account: &Account,
) -> pb::SubmitAck {
    let code = issue(domain, &account.address, 3600).await;
    match register(client, account, &code).await.response {
        Some(client_response::Response::Submitted(ack)) => ack,
        other => panic!("registration refused: {other:?}"),
    }
}

/// Asks `request` until the answer is not `PENDING` (bounded by `WAIT`).
pub(crate) async fn settled(
    client: &mut TestClient,
    request: client_request::Request,
) -> pb::ClientResponse {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let response = ask(client, request.clone()).await;
        match error_of(&response) {
            Some((pb::ClientErrorKind::Pending, e)) => {
                assert!(e.retry_after_ms > 0, "PENDING without a retry time");
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "still pending after {WAIT:?}"
                );
                tokio::time::sleep(Duration::from_millis(e.retry_after_ms.min(200))).await;
            }
            _ => return response,
        }
    }
}

/// The publication for `req_hash`, once cosigned.
pub(crate) async fn publication(client: &mut TestClient, req_hash: [u8; 32]) -> pb::IncludedLeaf {
    let request = client_request::Request::Publication(pb::PublicationRequest {
        req_hash: req_hash.to_vec(),
    });
    match settled(client, request).await.response {
        Some(client_response::Response::Included(leaf)) => leaf,
        other => panic!("no publication: {other:?}"),
    }
}

/// The binding answer for `address`, once cosigned.
pub(crate) async fn binding(client: &mut TestClient, address: &str) -> pb::BindingAnswer {
    let request = client_request::Request::Binding(pb::BindingRequest {
        account: address.to_owned(),
    });
    match settled(client, request).await.response {
        Some(client_response::Response::Binding(b)) => b,
        other => panic!("no binding: {other:?}"),
    }
}

/// The gateway's own log as its trust list describes it, as a verifier's `LogTrust`.
pub(crate) async fn own_trust(client: &mut TestClient) -> LogTrust {
    match ask(client, client_request::Request::Trust(pb::TrustRequest {}))
        .await
        .response
    {
        Some(client_response::Response::Trust(list)) => {
            LogTrust::from_pb(list.own.as_ref().expect("own log")).expect("a valid LogTrust")
        }
        other => panic!("no trust list: {other:?}"),
    }
}

/// A req_hash made from `n`.
pub(crate) fn req_hash(n: u64) -> [u8; 32] {
    *blake3::hash(format!("request {n}").as_bytes()).as_bytes()
}
