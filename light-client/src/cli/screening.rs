//! The scanning options of `herald send` and `herald read` (DESIGN §4 "Policy", "Anti-virus"):
//! both screen the mail's plaintext with the rule set the gateway serves and the built-in
//! signature scanner (EICAR, plus `--signatures`), then clamd if `--clamd` names one; what
//! matches is kept in the quarantine directory with its reason instead of being sent or shown.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Args;
use herald_light_client::scan::{
    ClamdAddress, ClamdConfig, ClamdScanner, Quarantine, SharedScanner, SignatureScanner,
    load_signatures,
};

use super::args::KeyStoreArgs;

/// Longest `--clamd` value.
const MAX_CLAMD_ARG_BYTES: usize = 4096;

/// How a mail is screened.
#[derive(Debug, Args)]
pub(super) struct ScanArgs {
    /// A signature file for the built-in scanner, used beside its EICAR signature (format:
    /// `herald_proto::scan`, one `name:hex` signature a line).
    #[arg(long, value_name = "FILE")]
    signatures: Option<PathBuf>,
    /// Also scan with clamd: `unix:/run/clamav/clamd.ctl` or `tcp:127.0.0.1:3310` (a loopback
    /// address only: the plaintext never leaves this host).
    #[arg(long, value_name = "ADDRESS")]
    clamd: Option<String>,
    /// Where quarantined mail is kept [default: <state-dir>/quarantine].
    #[arg(long, value_name = "DIR")]
    quarantine_dir: Option<PathBuf>,
}

impl ScanArgs {
    /// The scanners, in the order they run: the built-in one, then clamd.
    pub(super) fn scanners(&self) -> anyhow::Result<Vec<SharedScanner>> {
        let builtin = match &self.signatures {
            Some(path) => load_signatures(path)?,
            None => SignatureScanner::default(),
        };
        let mut scanners: Vec<SharedScanner> = vec![Arc::new(builtin)];
        if let Some(address) = &self.clamd {
            let scanner =
                ClamdScanner::new(ClamdConfig::new(clamd_address(address)?)).context("--clamd")?;
            scanners.push(Arc::new(scanner));
        }
        Ok(scanners)
    }

    /// The quarantine directory (created private).
    pub(super) fn quarantine(&self, keys: &KeyStoreArgs) -> anyhow::Result<Quarantine> {
        let dir = match &self.quarantine_dir {
            Some(dir) => dir.clone(),
            None => keys.private_state_dir()?.join("quarantine"),
        };
        Quarantine::open(&dir).with_context(|| format!("the quarantine {}", dir.display()))
    }
}

/// `unix:PATH` or `tcp:IP:PORT`.
fn clamd_address(arg: &str) -> anyhow::Result<ClamdAddress> {
    if arg.len() > MAX_CLAMD_ARG_BYTES {
        bail!(
            "--clamd is {} bytes; at most {MAX_CLAMD_ARG_BYTES}",
            arg.len()
        );
    }
    if let Some(path) = arg.strip_prefix("unix:")
        && !path.is_empty()
    {
        return Ok(ClamdAddress::Unix(PathBuf::from(path)));
    }
    if let Some(addr) = arg.strip_prefix("tcp:") {
        let addr = addr
            .parse()
            .with_context(|| format!("--clamd tcp:{addr} is not IP:PORT"))?;
        return Ok(ClamdAddress::Tcp(addr));
    }
    bail!("--clamd {arg:?} is neither unix:PATH nor tcp:IP:PORT")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamd_addresses_parse_and_a_remote_one_is_refused() {
        assert_eq!(
            clamd_address("unix:/run/clamav/clamd.ctl").unwrap(),
            ClamdAddress::Unix("/run/clamav/clamd.ctl".into())
        );
        assert_eq!(
            clamd_address("tcp:127.0.0.1:3310").unwrap(),
            ClamdAddress::Tcp("127.0.0.1:3310".parse().unwrap())
        );
        for bad in ["unix:", "tcp:localhost", "clamd.ctl", &"x".repeat(5000)] {
            assert!(clamd_address(bad).is_err(), "{bad}");
        }
        let remote = ScanArgs {
            signatures: None,
            clamd: Some("tcp:192.0.2.1:3310".into()),
            quarantine_dir: None,
        };
        let refused = remote.scanners().map(|_| ()).unwrap_err();
        assert!(
            format!("{refused:#}").contains("not a loopback"),
            "{refused:#}"
        );
    }
}
