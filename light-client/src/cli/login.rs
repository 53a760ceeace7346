//! `herald login`, `herald logout` and `herald account password`: the account's session with
//! its gateway (PAEP, DESIGN §3.1).
//!
//! The session is kept in `<state-dir>/session`, encrypted under a key derived from the key
//! store's (so it opens only with the key store's passphrase), mode 0600 in the private state
//! directory, until it expires or `herald logout` ends it. Commands that act for the account
//! (`herald prekeys ...`, `herald account password`) use it; each saves it before every frame it
//! sends.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use herald_light_client::keystore::{FileKeyStore, SecureKeyStore as _, strength};
use herald_light_client::{FileSessionStore, Session, SessionError};
use serde_json::json;

use super::args::KeyStoreArgs;
use super::connection::{GatewayArgs, runtime};
use super::password::PasswordArgs;

/// The file of the saved session, in the state directory.
const SESSION_FILE: &str = "session";
/// What the session file's key is derived for (`FileKeyStore::file_key`).
const SESSION_KEY_PURPOSE: &str = "session";

/// `herald login`.
#[derive(Debug, Args)]
pub(super) struct LoginArgs {
    #[command(flatten)]
    keys: KeyStoreArgs,
    #[command(flatten)]
    gateway: GatewayArgs,
    #[command(flatten)]
    password: PasswordArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// `herald logout`.
#[derive(Debug, Args)]
pub(super) struct LogoutArgs {
    #[command(flatten)]
    keys: KeyStoreArgs,
    #[command(flatten)]
    gateway: GatewayArgs,
}

/// `herald account password`.
#[derive(Debug, Args)]
pub(super) struct PasswordChangeArgs {
    #[command(flatten)]
    keys: KeyStoreArgs,
    #[command(flatten)]
    gateway: GatewayArgs,
    /// Where the new password comes from (the current one was given at `herald login`).
    #[command(flatten)]
    password: PasswordArgs,
}

/// The session store of the key store `keys` opened.
pub(super) fn session_store(
    args: &KeyStoreArgs,
    keys: &FileKeyStore,
) -> anyhow::Result<FileSessionStore> {
    let dir = args.private_state_dir()?;
    Ok(FileSessionStore::new(
        dir.join(SESSION_FILE),
        keys.file_key(SESSION_KEY_PURPOSE),
    ))
}

/// The key store and the live session of its account.
pub(super) fn open_session(
    args: &KeyStoreArgs,
) -> anyhow::Result<(FileKeyStore, Session<FileSessionStore>)> {
    let keys = args.open()?;
    let account = keys
        .identity()
        .context("the key store holds no identity key (herald account init)")?
        .account;
    let session = match Session::resume(session_store(args, &keys)?) {
        Err(SessionError::NoSession) => bail!("not logged in (herald login)"),
        other => other?,
    };
    if session.account() != account {
        return Err(SessionError::OtherAccount {
            session: session.account().to_owned(),
            expected: account,
        }
        .into());
    }
    Ok((keys, session))
}

/// The message of a failure that needs a new login.
pub(super) fn hint(e: &anyhow::Error) -> Option<&'static str> {
    e.downcast_ref::<SessionError>()
        .filter(|s| s.needs_login())
        .map(|_| "the session is over or out of step; log in again (herald login)")
}

fn finish(result: anyhow::Result<()>, json: bool) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(hint) = hint(&e) {
                eprintln!("herald: {hint}");
            }
            super::report(&e, json)
        }
    }
}

/// Runs `herald login`.
pub(super) fn login(args: LoginArgs) -> ExitCode {
    let json = args.json;
    finish(run_login(args), json)
}

fn run_login(args: LoginArgs) -> anyhow::Result<()> {
    let keys = args.keys.open()?;
    let account = keys
        .identity()
        .context("the key store holds no identity key (herald account init)")?
        .account;
    let password = args.password.password()?;
    let store = session_store(&args.keys, &keys)?;
    let session = runtime()?.block_on(async {
        let gateway = args.gateway.connect().await?;
        anyhow::Ok(Session::login(&gateway, &account, &password, store).await?)
    })?;
    if args.json {
        let v = json!({
            "account": account,
            "session_id": hex::encode(session.session_id()),
            "expires_at": session.expires_at(),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        println!("logged in     {account}");
        println!("session until {} (Unix seconds)", session.expires_at());
    }
    Ok(())
}

/// Runs `herald logout`.
pub(super) fn logout(args: LogoutArgs) -> ExitCode {
    finish(run_logout(args), false)
}

fn run_logout(args: LogoutArgs) -> anyhow::Result<()> {
    let keys = args.keys.open()?;
    let session = match Session::resume(session_store(&args.keys, &keys)?) {
        Err(SessionError::NoSession) => {
            println!("not logged in");
            return Ok(());
        }
        other => other?,
    };
    let account = session.account().to_owned();
    runtime()?.block_on(async {
        let gateway = args.gateway.connect().await?;
        anyhow::Ok(session.logout(&gateway).await?)
    })?;
    println!("logged out    {account}");
    Ok(())
}

/// Runs `herald account password`.
pub(super) fn change_password(args: PasswordChangeArgs) -> ExitCode {
    finish(run_change_password(args), false)
}

fn run_change_password(args: PasswordChangeArgs) -> anyhow::Result<()> {
    let (_keys, mut session) = open_session(&args.keys)?;
    let password = args.password.new_password()?;
    strength::check_passphrase(&password).context("the new password")?;
    runtime()?.block_on(async {
        let gateway = args.gateway.connect().await?;
        anyhow::Ok(session.change_password(&gateway, &password).await?)
    })?;
    println!(
        "password of {} changed; the next login uses it",
        session.account()
    );
    Ok(())
}
