//! `herald-node account add|disable|list`: this domain's accounts (DESIGN §4).
//!
//! With the node running these are admin API calls (`/admin/accounts`). Otherwise they open the
//! stopped node's database and change it through the same types the node uses
//! ([`AccountBook`], and for disabling an active account [`Intake::disable`] with a
//! sequencer of its own, so the `IdentityRevocation` is appended and flushed exactly as the
//! running node would; the witnesses cosign it when the node runs again).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use prometheus_client::registry::Registry;

use super::admin::{call_json, running_node};
use super::read_config;
use crate::accounts::api::{
    AccountAdd, AccountAdded, AccountDisable, AccountList, MAX_ACCOUNTS_LISTED,
};
use crate::accounts::attempts::EnrolmentMetrics;
use crate::accounts::{
    AccountBook, AccountState, AccountView, DEFAULT_CODE_VALIDITY_SECS, MAX_CODE_VALIDITY_SECS,
};
use crate::clock::{Clock, SystemClock};
use crate::config::NodeConfig;
use crate::gateway::open_intake;
use crate::keys::NodeKeys;
use crate::peers::PeerRegistry;
use crate::sequencer::{Sequencer, SequencerConfig};
use crate::service::DisableReport;
use crate::store::LogStore;

#[derive(Subcommand, Debug)]
pub(super) enum AccountCommand {
    /// Enrol an account: prints a one-time enrolment code for its owner (shown once).
    Add(AddArgs),
    /// Disable an account; if it is active, its identity key's revocation is logged first.
    Disable(DisableArgs),
    /// List the accounts.
    List(ListArgs),
}

