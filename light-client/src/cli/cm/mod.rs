//! `herald cm ...`: certified mail between two people. By default its messages travel as mail
//! through the gateways (`mail`, `inbox`, `ask`, in `by_mail.rs`); the file-based commands
//! below carry them as files, for offline use.
//!
//! The steps that need no gateway: `send` (a), `request` (b), `accept` (A checks B's request),
//! and the optimistic variant's `send-key` / `open-key` / `receipt`, then `evidence`. Each
//! command opens the key store, loads the mail's record from `<state-dir>/certmail`, runs one
//! step of the library driver ([`herald_light_client::certmail::CertMail`]) and writes what
//! goes to the other party to `--out`.

mod by_mail;
pub(super) mod files;
mod network;
mod steps;
pub(super) mod when;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use herald_light_client::certmail::CertifiedMailError;
use herald_light_client::{AbsenceBuildError, ClientError};
use herald_proto::certmail::CertMailError;
use herald_proto::evidence::AbsenceError;
use serde_json::json;

use super::args::KeyStoreArgs;
use super::connection::GatewayArgs;
use super::mail::TrustDirArgs;

/// Exit statuses of `herald cm`.
pub(super) const CM_EXIT_STATUS: &str = "\
Exit status:
  0  success
  1  failure: bad arguments, unreadable files, the key store or the records, the network
     or a gateway's refusal, a mail that lapsed
  2  REFUSED: the other party's message, or a gateway's answer, is not acceptable (the
     reason is printed: T too soon, unknown location X, a mismatch, a bad signature or
     binding, an answer that does not verify, a publication found by prove-absence, ...);
     nothing was changed

