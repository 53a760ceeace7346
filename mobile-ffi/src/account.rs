//! [`HeraldAccount`]: one account — its key store (the light client's encrypted file, or the
//! app's [`SecureKeyStore`]), its registration with its gateway, and the light client's
//! certified-mail driver over both (the steps are in `certified_mail.rs`).
//!
//! Accounts live under `<state dir>/accounts/<account>/` (key store file, records). Calls on one
//! account run one at a time (a publish or a fetch holds the account while it waits).

use std::path::PathBuf;
use std::sync::Arc;

use herald_light_client::certmail::{CertMail, DirRecordStore};
use herald_light_client::keystore::{FileKeyStore, KdfParams, SecureKeyStore as _};
use herald_light_client::{SessionError, offered_password_record, registration};
use herald_proto::wire::MAX_ENROLMENT_CODE_BYTES;

use crate::client::{ClientState, HeraldClient, check_account};
use crate::error::HeraldError;
use crate::key_store::{AccountKeys, AppKeyStore, SecureKeyStore};
use crate::runtime::{Runtime, guard};
use crate::session::Mailbox;

/// Longest passphrase, in bytes.
pub const MAX_PASSPHRASE_BYTES: usize = 1024;

/// The driver of one account.
pub(crate) type Mail = CertMail<AccountKeys, DirRecordStore>;

/// What registering the account logged: its binding, in a checkpoint signed by its domain's log
/// (cosigned a moment later; [`HeraldClient::lookup_binding`] then finds it).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Registration {
    /// The binding's leaf index.
    pub index: u64,
    /// Its Merkle leaf hash (for [`HeraldClient::prove_inclusion`]).
    pub leaf_hash: Vec<u8>,
    /// The size of the log's checkpoint that includes it.
    pub tree_size: u64,
    /// The identity key bound.
    pub identity_key: Vec<u8>,
}

/// One account (see the module docs).
#[derive(uniffi::Object)]
pub struct HeraldAccount {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) state: Arc<AccountState>,
}

impl std::fmt::Debug for HeraldAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeraldAccount")
            .field("account", &self.state.account)
            .finish_non_exhaustive()
    }
}

/// What an account's calls share. Lock order: `mail` (the key store) before `mailbox`.
pub(crate) struct AccountState {
    pub(crate) client: Arc<ClientState>,
    pub(crate) account: String,
    identity_key: Vec<u8>,
    /// `<state dir>/accounts/<account>/`.
    pub(crate) dir: PathBuf,
    /// `None` only for the length of a registration, which needs the key store by value.
    pub(crate) mail: tokio::sync::Mutex<Option<Mail>>,
    /// The session at the home gateway and what reading mail keeps (`session.rs`).
    pub(crate) mailbox: tokio::sync::Mutex<Mailbox>,
}

/// The account's directory: its address must be a plain file name.
fn account_dir(state: &ClientState, account: &str) -> Result<PathBuf, HeraldError> {
    check_account(account)?;
    let plain = account.len() <= 200
        && !account.starts_with('.')
        && account
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@._+-".contains(&b));
    if !plain {
        return Err(HeraldError::bad_input(format!(
            "account {account:?}: only letters, digits and @._+- (at most 200 bytes)"
        )));
    }
    Ok(state.config.state_dir.join("accounts").join(account))
}

