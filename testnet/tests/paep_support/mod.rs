//! What the PAEP tests share (`login.rs`, `prekeys.rs`): an account registered with a password
//! on a real node, a login run step by step with proto's machines over the wire (so that a
//! test can keep, replay and reorder each message and frame), and metric reading.
#![allow(dead_code)] // Each test crate uses a different part.

use ed25519_dalek::SigningKey;
use herald_light_client::keystore::{MemoryKeyStore, SecureKeyStore as _};
use herald_light_client::{ClientError, Gateway, GatewayClient, password_record, registration};
use herald_proto::paep::{
    Argon2Params, AwaitingChallenge, Channel, LoginContext, ProverSecrets, Ristretto255Blake3,
};
use herald_proto::wire::pb;
use herald_testnet::Testnet;
use herald_testnet::node_api;
use herald_testnet::testnet::testnet_password_params;

/// Every test account's password.
pub(crate) const PASSWORD: &[u8] = b"correct horse battery staple";

/// Unix seconds now.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The domain of node `i`.
pub(crate) fn domain(i: usize) -> String {
    format!("d{i}.test")
}

/// Enrols `account` at node `i` and registers a key store for it (IK from `seed`) with
/// `PASSWORD`; the key store is returned (it holds IK and the binding's fallback prekey).
pub(crate) async fn register(net: &Testnet, i: usize, account: &str, seed: u8) -> MemoryKeyStore {
    let code = net
        .node(i)
        .enrol(account, None)
        .await
        .unwrap()
        .enrolment_code;
    let mut keys =
        MemoryKeyStore::with_identity(account, SigningKey::from_bytes(&[seed; 32])).unwrap();
    let record = password_record(PASSWORD, account, testnet_password_params())
        .await
        .unwrap();
    let request = registration(&mut keys, &code, record).unwrap();
    let client = net.client(i).await.unwrap();
    client.register(request).await.unwrap();
    keys
}

/// The prover's secrets for `password` at node `i`'s domain, with the testnet's costs.
pub(crate) fn secrets(
    account: &str,
    password: &[u8],
    i: usize,
) -> ProverSecrets<Ristretto255Blake3> {
    ProverSecrets::derive(password, account, &domain(i), testnet_password_params()).unwrap()
}

/// The three login messages of one completed login, as they travelled.
pub(crate) struct Transcript {
    pub share: pb::LoginShare,
    pub challenge: pb::LoginChallenge,
    pub confirm: pb::LoginConfirm,
}

/// A login run with proto's machines over `client`: the channel and what travelled.
pub(crate) async fn raw_login(
    client: &GatewayClient,
    account: &str,
    secrets: ProverSecrets<Ristretto255Blake3>,
    i: usize,
) -> Result<(Channel, Transcript), ClientError> {
    let (state, share) = AwaitingChallenge::start(
        LoginContext::herald(account, &domain(i)),
        secrets,
        now(),
        &mut rand_core::UnwrapErr(getrandom::SysRng),
    );
    let challenge = client.login_share(share.clone()).await?;
    let (logged_in, confirm) = state
        .handle(&challenge, now())
        .expect("confirmV verifies for the right password");
    let accepted = client.login_finish(account, confirm.clone()).await?;
    let channel = logged_in
        .into_channel(now(), accepted.expires_at.saturating_sub(now()))
        .unwrap();
    Ok((
        channel,
        Transcript {
            share,
            challenge,
            confirm,
        },
    ))
}

/// A `prekey_status` session request.
pub(crate) fn status_request() -> pb::SessionRequest {
    pb::SessionRequest {
        request: Some(pb::session_request::Request::PrekeyStatus(
            pb::PrekeyStatusRequest {},
        )),
    }
}

/// The refusal kind of a failed call, if the gateway refused.
pub(crate) fn refusal(e: &ClientError) -> Option<pb::ClientErrorKind> {
    match e {
        ClientError::Refused(r) => Some(r.kind),
        _ => None,
    }
}

/// The value of one labelled counter in node `i`'s `/metrics` (0 when absent).
pub(crate) async fn counter(net: &Testnet, i: usize, name: &str, kind: &str) -> f64 {
    let text = node_api::metrics(net.node(i).http_addr()).await.unwrap();
    let prefix = format!("{name}_total{{kind=\"{kind}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The testnet's offered Argon2id costs.
pub(crate) fn params() -> Argon2Params {
    testnet_password_params()
}

/// IK of a key store.
pub(crate) fn identity_key(keys: &MemoryKeyStore) -> [u8; 32] {
    keys.identity().unwrap().key.to_bytes()
}