Location and domain files (--location, --offer, --domain) are TOML (or JSON):
  log_key = \"alpha.test/herald+1a2b3c4d+AU...\"   # the log's verifier key
  hash = \"blake3\"                                # or \"sha256\"
  witness_keys = [\"w1.test+...\", \"w2.test+...\"]  # 1 to 32 cosignature/v1 keys
  quorum = 2
  clock_skew = 60        # δ, seconds (locations only)
  max_merge_delay = 10   # MMD, seconds (locations only)";

/// `herald cm ...`.
#[derive(Debug, Subcommand)]
pub(super) enum CmCommand {
    /// Step (a): seal FILE for ADDR under a fresh key; write the sealed message to OUT.
    #[command(after_help = CM_EXIT_STATUS)]
    Send {
        #[command(flatten)]
        keys: KeyStoreArgs,
        /// The recipient's address.
        #[arg(long, value_name = "ADDR")]
        to: String,
        /// The message M (at most 8 MiB).
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// Where to write the sealed message (give it to the recipient).
        #[arg(long, value_name = "MSG")]
        out: PathBuf,
        /// Do not sign the sealed message with the identity key.
        #[arg(long)]
        unsigned: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Step (a) by mail (the default flow): seal FILE for ADDR and mail the sealed message
    /// through the gateways (logged in with `herald login`); nothing to hand over. If the
    /// gateway's answer did not come, the letter is kept and `--resend MSG_ID` sends the same
    /// sealed letter again (never a second one: the gateways take a msg_id once).
    #[command(after_help = CM_EXIT_STATUS)]
    Mail {
        #[command(flatten)]
        keys: KeyStoreArgs,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(flatten)]
        trust: TrustDirArgs,
        /// The recipient's address.
        #[arg(long, value_name = "ADDR", required_unless_present = "resend")]
        to: Option<String>,
        /// The message M (its sealed message must fit one mail, about 58 KiB; larger letters
        /// go with `herald cm send --out`).
        #[arg(value_name = "FILE", required_unless_present = "resend")]
        file: Option<PathBuf>,
        /// Do not sign the sealed message with the identity key.
        #[arg(long)]
        unsigned: bool,
        /// Mail again the letter kept as MSG_ID (hex, as the failed `herald cm mail` said),
        /// exactly as it was sealed.
        #[arg(long, value_name = "MSG_ID", conflicts_with_all = ["to", "file", "unsigned"])]
        resend: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Read the mailbox and take its certified mail: keep sealed letters (then `herald cm
    /// ask`), accept key requests under the terms given and publish at once through
    /// --gateway (or, --optimistic, send the key back by mail), open keys sent directly and
    /// mail the receipt back, take receipts. Plain mail met here is saved to
    /// <state-dir>/mail-saved.
    #[command(after_help = CM_EXIT_STATUS)]
    Inbox {
        #[command(flatten)]
        keys: KeyStoreArgs,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(flatten)]
        trust: TrustDirArgs,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Accept requests optimistically: mail the key directly, publish only if no receipt
        /// comes in time (`herald cm wait`).
        #[arg(long)]
        optimistic: bool,
        /// Where letters opened from a directly sent key are written [default:
        /// <state-dir>/letters].
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
        /// How long to keep asking for the cosigned publication, seconds.
        #[arg(long, default_value_t = 600, value_name = "SECONDS")]
        poll_for: u64,
        #[command(flatten)]
        output: Output,
    },
    /// Step (b) by mail, by the recipient: ask for the key of a letter `herald cm inbox` kept,
    /// to be published at the location X by the deadline T; the signed request is mailed to
    /// the sender.
    #[command(after_help = CM_EXIT_STATUS)]
    Ask {
        #[command(flatten)]
        keys: KeyStoreArgs,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(flatten)]
        trust: TrustDirArgs,
        /// The letter's msg_id, hex (as `herald cm inbox` printed it).
        #[arg(long, value_name = "HEX")]
        msg_id: String,
        /// T: RFC 3339 (2030-01-02T03:04:05Z), +DURATION (+1h30m) or Unix seconds.
        #[arg(long, value_name = "TIME")]
        deadline: String,
        #[command(flatten)]
        location: LocationArgs,
        #[command(flatten)]
        expect: ExpectArgs,
        #[command(flatten)]
        output: Output,
    },
    /// Step (b), by the recipient: ask for the key of a sealed message, to be published at
    /// the location X by the deadline T; write the signed request to OUT.
    #[command(after_help = CM_EXIT_STATUS)]
    Request {
        #[command(flatten)]
        keys: KeyStoreArgs,
        /// The sealed message received.
        #[arg(long = "in", value_name = "MSG")]
        input: PathBuf,
        /// T: RFC 3339 (2030-01-02T03:04:05Z), +DURATION (+1h30m) or Unix seconds.
        #[arg(long, value_name = "TIME")]
        deadline: String,
        #[command(flatten)]
        location: LocationArgs,
        #[command(flatten)]
        expect: ExpectArgs,
        /// Where to write the signed key request (give it to the sender).
        #[arg(long, value_name = "REQ")]
        out: PathBuf,
        #[command(flatten)]
        output: Output,
    },
    /// The sender checks a key request with its policy; if acceptable, prepares the
    /// publication (the leaf to publish at X).
    #[command(after_help = CM_EXIT_STATUS)]
    Accept {
        #[command(flatten)]
        keys: KeyStoreArgs,
        /// The recipient's signed key request.
        #[arg(long, value_name = "REQ")]
        request: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Where to write the leaf to publish (an encoded LogEntry).
        #[arg(long, value_name = "FILE")]
        leaf_out: Option<PathBuf>,
        #[command(flatten)]
        output: Output,
    },
    /// Optimistic variant, by the sender: accept the request (if not yet accepted) and write
    /// the key encrypted to the request key; publish only if no receipt comes in time.
    #[command(after_help = CM_EXIT_STATUS)]
    SendKey {
        #[command(flatten)]
        keys: KeyStoreArgs,
        /// The recipient's signed key request.
        #[arg(long, value_name = "REQ")]
        request: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Where to write the direct key (give it to the recipient).
        #[arg(long, value_name = "KEYMSG")]
        out: PathBuf,
        #[command(flatten)]
        output: Output,
    },
    /// Optimistic variant, by the recipient: open a direct key, decrypt the message, and
    /// write a signed receipt for the sender.
    #[command(after_help = CM_EXIT_STATUS)]
    OpenKey {
        #[command(flatten)]
        keys: KeyStoreArgs,
        /// The direct key received.
        #[arg(long = "in", value_name = "KEYMSG")]
        input: PathBuf,
        /// Where to write the receipt (give it to the sender).
        #[arg(long, value_name = "RECEIPT")]
        out: PathBuf,
        /// Where to write the decrypted message.
        #[arg(long, value_name = "FILE")]
        plaintext: PathBuf,
        #[command(flatten)]
        output: Output,
    },
    /// Optimistic variant, by the sender: take the recipient's receipt and keep the evidence.
    #[command(after_help = CM_EXIT_STATUS)]
    Receipt {
        #[command(flatten)]
        keys: KeyStoreArgs,
        /// The receipt received.
        #[arg(long = "in", value_name = "RECEIPT")]
        input: PathBuf,
        #[command(flatten)]
        output: Output,
    },
    /// Write the evidence bundle of a finished mail (for `herald verify-evidence`).
    #[command(after_help = CM_EXIT_STATUS)]
    Evidence {
        #[command(flatten)]
        keys: KeyStoreArgs,
        /// The mail's msg_id, hex (as `herald cm send` printed it).
        #[arg(
            long,
            value_name = "HEX",
            required_unless_present = "request",
            conflicts_with = "request"
        )]
        msg_id: Option<String>,
        /// Or the mail's key request file.
        #[arg(long, value_name = "REQ")]
        request: Option<PathBuf>,
        /// Where to write the bundle.
        #[arg(long, value_name = "BUNDLE")]
        out: PathBuf,
        #[command(flatten)]
        output: Output,
    },
    /// List the mails sent and the requests made from this key store, with their state.
    #[command(after_help = CM_EXIT_STATUS)]
    Status {
        #[command(flatten)]
        keys: KeyStoreArgs,
        #[command(flatten)]
        output: Output,
    },
    /// Step (c), by the sender: publish the key at X through X's gateway (accepting the
    /// request first if needed), wait until the publication is in a checkpoint cosigned as X
    /// requires, verify it, and keep the evidence. With --optimistic: send the key directly
    /// instead, and publish only if no receipt came by the publish-by time (`herald cm wait`).
    #[command(after_help = CM_EXIT_STATUS)]
    Publish {
        #[command(flatten)]
        keys: KeyStoreArgs,
        #[command(flatten)]
        gateway: GatewayArgs,
        /// The recipient's signed key request.
        #[arg(
            long,
            value_name = "REQ",
            required_unless_present = "msg_id",
            conflicts_with = "msg_id"
        )]
        request: Option<PathBuf>,
        /// Or the mail's msg_id, hex, for a request `herald cm inbox` already accepted.
        #[arg(long, value_name = "HEX")]
        msg_id: Option<String>,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Optimistic variant: write the key, encrypted to the request key, to --key-out and
        /// publish only if no receipt comes in time.
        #[arg(long, requires = "key_out")]
        optimistic: bool,
        /// Where to write the direct key (optimistic).
        #[arg(long, value_name = "KEYMSG")]
        key_out: Option<PathBuf>,
        /// How long to keep asking for the cosigned publication, seconds (never past T + δ).
        #[arg(long, default_value_t = 600, value_name = "SECONDS")]
        poll_for: u64,
        #[command(flatten)]
        output: Output,
    },
    /// The sender's timer: sleep until the mail's next step is due, then take it: publish if
    /// an optimistic mail got no receipt by its publish-by time, finish the publication of a
    /// published one, or record the lapse after T + δ.
    #[command(after_help = CM_EXIT_STATUS)]
    Wait {
        #[command(flatten)]
        keys: KeyStoreArgs,
        #[command(flatten)]
        gateway: GatewayArgs,
        /// The recipient's signed key request.
        #[arg(
            long,
            value_name = "REQ",
            required_unless_present = "msg_id",
            conflicts_with = "msg_id"
        )]
        request: Option<PathBuf>,
        /// Or the mail's msg_id, hex, for a request `herald cm inbox` already accepted.
        #[arg(long, value_name = "HEX")]
        msg_id: Option<String>,
        /// Do not sleep: take the step only if it is due now.
        #[arg(long)]
        no_sleep: bool,
        /// How long to keep asking for the cosigned publication, seconds (never past T + δ).
        #[arg(long, default_value_t = 600, value_name = "SECONDS")]
        poll_for: u64,
        #[command(flatten)]
        output: Output,
    },
    /// Step (d), by the recipient: look the request up at X's gateway, check the publication's
    /// inclusion in a checkpoint cosigned as X requires and consistent with the last trusted
    /// one, unwrap the key, check c_K, decrypt, and write the plaintext.
    #[command(after_help = CM_EXIT_STATUS)]
    Fetch {
        #[command(flatten)]
        keys: KeyStoreArgs,
        #[command(flatten)]
        gateway: GatewayArgs,
        /// The key request this account made.
        #[arg(
            long,
            value_name = "REQ",
            required_unless_present = "req_hash",
            conflicts_with = "req_hash"
        )]
        request: Option<PathBuf>,
        /// Or its req_hash, hex (as `herald cm ask` printed it): the request is kept here.
        #[arg(long, value_name = "HEX")]
        req_hash: Option<String>,
        /// Where to write the decrypted message.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// How long to keep asking while the key is not published or not cosigned, seconds.
        #[arg(long, default_value_t = 0, value_name = "SECONDS")]
        poll_for: u64,
        #[command(flatten)]
        output: Output,
    },
    /// The recipient's defence: prove that no leaf of X between two cosigned checkpoints names
    /// the request (CP1 cosigned by created − 2δ, CP2 after T + δ; e.g. written by `herald log
    /// checkpoint --cosigned --out`), verified before it is written; `herald verify-absence`
    /// checks it offline.
    #[command(after_help = CM_EXIT_STATUS)]
    ProveAbsence {
        #[command(flatten)]
        gateway: GatewayArgs,
        /// The key request.
        #[arg(long, value_name = "REQ")]
        request: PathBuf,
        /// Checkpoint 1 of X (a signed note with cosignatures).
        #[arg(long, value_name = "CP1")]
        before: PathBuf,
        /// Checkpoint 2 of X.
        #[arg(long, value_name = "CP2")]
        after: PathBuf,
        /// Where to write the absence proof.
        #[arg(long, value_name = "PROOF")]
        out: PathBuf,
        #[command(flatten)]
        output: Output,
    },
}

