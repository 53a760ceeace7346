//! A node's data directory while it is not running: [`init`] makes it, [`stored_head`] reads
//! its log, [`make_data_dir_private`] keeps it 0700.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use herald_light_client::durable_file::{self, CreateError};
use herald_proto::checkpoint::WitnessVerifier;
use herald_proto::note::NoteVerifier;
use libp2p::PeerId;

use super::GatewayError;
use super::error::{file_error, io_error};
use crate::admin;
use crate::config::NodeConfig;
use crate::keys::NodeKeys;
use crate::store::{LogHead, LogStore};

/// What `init` made.
#[derive(Debug)]
pub struct InitReport {
    /// The configuration file written.
    pub config_path: PathBuf,
    /// The log's verifier key (clients pin it).
    pub log_key: NoteVerifier,
    /// The witness's verifier key (peers register it).
    pub witness_key: WitnessVerifier,
    /// The libp2p peer id.
    pub peer_id: PeerId,
}

/// Initialises a node in `config.data_dir`, which must be missing or empty: generates the keys
/// and the admin token (files 0600), creates the empty log with `config.hash`, and writes
/// `config` as the documented TOML file `herald-node.toml`. Blocking (file system and sled).
pub fn init(config: &NodeConfig) -> Result<InitReport, GatewayError> {
    config.validate()?;
    let dir = &config.data_dir;
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(GatewayError::DataDirNotEmpty(dir.clone()));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_error(dir))?,
        Err(e) => return Err(io_error(dir)(e)),
    }
    // An empty directory the operator made keeps the mode it was made with: tightened here.
    make_data_dir_private(dir)?;
    let keys = NodeKeys::generate(&config.domain)?;
    keys.write_new(&config.key_dir())?;
    crate::keys::login_secret(&config.key_dir())?;
    crate::keys::mailbox_key(&config.key_dir())?;
    drop(LogStore::create(
        config.store_dir(),
        &config.origin(),
        config.hash,
    )?);
    let config_path = NodeConfig::default_file(dir);
    durable_file::create(&config_path, config.to_toml().as_bytes()).map_err(|e| match e {
        CreateError::Exists { path } => GatewayError::DataDirNotEmpty(path),
        CreateError::Io(e) => file_error(e),
    })?;
    admin::ensure_token(&config.admin_token_path())?;
    Ok(InitReport {
        config_path,
        log_key: keys.log_verifier(),
        witness_key: keys.witness_verifier(),
        peer_id: keys.peer_id(),
    })
}

/// Sets the data directory's mode to 0700 if it allows its group or others anything (the keys
/// are 0600 on their own, but the database, node.json and the logs are not); whether it did.
/// Called by `init` and at every start, so a directory made (or loosened) by hand is made
/// private all the same.
pub fn make_data_dir_private(dir: &Path) -> Result<bool, GatewayError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = fs::metadata(dir)
        .map_err(io_error(dir))?
        .permissions()
        .mode();
    if mode & 0o077 == 0 {
        return Ok(false);
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_error(dir))?;
    Ok(true)
}

/// The head stored in a stopped node's data directory. Fails if the node is running (the
/// store is locked). Blocking.
pub fn stored_head(config: &NodeConfig) -> Result<LogHead, GatewayError> {
    Ok(LogStore::open(config.store_dir())?.head())
}