#[derive(Args, Debug)]
pub(super) struct AddArgs {
    /// The configuration file.
    #[arg(long, env = "HERALD_CONFIG")]
    config: PathBuf,
    /// The account's address, e.g. bob@beta.test (this node's domain, lower case).
    account: String,
    /// Days the code is valid (1 to 90).
    #[arg(long, default_value_t = DEFAULT_CODE_VALIDITY_SECS / 86_400)]
    valid_days: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub(super) struct DisableArgs {
    /// The configuration file.
    #[arg(long, env = "HERALD_CONFIG")]
    config: PathBuf,
    /// The account's address.
    account: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub(super) struct ListArgs {
    /// The configuration file.
    #[arg(long, env = "HERALD_CONFIG")]
    config: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn open_store(config: &NodeConfig) -> anyhow::Result<LogStore> {
    LogStore::open(config.store_dir()).with_context(|| {
        format!(
            "opening {} (is the node running?)",
            config.store_dir().display()
        )
    })
}

fn now_secs() -> u64 {
    SystemClock.now_ms() / 1000
}

pub(super) fn account(command: AccountCommand) -> anyhow::Result<()> {
    match command {
        AccountCommand::Add(a) => add(a),
        AccountCommand::Disable(a) => disable(a),
        AccountCommand::List(a) => list(a),
    }
}

fn add(a: AddArgs) -> anyhow::Result<()> {
    let config = read_config(&a.config)?;
    let valid_for = a.valid_days.saturating_mul(86_400);
    if valid_for == 0 || valid_for > MAX_CODE_VALIDITY_SECS {
        bail!(
            "--valid-days must be 1 to {}",
            MAX_CODE_VALIDITY_SECS / 86_400
        );
    }
    let added = match running_node(&config) {
        Some(node) => {
            let body = AccountAdd {
                account: a.account,
                valid_for_secs: Some(valid_for),
            };
            call_json::<AccountAdded>(&node, "POST", "/admin/accounts", Some(&body))?
        }
        None => {
            let store = open_store(&config)?;
            let book = AccountBook::open(store.db(), &config.domain)?;
            let (code, record) = book.issue_code(&a.account, now_secs(), valid_for)?;
            AccountAdded {
                account: record.view(),
                enrolment_code: code.as_str().to_owned(),
            }
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&added)?);
    } else {
        println!(
            "enrolment code for {}: {}",
            added.account.account, added.enrolment_code
        );
        if let Some(expires) = added.account.code_expires {
            println!("valid until:  {expires} (Unix seconds); shown this once");
        }
    }
    Ok(())
}

fn disable(a: DisableArgs) -> anyhow::Result<()> {
    let config = read_config(&a.config)?;
    let report = match running_node(&config) {
        Some(node) => {
            let body = AccountDisable { account: a.account };
            call_json::<DisableReport>(&node, "POST", "/admin/accounts/disable", Some(&body))?
        }
        None => disable_offline(&config, a.account)?,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        match report.revocation_index {
            Some(index) => println!(
                "disabled {}; revocation of key {} logged at index {index}",
                report.account,
                report.revoked_key.as_deref().unwrap_or("?")
            ),
            None => println!("disabled {} (it had no key bound)", report.account),
        }
    }
    Ok(())
}

/// Disables an account of a stopped node: a pending one in the book alone; an active one
/// through [`crate::service::Intake::disable`] with a sequencer started for it.
fn disable_offline(config: &NodeConfig, account: String) -> anyhow::Result<DisableReport> {
    let store = open_store(config)?;
    let book = AccountBook::open(store.db(), &config.domain)?;
    let record = book
        .get(&account)?
        .with_context(|| format!("no account {account}"))?;
    // Active, or binding (a registration a crash interrupted, which opening the certified-mail
    // side settles first): through the sequencer. Pending or disabled: the book alone.
    if matches!(
        record.state,
        AccountState::Pending { .. } | AccountState::Disabled { .. }
    ) {
        book.mark_disabled(&account, None, now_secs())?;
        return Ok(DisableReport {
            account,
            revoked_key: None,
            revocation_index: None,
        });
    }
    let keys = NodeKeys::load(&config.key_dir(), &config.domain)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let mut registry = Registry::default();
        let (sequencer, task) = Sequencer::spawn(
            store.clone(),
            keys.log.clone(),
            SequencerConfig::default(),
            &mut registry,
        )
        .context("starting a sequencer on the stopped node's log")?;
        let peers = PeerRegistry::open(store.db(), &config.domain, keys.peer_id())?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let metrics = EnrolmentMetrics::register(&mut registry);
        let intake =
            open_intake(config, &keys, &store, &sequencer, &peers, &clock, metrics).await?;
        let disabled = intake.disable(account).await;
        sequencer.shutdown();
        task.await
            .context("the sequencer task failed")?
            .context("the sequencer stopped on an error")?;
        Ok(disabled?)
    })
}

fn list(a: ListArgs) -> anyhow::Result<()> {
    let config = read_config(&a.config)?;
    let accounts: Vec<AccountView> = match running_node(&config) {
        Some(node) => {
            call_json::<AccountList>(&node, "GET", "/admin/accounts", None::<&()>)?.accounts
        }
        None => {
            let store = open_store(&config)?;
            let book = AccountBook::open(store.db(), &config.domain)?;
            book.list(MAX_ACCOUNTS_LISTED)?
                .iter()
                .map(|r| r.view())
                .collect()
        }
    };
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&AccountList { accounts })?
        );
        return Ok(());
    }
    if accounts.is_empty() {
        println!("no account");
    }
    for v in accounts {
        let detail = match v.state.as_str() {
            "pending" => format!("code valid until {}", v.code_expires.unwrap_or(0)),
            "active" => format!(
                "key {} bound at index {}",
                v.identity_key.as_deref().unwrap_or("?"),
                v.binding_index.unwrap_or(0)
            ),
            "binding" => format!(
                "key {} being bound; settled when the node next starts",
                v.identity_key.as_deref().unwrap_or("?")
            ),
            _ => match v.revocation_index {
                Some(i) => format!("key revoked at index {i}"),
                None => "never registered".to_owned(),
            },
        };
        println!("{} {} ({detail})", v.account, v.state);
    }
    Ok(())
}