fn check_passphrase(passphrase: &str) -> Result<(), HeraldError> {
    if passphrase.is_empty() || passphrase.len() > MAX_PASSPHRASE_BYTES {
        return Err(HeraldError::bad_input(format!(
            "passphrase: 1 to {MAX_PASSPHRASE_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Runs blocking key-store work (Argon2id, an app's store) off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, HeraldError> + Send + 'static,
) -> Result<T, HeraldError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        if e.is_panic() {
            HeraldError::from_panic(e.into_panic().as_ref())
        } else {
            HeraldError::internal(format!("key store task: {e}"))
        }
    })?
}

impl HeraldClient {
    async fn account_from(
        &self,
        account: String,
        open: impl FnOnce(PathBuf) -> Result<AccountKeys, HeraldError> + Send + 'static,
    ) -> Result<Arc<HeraldAccount>, HeraldError> {
        let dir = guard(|| account_dir(&self.state, &account))?;
        let client = self.state.clone();
        let state = self
            .runtime
            .run(async move {
                let keys = blocking(move || {
                    // The key store, the session and the records: 0600 files in a 0700 directory.
                    herald_light_client::durable_file::make_private_dir(&dir).map_err(|e| {
                        HeraldError::internal(format!("creating {}: {e}", dir.display()))
                    })?;
                    open(dir.clone()).map(|keys| (keys, dir))
                })
                .await?;
                let (keys, dir) = keys;
                let identity = keys
                    .identity()
                    .ok_or_else(|| HeraldError::internal("the key store holds no identity"))?;
                if identity.account != account {
                    return Err(HeraldError::bad_input(format!(
                        "the key store is {}'s, not {account}'s",
                        identity.account
                    )));
                }
                Ok(AccountState {
                    client,
                    account,
                    identity_key: identity.key.to_bytes().to_vec(),
                    mail: tokio::sync::Mutex::new(Some(CertMail::new(
                        keys,
                        DirRecordStore::new(dir.join("certmail")),
                    ))),
                    mailbox: tokio::sync::Mutex::new(Mailbox::default()),
                    dir,
                })
            })
            .await?;
        Ok(Arc::new(HeraldAccount {
            runtime: self.runtime.clone(),
            state: Arc::new(state),
        }))
    }
}

#[uniffi::export]
impl HeraldClient {
    /// Creates `account`'s identity key in a new encrypted key store file in the state
    /// directory (Argon2id from `passphrase`, ChaCha20-Poly1305). Refused if one exists.
    pub async fn create_account(
        &self,
        account: String,
        passphrase: String,
    ) -> Result<Arc<HeraldAccount>, HeraldError> {
        guard(|| check_passphrase(&passphrase))?;
        let owner = account.clone();
        self.account_from(account, move |dir| {
            let mut keys = FileKeyStore::create(
                dir.join("keystore"),
                passphrase.as_bytes(),
                KdfParams::DEFAULT,
            )?;
            keys.create_identity(&owner)?;
            Ok(AccountKeys::File(keys))
        })
        .await
    }

    /// Opens `account`'s encrypted key store file. [`HeraldError::BadPassword`] for a wrong
    /// passphrase, [`HeraldError::KeyStoreLocked`] while another handle has it open.
    pub async fn open_account(
        &self,
        account: String,
        passphrase: String,
    ) -> Result<Arc<HeraldAccount>, HeraldError> {
        guard(|| check_passphrase(&passphrase))?;
        self.account_from(account, move |dir| {
            Ok(AccountKeys::File(FileKeyStore::open(
                dir.join("keystore"),
                passphrase.as_bytes(),
            )?))
        })
        .await
    }

    /// `account` with the app's own key store: its identity key is created inside the store if
    /// it has none (see [`SecureKeyStore`] for what such an account can do today).
    pub async fn account_with_key_store(
        &self,
        account: String,
        store: Arc<dyn SecureKeyStore>,
    ) -> Result<Arc<HeraldAccount>, HeraldError> {
        let owner = account.clone();
        self.account_from(account, move |_| {
            Ok(AccountKeys::App(AppKeyStore::open(store, &owner)?))
        })
        .await
    }
}

impl HeraldAccount {
    /// Runs `work` with the account's driver, on the runtime.
    pub(crate) async fn with_mail<T, F>(
        &self,
        origin: Option<String>,
        work: F,
    ) -> Result<T, HeraldError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a ClientState, &'a mut Mail) -> futures_box::BoxFuture<'a, T>
            + Send
            + 'static,
    {
        let state = self.state.clone();
        self.runtime
            .run(async move {
                let mut slot = state.mail.lock().await;
                let mail = slot
                    .as_mut()
                    .ok_or_else(|| HeraldError::internal("the account's key store was lost"))?;
                let result = work(&state.client, mail).await;
                state.client.told(origin.as_deref(), result).await
            })
            .await
    }
}

/// Boxed futures borrowing the account's state (the closures above cannot name their type).
pub(crate) mod futures_box {
    use std::future::Future;
    use std::pin::Pin;

    use crate::error::HeraldError;

    pub(crate) type BoxFuture<'a, T> =
        Pin<Box<dyn Future<Output = Result<T, HeraldError>> + Send + 'a>>;
}

/// Longest account password accepted.
pub(crate) const MAX_PASSWORD_BYTES: usize = 1024;

pub(crate) fn check_len(what: &str, bytes: &[u8], max: usize) -> Result<(), HeraldError> {
    if bytes.is_empty() || bytes.len() > max {
        return Err(HeraldError::bad_input(format!("{what}: 1 to {max} bytes")));
    }
    Ok(())
}

#[uniffi::export]
impl HeraldAccount {
    /// The account's address.
    pub fn account(&self) -> String {
        self.state.account.clone()
    }

    /// Its identity key IK (Ed25519, 32 bytes).
    pub fn identity_key(&self) -> Vec<u8> {
        self.state.identity_key.clone()
    }

    /// Registers the account's identity key with its gateway, with the operator's one-time
    /// `enrolment_code`, and sets the account's `password` (1 to 1024 bytes of UTF-8; only its
    /// SPAKE2+ record, derived here with the gateway's Argon2id costs, is sent); the
    /// registration is signed inside the key store (works with an app's store). Returns once
    /// the binding is logged, verified to be exactly this account and key.
    pub async fn register(
        &self,
        enrolment_code: String,
        password: String,
    ) -> Result<Registration, HeraldError> {
        guard(|| {
            check_len(
                "enrolment_code",
                enrolment_code.as_bytes(),
                MAX_ENROLMENT_CODE_BYTES,
            )?;
            check_len("password", password.as_bytes(), MAX_PASSWORD_BYTES)
        })?;
        let password = zeroize::Zeroizing::new(password);
        let state = self.state.clone();
        let home = state.client.config.home().origin().to_owned();
        self.runtime
            .run(async move {
                let result = register(&state, &home, &enrolment_code, password.as_bytes()).await;
                state.client.told(Some(&home), result).await
            })
            .await
    }
}

async fn register(
    state: &AccountState,
    home: &str,
    code: &str,
    password: &[u8],
) -> Result<Registration, HeraldError> {
    let mut log = state.client.follow(home).await?;
    let record = offered_password_record(log.gateway(), password, &state.account)
        .await
        .map_err(|e| match e {
            SessionError::Gateway(e) => HeraldError::from(e),
            other => HeraldError::internal(format!("the password record: {other}")),
        })?;
    let mut slot = state.mail.lock().await;
    let mail = slot
        .take()
        .ok_or_else(|| HeraldError::internal("the account's key store was lost"))?;
    let (mut keys, records) = mail.into_parts();
    let request = registration(&mut keys, code, record);
    // The driver is whole again before anything can fail.
    *slot = Some(CertMail::new(keys, records));
    drop(slot);
    let request = request?;
    let registered = log.register(request).await?;
    Ok(Registration {
        index: registered.entry.index(),
        leaf_hash: registered.entry.inclusion().leaf_hash().to_vec(),
        tree_size: registered.entry.inclusion().checkpoint().size(),
        identity_key: registered.binding.identity_key.to_vec(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::HeraldConfig;
    use crate::config::tests::sample;

    pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// A client whose gateway nobody listens at, in a fresh state directory.
    pub(crate) fn offline_client() -> (tempfile::TempDir, Arc<HeraldClient>) {
        let dir = tempfile::tempdir().unwrap();
        let config = HeraldConfig {
            state_dir: dir.path().join("state").to_string_lossy().into_owned(),
            ..sample()
        };
        (dir, HeraldClient::new(config).unwrap())
    }

    pub(crate) fn bad_input<T: std::fmt::Debug>(r: Result<T, HeraldError>) {
        assert!(matches!(r, Err(HeraldError::BadInput { .. })), "{r:?}");
    }

    #[test]
    fn account_names_and_passphrases_out_of_bounds_are_refused() {
        bad_input(check_passphrase(""));
        bad_input(check_passphrase(&"p".repeat(MAX_PASSPHRASE_BYTES + 1)));
        bad_input(check_len("code", &[], 64));
        bad_input(check_len("code", &[0; 65], 64));
        let (_dir, client) = offline_client();
        for account in [
            "../x@d0.test",
            ".hidden@d0.test",
            "a/b@d0.test",
            "no-domain",
            "",
        ] {
            bad_input(account_dir(&client.state, account));
        }
        assert!(account_dir(&client.state, "alice+tag@d0.test").is_ok());
        bad_input(block_on(
            client.create_account("x@d0.test".into(), String::new()),
        ));
    }

    /// Reliability review item 12: every file holding a secret is 0600 in a 0700 directory.
    /// The state and account directories were made with the process's umask (0755), so the
    /// key store sat in a directory anyone could list; a state directory that already existed
    /// open is tightened too.
    #[test]
    fn an_accounts_key_store_is_private_in_private_directories() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
        let client = HeraldClient::new(HeraldConfig {
            state_dir: state.to_string_lossy().into_owned(),
            ..sample()
        })
        .unwrap();
        let alice = block_on(client.create_account(
            "alice@d0.test".into(),
            "correct horse battery staple".into(),
        ))
        .unwrap();
        let home = account_dir(&client.state, "alice@d0.test").unwrap();
        assert_eq!(mode(&state), 0o700, "the state directory");
        assert_eq!(mode(&home), 0o700, "the account's directory");
        assert_eq!(mode(&home.join("keystore")), 0o600, "the key store");
        drop(alice);
    }

    #[test]
    fn a_store_in_use_and_a_wrong_passphrase_are_told_apart() {
        let (_dir, client) = offline_client();
        let passphrase = "correct horse battery staple".to_owned();
        let alice =
            block_on(client.create_account("alice@d0.test".into(), passphrase.clone())).unwrap();
        assert_eq!(alice.account(), "alice@d0.test");
        assert_eq!(alice.identity_key().len(), 32);
        bad_input(block_on(alice.register(
            "c".repeat(MAX_ENROLMENT_CODE_BYTES + 1),
            "a password".into(),
        )));
        bad_input(block_on(alice.register("code".into(), String::new())));
        bad_input(block_on(
            alice.register("code".into(), "p".repeat(MAX_PASSWORD_BYTES + 1)),
        ));
        // A second handle while the first lives: locked, not a wrong passphrase.
        let err =
            block_on(client.open_account("alice@d0.test".into(), passphrase.clone())).unwrap_err();
        assert!(matches!(err, HeraldError::KeyStoreLocked { .. }), "{err:?}");
        bad_input(block_on(
            client.create_account("alice@d0.test".into(), passphrase.clone()),
        ));
        drop(alice);
        let err =
            block_on(client.open_account("alice@d0.test".into(), "wrong".into())).unwrap_err();
        assert_eq!(err, HeraldError::BadPassword);
        let again = block_on(client.open_account("alice@d0.test".into(), passphrase)).unwrap();
        assert_eq!(again.identity_key().len(), 32);
    }
}
