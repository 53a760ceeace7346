//! [`Party`]: one account's owner on a testnet, holding what the `herald` light client holds —
//! an encrypted key store with the identity key, the certified-mail records, and the trusted
//! checkpoints of the logs it follows — in a directory of its own.
//!
//! A party registers with [`PASSWORD`] as its account password (the record derived with the
//! gateway's offered costs, as `herald account register` does).
//!
//! Everything protocol-shaped is the light client's: registration requests and their checks
//! ([`registration`], [`TrustedLog::register`]), binding lookups ([`TrustedLog::binding`]),
//! trust lists, cosigned checkpoints, and the certified-mail driver ([`CertMail`], reached with
//! [`Party::mail`]). This file only wires them to the testnet's nodes and bounds every wait.
//!
//! The timing of the testnet's locations is set here once ([`CLOCK_SKEW_SECS`] and the rest):
//! every node runs on this machine's clock and sequences within a second, so the bounds are
//! small and the tests that wait past a deadline stay short.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use herald_light_client::certmail::{
    CertMail, CertifiedMailError, DirRecordStore, Opened, SenderConfig, SenderPolicy, SenderStep,
};
use herald_light_client::keystore::{FileKeyStore, KdfParams, KeyStoreError, SecureKeyStore};
use herald_light_client::{
    CheckedTrustList, ClientError, FileCheckpointStore, Gateway, GatewayClient, Polling,
    Registered, TrustedLog, VerifiedBindingAnswer, offered_password_record, registration,
};
use herald_proto::certmail::Location;
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::inclusion::LogTrust;
use herald_proto::wire::pb;

use crate::error::TestnetError;
use crate::testnet::Testnet;

/// δ of the testnet's locations, seconds: all nodes share this machine's clock.
pub const CLOCK_SKEW_SECS: u64 = 2;
/// MMD of the testnet's locations, seconds: a leaf is in a signed checkpoint within a round.
pub const MAX_MERGE_DELAY_SECS: u64 = 2;
/// How long a sender allows the witnesses to cosign, seconds.
pub const WITNESS_PERIOD_SECS: u64 = 1;
/// A sender's margin before T, seconds.
pub const MARGIN_SECS: u64 = 1;
/// The furthest deadline a sender accepts, seconds from now.
pub const MAX_WAIT_SECS: u64 = 24 * 3600;
/// The passphrase of every testnet key store: these are throwaway accounts.
pub const PASSPHRASE: &[u8] = b"herald testnet throwaway passphrase";
/// The account password every testnet party registers (throwaway too).
pub const PASSWORD: &[u8] = b"herald testnet throwaway password";
/// Argon2id costs cheap enough for tests that make many key stores: the floor a new store
/// may have ([`herald_light_client::keystore::strength`]).
pub const CHEAP_KDF: KdfParams = KdfParams {
    memory_kib: herald_light_client::keystore::strength::MIN_MEMORY_KIB,
    iterations: herald_light_client::keystore::strength::MIN_ITERATIONS,
    parallelism: 1,
};
/// Bound on a wait for a binding or a cosigned checkpoint to be served.
pub const SERVED_WITHIN: Duration = Duration::from_secs(30);

/// The certified-mail driver of a party: its key store and its records.
pub type Mail = CertMail<FileKeyStore, DirRecordStore>;

