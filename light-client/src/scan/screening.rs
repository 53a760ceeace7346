//! [`Screening`]: what a client holds to screen mail where the plaintext is (DESIGN §4) — the
//! rule set its gateway serves, its scanners in order, and its quarantine — and the one call
//! the CLI and the mobile binding make before sending a mail and before showing one
//! ([`Screening::screen`]).
//!
//! Scanners may block (clamd talks over a socket with timeouts), so a screen runs on tokio's
//! blocking pool, never on the task that drives the connection to the gateway.

use std::sync::Arc;

use herald_proto::paep;
use herald_proto::policy::{MailContent, RuleSet};
use herald_proto::scan::Scanner;
use herald_proto::wire::WireError;

use super::quarantine::{Quarantine, QuarantineError, Quarantined, Screened};
use super::{RuleSetError, rule_set};
use crate::gateway::Gateway;

/// A scanner that may be shared with the blocking pool.
pub type SharedScanner = Arc<dyn Scanner + Send + Sync>;

/// Why a mail could not be screened. A mail that was not screened is neither sent nor shown.
#[derive(Debug, thiserror::Error)]
pub enum ScreenError {
    /// The plaintext is not a mail's content (M): nothing can be shown of it.
    #[error("the mail's content: {0}")]
    NotMail(#[from] WireError),
    /// It matched, but could not be kept in the quarantine.
    #[error("quarantine: {0}")]
    Quarantine(#[from] QuarantineError),
    /// The blocking pool did not run the screen (the runtime is shutting down).
    #[error("the screen did not run: {0}")]
    NotRun(String),
}

/// The rule set, the scanners and the quarantine of one client.
#[derive(Clone)]
pub struct Screening {
    rules: RuleSet,
    scanners: Vec<SharedScanner>,
    quarantine: Quarantine,
}

impl std::fmt::Debug for Screening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Screening")
            .field(
                "scanners",
                &self.scanners.iter().map(|s| s.name()).collect::<Vec<_>>(),
            )
            .field("quarantine", &self.quarantine)
            .finish_non_exhaustive()
    }
}

impl Screening {
    /// Screens with `rules` and each of `scanners` in turn (the first to find something
    /// decides), keeping what matches in `quarantine`.
    pub fn new(rules: RuleSet, scanners: Vec<SharedScanner>, quarantine: Quarantine) -> Self {
        Screening {
            rules,
            scanners,
            quarantine,
        }
    }

    /// [`Screening::new`] with the rule set `gateway` serves now.
    pub async fn of_gateway<G: Gateway>(
        gateway: &G,
        scanners: Vec<SharedScanner>,
        quarantine: Quarantine,
    ) -> Result<Self, RuleSetError> {
        Ok(Screening::new(
            rule_set(gateway).await?,
            scanners,
            quarantine,
        ))
    }

    /// The rule set screened against.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Screens the plaintext M of a mail (as `paep::MailContent::build` made it, or as it was
    /// decrypted) under the quarantine name `id`: the rule set's attachment and content rules,
    /// then every scanner over the body and each attachment. What matches is kept, flushed, in
    /// the quarantine with its reason before this returns; a scanner that gives no verdict
    /// quarantines too (not known clean). Only [`Screened::Clean`] may be sent or shown.
    ///
    /// A mail quarantined under `id` before (a `--keep` read read again) is reported with the
    /// reason found now and the file kept then.
    pub async fn screen(&self, plaintext: Vec<u8>, id: String) -> Result<Screened, ScreenError> {
        let screening = self.clone();
        tokio::task::spawn_blocking(move || screening.screen_blocking(&plaintext, &id))
            .await
            .map_err(|e| ScreenError::NotRun(e.to_string()))?
    }