/// `--json`.
#[derive(Debug, Args)]
pub(super) struct Output {
    /// Print one JSON object (bytes in base64).
    #[arg(long)]
    pub json: bool,
}

/// X for a request: a location file or flags.
#[derive(Debug, Args)]
pub(super) struct LocationArgs {
    /// X as a location file (see below).
    #[arg(long, value_name = "FILE", required_unless_present = "log_key",
          conflicts_with_all = ["log_key", "hash", "witness_keys", "quorum", "clock_skew", "max_merge_delay"])]
    pub location: Option<PathBuf>,
    /// X's log verifier key (instead of --location).
    #[arg(long, value_name = "VKEY", requires_all = ["witness_keys", "quorum", "clock_skew", "max_merge_delay"])]
    pub log_key: Option<String>,
    /// X's hash algorithm [default: sha256].
    #[arg(long, value_name = "ALG")]
    pub hash: Option<String>,
    /// A witness verifier key of X (repeat for each).
    #[arg(long = "witness-key", value_name = "VKEY")]
    pub witness_keys: Vec<String>,
    /// How many of X's witnesses must cosign.
    #[arg(long, value_name = "Q")]
    pub quorum: Option<usize>,
    /// δ, seconds.
    #[arg(long, value_name = "SECONDS")]
    pub clock_skew: Option<u64>,
    /// MMD, seconds.
    #[arg(long, value_name = "SECONDS")]
    pub max_merge_delay: Option<u64>,
}

