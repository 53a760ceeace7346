//! `herald prekeys status|top-up`: the account's prekeys at its gateway (DESIGN §3.2), over the
//! session of `herald login`. The prekeys are made inside the key store, which keeps their
//! secrets; only public halves signed by IK are uploaded.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use herald_light_client::DEFAULT_PREKEY_TARGET;
use herald_light_client::keystore::SecureKeyStore as _;
use herald_proto::paep::PrekeyKind;
use serde_json::json;

use super::args::KeyStoreArgs;
use super::connection::{GatewayArgs, runtime};
use super::login::{hint, open_session};

/// `herald prekeys ...`.
#[derive(Debug, Subcommand)]
pub(super) enum PrekeysCommand {
    /// How many one-time prekeys the gateway still holds for the account, whether it has
    /// handed the fallback prekey out, and how many prekey secrets the key store keeps.
    Status(StatusArgs),
    /// Upload new one-time prekeys until the gateway holds --target of them (and a new fallback
    /// prekey if the gateway handed the old one out).
    TopUp(TopUpArgs),
}

/// `herald prekeys status`.
#[derive(Debug, Args)]
pub(super) struct StatusArgs {
    #[command(flatten)]
    keys: KeyStoreArgs,
    #[command(flatten)]
    gateway: GatewayArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// `herald prekeys top-up`.
#[derive(Debug, Args)]
pub(super) struct TopUpArgs {
    #[command(flatten)]
    keys: KeyStoreArgs,
    #[command(flatten)]
    gateway: GatewayArgs,
    /// How many one-time prekeys the gateway should hold afterwards.
    #[arg(long, default_value_t = DEFAULT_PREKEY_TARGET, value_name = "N")]
    target: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs `herald prekeys ...`.
pub(super) fn main(command: PrekeysCommand) -> ExitCode {
    let (json, result) = match command {
        PrekeysCommand::Status(args) => (args.json, status(args)),
        PrekeysCommand::TopUp(args) => (args.json, top_up(args)),
    };
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

fn status(args: StatusArgs) -> anyhow::Result<()> {
    let (keys, mut session) = open_session(&args.keys)?;
    let status = runtime()?.block_on(async {
        let gateway = args.gateway.connect().await?;
        anyhow::Ok(session.prekey_status(&gateway).await?)
    })?;
    let held = keys.prekeys();
    let one_time_held = held
        .iter()
        .filter(|p| p.kind == PrekeyKind::OneTime)
        .count();
    if args.json {
        let v = json!({
            "account": session.account(),
            "one_time_remaining": status.one_time_remaining,
            "fallback_used": status.fallback_used,
            "secrets_held": { "one_time": one_time_held, "fallback": held.len() - one_time_held },
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        println!("account          {}", session.account());
        println!(
            "one-time left    {} at the gateway",
            status.one_time_remaining
        );
        println!(
            "fallback         {}",
            if status.fallback_used {
                "handed out since it was uploaded (top up to replace it)"
            } else {
                "not handed out"
            }
        );
        println!(
            "key store        {} one-time and {} fallback prekey secrets",
            one_time_held,
            held.len() - one_time_held
        );
    }
    Ok(())
}

fn top_up(args: TopUpArgs) -> anyhow::Result<()> {
    let (mut keys, mut session) = open_session(&args.keys)?;
    let done = runtime()?.block_on(async {
        let gateway = args.gateway.connect().await?;
        anyhow::Ok(
            session
                .top_up_prekeys(&gateway, &mut keys, args.target)
                .await?,
        )
    })?;
    if args.json {
        let v = json!({
            "account": session.account(),
            "uploaded": done.uploaded,
            "new_fallback": done.new_fallback,
            "one_time_remaining": done.status.one_time_remaining,
            "fallback_used": done.status.fallback_used,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        println!("account          {}", session.account());
        println!(
            "uploaded         {} one-time prekeys{}",
            done.uploaded,
            if done.new_fallback {
                " and a new fallback prekey"
            } else {
                ""
            }
        );
        println!(
            "one-time left    {} at the gateway",
            done.status.one_time_remaining
        );
    }
    Ok(())
}