/// Why a party's step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PartyError {
    /// The testnet could not do its part (enrolment, a connection).
    #[error(transparent)]
    Testnet(#[from] TestnetError),
    /// The key store could not be made or used.
    #[error("key store: {0}")]
    KeyStore(#[from] KeyStoreError),
    /// The password record could not be made (the gateway's parameters, Argon2id).
    #[error("password: {0}")]
    Password(#[from] herald_light_client::SessionError),
    /// A gateway failed, refused, or misbehaved (the light client's verdict).
    #[error("{domain}: {source}")]
    Gateway {
        /// The gateway's domain.
        domain: String,
        /// The light client's error.
        source: Box<ClientError>,
    },
    /// The party's home directory exists and is not empty.
    #[error("{0} is not empty")]
    HomeInUse(PathBuf),
}

/// What enrolment did (for the demo's account of it).
#[derive(Clone, Debug)]
pub struct Enrolment {
    /// The one-time code the operator issued.
    pub code: String,
    /// The binding the gateway logged, verified by the light client.
    pub registered: Registered,
    /// The encrypted key store holding IK.
    pub key_store: PathBuf,
}

/// One account's owner (see the module docs).
#[derive(Debug)]
pub struct Party {
    account: String,
    domain: usize,
    home: PathBuf,
    mail: Mail,
    checkpoints: FileCheckpointStore,
}

impl Party {
    /// Enrols `account` at node `domain` and registers a fresh identity key for it: the
    /// operator's enrolment code (admin API), a key store at `<home>/keystore` with IK made
    /// inside it, and the registration, whose acknowledgement the light client verifies (the
    /// leaf is the gateway-signed binding of exactly this account and key).
    pub async fn enrol(
        net: &Testnet,
        domain: usize,
        account: &str,
        home: &Path,
        kdf: KdfParams,
    ) -> Result<(Party, Enrolment), PartyError> {
        if home.read_dir().is_ok_and(|mut d| d.next().is_some()) {
            return Err(PartyError::HomeInUse(home.to_owned()));
        }
        let added = net.node(domain).enrol(account, None).await?;
        let key_store = home.join("keystore");
        // Argon2id is deliberately slow: off the async threads.
        let path = key_store.clone();
        let owner = account.to_owned();
        let mut keys = tokio::task::spawn_blocking(move || {
            let mut keys = FileKeyStore::create(&path, PASSPHRASE, kdf)?;
            keys.create_identity(&owner)?;
            Ok::<_, KeyStoreError>(keys)
        })
        .await
        .map_err(|e| TestnetError::Options(format!("key store task: {e}")))??;
        let client = net.client(domain).await?;
        // The password's record with the gateway's parameters, as `herald account register`.
        let record = offered_password_record(&client, PASSWORD, account).await?;
        let request = registration(&mut keys, &added.enrolment_code, record)?;
        let checkpoints = FileCheckpointStore::new(home.join("checkpoints"));
        let mut log = TrustedLog::open(client, net.log_identity(domain)?, &checkpoints)
            .map_err(|e| gateway_error(net, domain, e))?;
        let registered = log
            .register(request)
            .await
            .map_err(|e| gateway_error(net, domain, e))?;
        let party = Party {
            account: account.to_owned(),
            domain,
            home: home.to_owned(),
            mail: CertMail::new(keys, DirRecordStore::new(home.join("certmail"))),
            checkpoints: FileCheckpointStore::new(home.join("checkpoints")),
        };
        Ok((
            party,
            Enrolment {
                code: added.enrolment_code,
                registered,
                key_store,
            },
        ))
    }

    /// The account's address.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The index of the account's home domain in the testnet.
    pub fn domain(&self) -> usize {
        self.domain
    }

    /// The party's directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The key store alone (the certified-mail records stay on disk), for a client that
    /// drives the account's ordinary mail (chaos's mail load).
    pub fn into_keys(self) -> FileKeyStore {
        self.mail.into_parts().0
    }

    /// The certified-mail driver (key store and records).
    pub fn mail(&mut self) -> &mut Mail {
        &mut self.mail
    }

    /// The certified-mail driver, read only.
    pub fn mail_ref(&self) -> &Mail {
        &self.mail
    }

    /// The checkpoints this party trusts, one per log it follows.
    pub fn checkpoints(&self) -> &FileCheckpointStore {
        &self.checkpoints
    }

    /// Step (c) over the network for the sent mail `msg_id` at `gateway` (a gateway of X), with
    /// this party's trusted checkpoints: the light client's [`CertMail::publish`].
    pub async fn publish<G: Gateway>(
        &mut self,
        gateway: G,
        msg_id: &[u8],
        polling: &Polling,
    ) -> Result<Vec<SenderStep>, CertifiedMailError> {
        self.mail
            .publish(gateway, &self.checkpoints, msg_id, polling)
            .await
    }

    /// Step (d) over the network for the request `req_hash` at `gateway` (a gateway of X),
    /// with this party's trusted checkpoints: the light client's [`CertMail::fetch`].
    pub async fn fetch<G: Gateway>(
        &mut self,
        gateway: &G,
        req_hash: &[u8; 32],
        polling: &Polling,
    ) -> Result<Opened, CertifiedMailError> {
        self.mail
            .fetch(gateway, req_hash, &self.checkpoints, polling)
            .await
    }

    /// The logs its home gateway trusts, checked by the light client against the home log.
    pub async fn trust_list(&self, net: &Testnet) -> Result<CheckedTrustList, PartyError> {
        let log = TrustedLog::open(
            net.client(self.domain).await?,
            net.log_identity(self.domain)?,
            &self.checkpoints,
        )
        .map_err(|e| gateway_error(net, self.domain, e))?;
        log.trust_list()
            .await
            .map_err(|e| gateway_error(net, self.domain, e))
    }

    /// `account`'s binding as node `domain` serves it, verified under `trust` (that domain's
    /// log and witness policy) and consistent with the checkpoint this party trusts for it.
    /// Asks again while the binding is not yet covered by a cosigned checkpoint, at most
    /// [`SERVED_WITHIN`].
    pub async fn binding(
        &self,
        net: &Testnet,
        domain: usize,
        account: &str,
        trust: &LogTrust,
    ) -> Result<VerifiedBindingAnswer, PartyError> {
        let mut log = self.follow_log(net, domain, trust).await?;
        let deadline = tokio::time::Instant::now() + SERVED_WITHIN;
        loop {
            match log.binding(trust, account, CLOCK_SKEW_SECS).await {
                Err(e) if not_yet(&e) && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => return other.map_err(|e| gateway_error(net, domain, e)),
            }
        }
    }

    /// Trusts node `domain`'s latest checkpoint cosigned as `trust` requires (the gateway's
    /// alerts against the log are checked first), proved consistent with the one trusted
    /// before; waits for one at most [`SERVED_WITHIN`]. Returns it.
    pub async fn follow(
        &self,
        net: &Testnet,
        domain: usize,
        trust: &LogTrust,
    ) -> Result<VerifiedCheckpoint, PartyError> {
        let mut log = self.follow_log(net, domain, trust).await?;
        let deadline = tokio::time::Instant::now() + SERVED_WITHIN;
        loop {
            match log.refresh().await {
                Err(e) if not_yet(&e) && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => {
                    return other
                        .map(|update| update.checkpoint)
                        .map_err(|e| gateway_error(net, domain, e));
                }
            }
        }
    }

    /// Node `domain`'s log as this party follows it: its trusted checkpoint, and only
    /// checkpoints cosigned as `trust` requires.
    pub async fn follow_log<'a>(
        &'a self,
        net: &Testnet,
        domain: usize,
        trust: &LogTrust,
    ) -> Result<TrustedLog<GatewayClient, &'a FileCheckpointStore>, PartyError> {
        let followed = trust.clone().with_max_skew(CLOCK_SKEW_SECS);
        TrustedLog::open(net.client(domain).await?, followed, &self.checkpoints)
            .map_err(|e| gateway_error(net, domain, e))
    }
}