/// What the recipient expects the plaintext to be (all optional).
#[derive(Debug, Args)]
pub(super) struct ExpectArgs {
    /// The media type expected (informative).
    #[arg(long, value_name = "TYPE")]
    pub expect_media_type: Option<String>,
    /// The largest plaintext accepted, bytes.
    #[arg(long, value_name = "BYTES")]
    pub expect_max_size: Option<u64>,
    /// The BLAKE3 hash of the expected plaintext, base64.
    #[arg(long, value_name = "B64", conflicts_with = "expect_file")]
    pub expect_hash: Option<String>,
    /// Expect exactly this file's content (its BLAKE3 hash).
    #[arg(long, value_name = "FILE")]
    pub expect_file: Option<PathBuf>,
}

/// What the sender accepts.
#[derive(Debug, Args)]
pub(super) struct PolicyArgs {
    /// The recipient's identity binding: an encoded IncludedLeaf (the binding leaf of the
    /// recipient's domain log, its inclusion proof and cosigned checkpoint). Needed to accept.
    #[arg(long, value_name = "FILE")]
    pub binding: Option<PathBuf>,
    /// A revocation of the recipient's key, an encoded IncludedLeaf (repeatable).
    #[arg(long, value_name = "FILE")]
    pub revocation: Vec<PathBuf>,
    /// A recipient domain log this sender trusts (log file, repeatable); the recipient's
    /// domain must be among them.
    #[arg(long, value_name = "FILE")]
    pub domain: Vec<PathBuf>,
    /// A location this sender publishes at (location file, repeatable); the request's X must
    /// be met by one.
    #[arg(long, value_name = "FILE")]
    pub offer: Vec<PathBuf>,
    /// How long the witnesses take to cosign, seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub witness_period: u64,
    /// Time kept in hand before T, seconds.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub margin: u64,
    /// The furthest deadline accepted, seconds from now.
    #[arg(long, default_value_t = 30 * 86_400, value_name = "SECONDS")]
    pub max_wait: u64,
    /// How far a request may be dated in the future, seconds.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub max_skew: u64,
}

