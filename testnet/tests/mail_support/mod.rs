//! What the mail tests share (`mail.rs`, `mail_batch.rs`): a logged-in session at a node, the
//! testnet's domain logs as trust, a send that waits out a binding not yet cosigned, and a
//! bounded wait for a mailbox to fill.
#![allow(dead_code)] // Each test crate uses a different part.

use std::time::Duration;

use herald_light_client::keystore::MemoryKeyStore;
use herald_light_client::{GatewayClient, LogTrust, MemorySessionStore, Session, SessionError};
use herald_proto::wire::pb;
use herald_testnet::Testnet;

use crate::paep_support::{PASSWORD, now, refusal};

/// Clock skew the clients allow, seconds.
pub(crate) const SKEW: u64 = 60;
/// Bound on a binding being cosigned and served after registration, and on a relay.
pub(crate) const WITHIN: Duration = Duration::from_secs(40);

/// `account` logged in at node `i`.
pub(crate) async fn login(
    net: &Testnet,
    i: usize,
    account: &str,
) -> (GatewayClient, Session<MemorySessionStore>) {
    let client = net.client(i).await.unwrap();
    let session = Session::login(&client, account, PASSWORD, MemorySessionStore::new())
        .await
        .unwrap();
    (client, session)
}

/// Every domain log of the testnet.
pub(crate) fn trusts(net: &Testnet) -> Vec<LogTrust> {
    (0..net.len()).map(|i| net.log_trust(i).unwrap()).collect()
}

/// Whether `e` is the gateway's PENDING (a binding not yet cosigned).
pub(crate) fn pending(e: &SessionError) -> bool {
    matches!(e, SessionError::Gateway(c) if refusal(c) == Some(pb::ClientErrorKind::Pending))
}

/// Sends `plaintext` from the session's account to `to`, retrying while a binding is pending.
pub(crate) async fn send(
    net: &Testnet,
    client: &GatewayClient,
    session: &mut Session<MemorySessionStore>,
    keys: &mut MemoryKeyStore,
    to: &str,
    msg_id: &[u8],
    plaintext: &[u8],
) -> pb::MailAccepted {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        match session
            .send_mail(
                client,
                keys,
                to,
                &trusts(net),
                msg_id,
                plaintext,
                0,
                now(),
                SKEW,
            )
            .await
        {
            Err(e) if pending(&e) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other.unwrap(),
        }
    }
}

/// Waits (bounded) until the session's mailbox lists `n` mails; returns the listing.
pub(crate) async fn inbox_of(
    client: &GatewayClient,
    session: &mut Session<MemorySessionStore>,
    n: usize,
) -> pb::Inbox {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let inbox = session.inbox(client).await.unwrap();
        if inbox.entries.len() >= n || tokio::time::Instant::now() >= deadline {
            return inbox;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