/// What a sender on the testnet accepts: publishing at `offered` (its own domain's log), with
/// the testnet's timing, checking recipients' bindings in `recipient_domains`.
pub fn sender_config(
    offered: Location,
    recipient_domains: Vec<LogTrust>,
    optimistic: bool,
) -> SenderConfig {
    SenderConfig {
        policy: SenderPolicy {
            locations: vec![offered],
            witness_period: WITNESS_PERIOD_SECS,
            margin: MARGIN_SECS,
            max_wait: MAX_WAIT_SECS,
            max_clock_skew: CLOCK_SKEW_SECS,
            optimistic,
        },
        recipient_domains,
    }
}

/// The earliest deadline a sender with [`sender_config`] accepts at `now`.
pub fn earliest_deadline(now: u64) -> u64 {
    now + MAX_MERGE_DELAY_SECS + WITNESS_PERIOD_SECS + MARGIN_SECS
}

/// Polling of a gateway until `for_secs` from now, every 50 ms to 1 s.
pub fn polling(for_secs: u64) -> Polling {
    Polling {
        until: unix_now().saturating_add(for_secs),
        min_interval: Duration::from_millis(50),
        max_interval: Duration::from_secs(1),
    }
}

/// The system clock, Unix seconds (the light client's steps take time as an argument).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The operating system's randomness, for the light client's steps.
pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// "Not served yet": pending, not found, or not cosigned yet — worth asking again.
fn not_yet(e: &ClientError) -> bool {
    match e {
        ClientError::Refused(r) if r.kind == pb::ClientErrorKind::NotFound => true,
        ClientError::Verification(v) => {
            matches!(**v, herald_light_client::VerifyError::NotCosigned { .. })
        }
        // Pending, busy, a transport failure or a timeout.
        other => other.is_retryable(),
    }
}

fn gateway_error(net: &Testnet, domain: usize, source: ClientError) -> PartyError {
    PartyError::Gateway {
        domain: net
            .nodes()
            .get(domain)
            .map_or_else(|| format!("node {domain}"), |n| n.domain().to_owned()),
        source: Box::new(source),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use herald_light_client::{ClientError, GatewayRefusal};
    use herald_proto::wire::pb::ClientErrorKind;

    use super::not_yet;

    fn refusal(kind: ClientErrorKind) -> ClientError {
        ClientError::Refused(GatewayRefusal {
            kind,
            message: String::new(),
            retry_after: Some(Duration::from_millis(10)),
            tree_size: None,
        })
    }

    #[test]
    fn only_not_yet_served_answers_are_asked_again() {
        // A binding or checkpoint that is not covered yet comes later: ask again.
        for kind in [
            ClientErrorKind::Pending,
            ClientErrorKind::NotFound,
            ClientErrorKind::Busy,
        ] {
            assert!(not_yet(&refusal(kind)), "{kind:?}");
        }
        // A refusal on the merits, or a gateway caught lying, ends the wait at once.
        for kind in [
            ClientErrorKind::Unauthorized,
            ClientErrorKind::Forbidden,
            ClientErrorKind::InvalidEntry,
        ] {
            assert!(!not_yet(&refusal(kind)), "{kind:?}");
        }
        assert!(!not_yet(&ClientError::InvalidRequest("x".into())));
    }
}
