//! The quarantine: mails a client keeps aside instead of sending or showing them, each with its
//! reason. A directory of the client's choosing holds, per mail id, `<id>.mail` (the plaintext
//! M as received or built, so the user or an operator can still look at it deliberately) and
//! `<id>.reason` (one line of text). Both are written with `durable_file::create`: flushed
//! before [`screen`] returns, never overwritten.

use std::path::{Path, PathBuf};

use herald_proto::policy::{MailContent, QuarantineReason, RuleSet};
use herald_proto::scan::Scanner;

use crate::durable_file::{self, CreateError, FileIoError, ReadError};

/// Longest quarantine reason file read back.
const MAX_REASON_FILE_BYTES: usize = 4096;

/// Why a mail could not be quarantined (or read back).
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    /// The id is not 1 to 64 of `A-Z a-z 0-9 - _` (it names files).
    #[error("quarantine id {0:?} is not 1 to 64 of A-Z a-z 0-9 - _")]
    BadId(String),
    /// Writing failed, or the id is quarantined already.
    #[error(transparent)]
    Create(#[from] CreateError),
    /// Creating the directory failed.
    #[error(transparent)]
    Dir(#[from] FileIoError),
    /// Reading a reason back failed.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// A mail kept aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantined {
    /// Its id.
    pub id: String,
    /// Why.
    pub reason: QuarantineReason,
    /// The file holding the mail.
    pub path: PathBuf,
}

/// What [`screen`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Screened {
    /// Nothing matched: send or show it.
    Clean,
    /// Kept aside (durably) with its reason.
    Quarantined(Quarantined),
}

/// A quarantine directory.
#[derive(Clone, Debug)]
pub struct Quarantine {
    dir: PathBuf,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Quarantine {
    /// The quarantine in `dir` (created private if missing).
    pub fn open(dir: &Path) -> Result<Self, QuarantineError> {
        durable_file::make_private_dir(dir)?;
        Ok(Quarantine {
            dir: dir.to_path_buf(),
        })
    }

    /// Keeps the mail's plaintext M aside under `id` with `reason`; flushed when this returns.
    pub fn keep(
        &self,
        id: &str,
        plaintext: &[u8],
        reason: QuarantineReason,
    ) -> Result<Quarantined, QuarantineError> {
        if !valid_id(id) {
            return Err(QuarantineError::BadId(id.to_owned()));
        }
        let path = self.dir.join(format!("{id}.mail"));
        // The reason first: a mail file never exists without the reason it is here for.
        durable_file::create(
            &self.dir.join(format!("{id}.reason")),
            format!("{reason}\n").as_bytes(),
        )?;
        durable_file::create(&path, plaintext)?;
        Ok(Quarantined {
            id: id.to_owned(),
            reason,
            path,
        })
    }

    /// The reason text a quarantined mail was kept for, as written.
    pub fn reason_text(&self, id: &str) -> Result<String, QuarantineError> {
        if !valid_id(id) {
            return Err(QuarantineError::BadId(id.to_owned()));
        }
        let bytes = durable_file::read_bounded(
            &self.dir.join(format!("{id}.reason")),
            MAX_REASON_FILE_BYTES,
        )?;
        Ok(String::from_utf8_lossy(&bytes).trim_end().to_owned())
    }
}

/// Inspects `content` (proto's [`MailContent::inspect`]: the rule set and `scanner`) and keeps
/// its `plaintext` (the encoded M it was read from or will be sent as) in `quarantine` under
/// `id` if anything matched. Call it before sending and before showing; only
/// [`Screened::Clean`] may go on.
pub fn screen(
    content: &MailContent,
    plaintext: &[u8],
    rules: &RuleSet,
    scanner: &dyn Scanner,
    quarantine: &Quarantine,
    id: &str,
) -> Result<Screened, QuarantineError> {
    match content.inspect(rules, scanner) {
        Ok(()) => Ok(Screened::Clean),
        Err(reason) => Ok(Screened::Quarantined(
            quarantine.keep(id, plaintext, reason)?,
        )),
    }
}

#[cfg(test)]
mod tests {
    use herald_proto::policy::Attachment;
    use herald_proto::scan::{EICAR, SignatureScanner};

    use super::*;

    #[test]
    fn eicar_mail_is_quarantined_durably_with_its_reason_and_a_clean_one_passes() {
        let dir = tempfile::tempdir().unwrap();
        let quarantine = Quarantine::open(&dir.path().join("q")).unwrap();
        let scanner = SignatureScanner::default();
        let clean = MailContent {
            subject: "hi".into(),
            body: b"clean".to_vec(),
            attachments: vec![],
        };
        assert_eq!(
            screen(
                &clean,
                b"M1",
                &RuleSet::default(),
                &scanner,
                &quarantine,
                "m1"
            )
            .unwrap(),
            Screened::Clean
        );
        let infected = MailContent {
            attachments: vec![Attachment::new(
                "t.com",
                "application/octet-stream",
                EICAR.to_vec(),
            )],
            ..clean
        };
        let Screened::Quarantined(q) = screen(
            &infected,
            b"M2",
            &RuleSet::default(),
            &scanner,
            &quarantine,
            "m2",
        )
        .unwrap() else {
            panic!("not quarantined");
        };
        assert!(matches!(q.reason, QuarantineReason::Malware { .. }));
        assert_eq!(std::fs::read(&q.path).unwrap(), b"M2");
        assert_eq!(
            quarantine.reason_text("m2").unwrap(),
            "builtin found EICAR-Test-File in attachment 0"
        );
        // Never overwritten; ids that would name other files are refused.
        assert!(matches!(
            quarantine.keep("m2", b"M2", q.reason.clone()),
            Err(QuarantineError::Create(CreateError::Exists { .. }))
        ));
        assert!(matches!(
            quarantine.keep("../x", b"M2", q.reason),
            Err(QuarantineError::BadId(_))
        ));
    }
}