impl CmCommand {
    fn json(&self) -> bool {
        match self {
            CmCommand::Send { output, .. }
            | CmCommand::Request { output, .. }
            | CmCommand::Accept { output, .. }
            | CmCommand::SendKey { output, .. }
            | CmCommand::OpenKey { output, .. }
            | CmCommand::Receipt { output, .. }
            | CmCommand::Evidence { output, .. }
            | CmCommand::Status { output, .. }
            | CmCommand::Publish { output, .. }
            | CmCommand::Wait { output, .. }
            | CmCommand::Fetch { output, .. }
            | CmCommand::ProveAbsence { output, .. }
            | CmCommand::Mail { output, .. }
            | CmCommand::Inbox { output, .. }
            | CmCommand::Ask { output, .. } => output.json,
        }
    }
}

/// In plain words, which refusal it is.
fn refusal_reason(e: &anyhow::Error) -> Option<&'static str> {
    if let Some(e) = e.downcast_ref::<CertifiedMailError>() {
        return mail_refusal(e);
    }
    if let Some(e) = e.downcast_ref::<ClientError>() {
        return gateway_refusal(e);
    }
    match e.downcast_ref::<AbsenceBuildError>()? {
        AbsenceBuildError::NotShown(AbsenceError::PublicationFound { .. }) => Some("published"),
        AbsenceBuildError::NotShown(_) => Some("absence not shown"),
        AbsenceBuildError::Gateway(e) => gateway_refusal(e),
        _ => None,
    }
}