    fn screen_blocking(&self, plaintext: &[u8], id: &str) -> Result<Screened, ScreenError> {
        let content = MailContent::of_mail(&paep::MailContent::open(plaintext)?);
        let mut verdict = if self.scanners.is_empty() {
            // The rules still apply without a scanner.
            content.inspect(&self.rules, &NoScanner)
        } else {
            Ok(())
        };
        for scanner in &self.scanners {
            if verdict.is_err() {
                break;
            }
            verdict = content.inspect(&self.rules, scanner.as_ref());
        }
        let Err(reason) = verdict else {
            return Ok(Screened::Clean);
        };
        match self.quarantine.keep(id, plaintext, reason.clone()) {
            Ok(kept) => Ok(Screened::Quarantined(kept)),
            Err(QuarantineError::Create(crate::durable_file::CreateError::Exists { path })) => {
                Ok(Screened::Quarantined(Quarantined {
                    id: id.to_owned(),
                    reason,
                    path: path.with_extension("mail"),
                }))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The scanner of a client configured with none: finds nothing (the rules still apply).
struct NoScanner;

impl Scanner for NoScanner {
    fn name(&self) -> &str {
        "none"
    }

    fn scan(
        &self,
        _data: &[u8],
    ) -> Result<herald_proto::scan::ScanVerdict, herald_proto::scan::ScanError> {
        Ok(herald_proto::scan::ScanVerdict::Clean)
    }
}

#[cfg(test)]
mod tests {
    use herald_proto::paep::Attachment;
    use herald_proto::policy::{ContentRule, QuarantineReason, Scope};
    use herald_proto::scan::{EICAR, SignatureScanner};

    use super::*;

    fn mail(body: &[u8], attachment: &[u8]) -> Vec<u8> {
        paep::MailContent::build(
            "Minutes",
            body,
            vec![Attachment {
                name: "minutes.txt".into(),
                media_type: "text/plain".into(),
                data: attachment.to_vec(),
            }],
        )
        .unwrap()
    }

    fn screening(dir: &std::path::Path, rules: RuleSet) -> Screening {
        Screening::new(
            rules,
            vec![Arc::new(SignatureScanner::default())],
            Quarantine::open(&dir.join("quarantine")).unwrap(),
        )
    }

    #[tokio::test]
    async fn a_clean_mail_passes_and_eicar_is_kept_aside_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let s = screening(dir.path(), RuleSet::default());
        assert_eq!(
            s.screen(mail(b"hello", b"1. budget"), "sent-1".into())
                .await
                .unwrap(),
            Screened::Clean
        );
        let infected = mail(b"hello", EICAR);
        let Screened::Quarantined(q) = s.screen(infected.clone(), "sent-2".into()).await.unwrap()
        else {
            panic!("EICAR passed");
        };
        assert!(matches!(q.reason, QuarantineReason::Malware { .. }));
        assert_eq!(std::fs::read(&q.path).unwrap(), infected);
        // Screened again under the same name (a kept mail read twice): same verdict, same file.
        let Screened::Quarantined(again) = s.screen(infected, "sent-2".into()).await.unwrap()
        else {
            panic!("EICAR passed the second time");
        };
        assert_eq!(again.path, q.path);
    }

    #[tokio::test]
    async fn the_gateways_content_rules_apply_with_or_without_a_scanner() {
        let dir = tempfile::tempdir().unwrap();
        let rules = RuleSet {
            content_rules: vec![ContentRule {
                name: "no-secrets".into(),
                pattern: b"TOP SECRET".to_vec(),
                ignore_case: false,
                scope: Scope::All,
            }],
            ..RuleSet::default()
        };
        let without_scanner = Screening::new(
            rules.clone(),
            vec![],
            Quarantine::open(&dir.path().join("q")).unwrap(),
        );
        for s in [screening(dir.path(), rules), without_scanner] {
            let Screened::Quarantined(q) = s
                .screen(
                    mail(b"this is TOP SECRET", b"x"),
                    format!("m-{}", s.scanners.len()),
                )
                .await
                .unwrap()
            else {
                panic!("the content rule did not match");
            };
            assert_eq!(
                q.reason.to_string(),
                "content rule \"no-secrets\" matched in the body"
            );
        }
    }

    #[tokio::test]
    async fn what_is_not_a_mail_is_refused_and_nothing_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let s = screening(dir.path(), RuleSet::default());
        assert!(matches!(
            s.screen(vec![0xff; 10], "bad".into()).await,
            Err(ScreenError::NotMail(_))
        ));
        assert_eq!(
            std::fs::read_dir(dir.path().join("quarantine"))
                .unwrap()
                .count(),
            0
        );
    }
}