fn gateway_refusal(e: &ClientError) -> Option<&'static str> {
    e.is_peer_misbehaviour()
        .then_some("the gateway's answer does not verify")
}

fn mail_refusal(e: &CertifiedMailError) -> Option<&'static str> {
    Some(match e {
        CertifiedMailError::Refused(p) => match p {
            CertMailError::DeadlineTooSoon { .. } => "T too soon",
            CertMailError::DeadlineTooFar { .. } => "T too far",
            CertMailError::BadCreationTime { .. } => "bad request time",
            CertMailError::UnknownLocation { .. } | CertMailError::Location(_) => {
                "unknown location X"
            }
            CertMailError::Mismatch { .. } => "mismatch",
            CertMailError::Signature { .. } => "bad signature",
            CertMailError::BindingMismatch { .. } | CertMailError::NotBound(_) => "bad binding",
            CertMailError::ExpectationNotMet { .. } => "expectation not met",
            CertMailError::KeyCommitmentMismatch => "key does not match c_K",
            CertMailError::Wire(_) => "malformed",
            CertMailError::Inclusion(_) => "not included in a timely cosigned checkpoint",
            CertMailError::Inconsistent(_) => {
                "split view: inconsistent with the trusted checkpoint"
            }
            CertMailError::OtherLeaf | CertMailError::NotAPublication => "not this publication",
            CertMailError::DecryptionFailed => "decryption failed",
            _ => "refused",
        },
        CertifiedMailError::Binding(_) => "bad binding",
        CertifiedMailError::UnknownDomain { .. } => "unknown recipient domain",
        CertifiedMailError::Malformed { .. } => "malformed",
        CertifiedMailError::NotOurs { .. } => "not addressed to this account",
        CertifiedMailError::Carried(_) => "not from its author",
        CertifiedMailError::Gateway(e) => return gateway_refusal(e),
        _ => return None,
    })
}

/// The evidence a gateway's failed answer carries, if the error holds one.
fn evidence(e: &anyhow::Error) -> Option<serde_json::Value> {
    let client = e
        .downcast_ref::<ClientError>()
        .or_else(|| match e.downcast_ref::<CertifiedMailError>() {
            Some(CertifiedMailError::Gateway(c)) => Some(c),
            _ => None,
        })
        .or_else(|| match e.downcast_ref::<AbsenceBuildError>() {
            Some(AbsenceBuildError::Gateway(c)) => Some(c),
            _ => None,
        })?;
    client.verification().map(super::output::evidence_json)
}

/// Runs `herald cm ...`.
pub(super) fn run(command: CmCommand) -> ExitCode {
    let json = command.json();
    let result = match command {
        c @ (CmCommand::Publish { .. }
        | CmCommand::Wait { .. }
        | CmCommand::Fetch { .. }
        | CmCommand::ProveAbsence { .. }) => network::run(c),
        c @ (CmCommand::Mail { .. } | CmCommand::Inbox { .. } | CmCommand::Ask { .. }) => {
            by_mail::run(c)
        }
        c => steps::run(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let reason = refusal_reason(&e);
            let evidence = evidence(&e);
            match reason {
                Some(r) => eprintln!("herald: REFUSED ({r}): {e:#}"),
                None => eprintln!("herald: {e:#}"),
            }
            if json {
                let v = json!({
                    "error": format!("{e:#}"),
                    "refused": reason.is_some(),
                    "reason": reason,
                    "evidence": evidence,
                });
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else if let Some(evidence) = evidence {
                eprintln!(
                    "herald: evidence:\n{}",
                    serde_json::to_string_pretty(&evidence).unwrap_or_default()
                );
            }
            if reason.is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
