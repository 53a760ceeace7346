//! Every sled tree the node keeps, its owner and its flush rule, in one place; [`Tree::open`] is
//! the only way the node opens one, and `open` the only way it opens the database.
//!
//! All trees live in the one sled database of the log store (`<data_dir>/store`), so one
//! `flush` makes a round of any of them durable. sled writes each tree's batch atomically; a
//! value that must survive a crash is flushed before anything that depends on it leaves the node.
//!
//! | tree | owner (only writer) | what it holds | flush rule |
//! |---|---|---|---|
//! | `log` | the sequencer (`store`, `sequencer`) | meta, right edge, epoch tiles, secondary indexes; entries and full tiles are in the sealed files | one batch per round, flushed before the head is published or any ack leaves |
//! | `accounts` | the intake (`accounts`) | accounts, enrolment codes, bindings in flight, attempt counters, password records | flushed before the answer that depends on it |
//! | `prekeys` | PAEP (`accounts::prekeys`; reset by registration) | one-time prekeys not yet handed out, the fallback and its hand-out, the highest id per account | a one-time prekey's removal flushed before it is handed out; uploads before the answer |
//! | `peers` | the admin API and the config seed (`peers`) | registered peer domains, their keys and addresses | flushed before the answer |
//! | `witness` | the witness service (`witness::held`) | the checkpoint held per origin | compare-and-swap, flushed before a cosignature leaves |
//! | `alerts` | the split-view watch (`watch::alerts`) | verified equivocation proofs, per origin | flushed before an alert is gossiped or listed |
//! | `scan_cursors` | the peer-log scanner (`watch::scan`) | per origin, the next index to read | written after the entries it covers were judged; losing one re-reads |
//! | `evidence` | the evidence writer (`service::evidence`) | how far each evidence kind was written | moved and flushed only after the records' acks |
//! | `mail` | mail (`service::mail::mailbox`) | mailbox entries sealed per mailbox, taken-msg_id markers, bytes per mailbox | flushed before a relay is acknowledged or an acknowledgement answered |
//! | `outbox` | mail (`service::mail::outbox`) | the outbound queue (sealed relay envelopes) and delivery records | flushed before a mail is accepted and after each attempt |
//! | `mail_transfer` | mail (`service::mail::transfer_store`) | unfinished large-mail transfers: uploads from accounts, relays from peers, each chunk sealed for its owner; bytes and counts per owner | flushed before each chunk is acknowledged |

use std::path::Path;
use std::time::{Duration, Instant};

mod group_flush;
mod group_work;
pub(crate) use group_flush::GroupFlush;
pub(crate) use group_work::{GroupFailed, GroupWork};

/// How long [`open`] waits for a directory whose sled lock is still held. sled 0.34 releases its
/// lock file only when deferred cleanup (crossbeam-epoch) drops the last file handle, which in a
/// busy process can lag the drop of the last `Db` by some milliseconds: a database closed and
/// reopened in one process (tests, an embedded node restarted) must not fail for that.
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Opens (or creates) the sled database in `path`, waiting up to [`LOCK_WAIT`] for a lock this
/// or another process still holds. `Ok(None)` means the lock was still held when the wait ran out.
/// Blocking. The only way the node opens its database.
pub(crate) fn open(path: &Path) -> sled::Result<Option<sled::Db>> {
    let start = Instant::now();
    loop {
        match sled::Config::new().path(path).open() {
            Ok(db) => {
                make_private(path).map_err(sled::Error::Io)?;
                return Ok(Some(db));
            }
            // sled reports a directory held by another process as an I/O error whose message
            // says so (sled 0.34 `Config::try_lock`); there is no dedicated variant to match.
            Err(sled::Error::Io(io)) if io.to_string().contains("could not acquire lock") => {
                if start.elapsed() >= LOCK_WAIT {
                    return Ok(None);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Makes the database's directory 0700 and its files 0600 (reliability review item 12): it
/// holds password verifiers (SPAKE2+ `w0`, `L`) and enrolment code hashes, and sled creates
/// its files with the process's umask (0644 under the usual 022). The data directory above is
/// 0700 too (`gateway::make_data_dir_private`); this keeps the files private when they are
/// copied out with their modes (a backup). Run at every open, after sled wrote its files and
/// snapshot; a blob sled adds later (a value past its inline limit: mail ciphertext) is
/// tightened at the next open and is in the 0700 directory meanwhile.
fn make_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            let wanted = if meta.is_dir() {
                stack.push(entry.path());
                0o700
            } else if meta.is_file() {
                0o600
            } else {
                continue;
            };
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(wanted))?;
            }
        }
        let mode = std::fs::metadata(&d)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// One of the node's sled trees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tree {
    /// The log: meta, right edge, tiles and secondary indexes.
    Log,
    /// This domain's accounts and enrolment codes.
    Accounts,
    /// The prekeys this gateway holds for its accounts (PAEP).
    Prekeys,
    /// The registry of trusted peer domains.
    Peers,
    /// What this node's witness holds for each log it witnesses.
    Witness,
    /// The split-view alerts (verified equivocation proofs).
    Alerts,
    /// The peer-log scanner's read positions.
    ScanCursors,
    /// The evidence writer's cursors.
    Evidence,
    /// Mailboxes at rest.
    Mail,
    /// The outbound mail queue and delivery records.
    Outbox,
    /// Mail larger than one request, while its chunks come in (uploads, relays).
    MailTransfer,
}

impl Tree {
    /// Every tree, in the order of the table above.
    pub const ALL: [Tree; 11] = [
        Tree::Log,
        Tree::Accounts,
        Tree::Prekeys,
        Tree::Peers,
        Tree::Witness,
        Tree::Alerts,
        Tree::ScanCursors,
        Tree::Evidence,
        Tree::Mail,
        Tree::Outbox,
        Tree::MailTransfer,
    ];

    /// The tree's name in sled (stable: stored data is found by it).
    pub const fn name(self) -> &'static str {
        match self {
            Tree::Log => "log",
            Tree::Accounts => "accounts",
            Tree::Prekeys => "prekeys",
            Tree::Peers => "peers",
            Tree::Witness => "witness",
            Tree::Alerts => "alerts",
            Tree::ScanCursors => "scan_cursors",
            Tree::Evidence => "evidence",
            Tree::Mail => "mail",
            Tree::Outbox => "outbox",
            Tree::MailTransfer => "mail_transfer",
        }
    }

    /// Opens (or creates) the tree in `db`. Blocking.
    pub fn open(self, db: &sled::Db) -> sled::Result<sled::Tree> {
        db.open_tree(self.name())
    }
}

/// Copies every file of the database directory `from` into `to`: the database as a crash right
/// now would leave it (tests of "durable when answered" open the copy).
#[cfg(test)]
pub(crate) fn copy_as_crashed(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_as_crashed(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Tree;

    #[test]
    fn a_database_reopens_at_once_after_its_drop() {
        let dir = tempfile::tempdir().unwrap();
        for round in 0..20u32 {
            let db = super::open(dir.path())
                .unwrap()
                .expect("the lock is free after a drop");
            let tree = Tree::Accounts.open(&db).unwrap();
            tree.insert(b"round", &round.to_be_bytes()).unwrap();
            tree.flush().unwrap();
        }
        let db = super::open(dir.path()).unwrap().unwrap();
        let got = Tree::Accounts
            .open(&db)
            .unwrap()
            .get(b"round")
            .unwrap()
            .unwrap();
        assert_eq!(&got[..], &19u32.to_be_bytes());
    }

    /// Item 12 of the reliability review: sled made its directory and files with the umask
    /// (0755 and 0644), and they hold password verifiers and code hashes.
    #[test]
    fn the_database_files_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        for round in 0..2u32 {
            let db = super::open(&path).unwrap().unwrap();
            let tree = Tree::Accounts.open(&db).unwrap();
            tree.insert(b"round", &round.to_be_bytes()).unwrap();
            tree.flush().unwrap();
        }
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o700);
        let mut files = 0;
        for entry in std::fs::read_dir(&path).unwrap() {
            let p = entry.unwrap().path();
            if p.is_file() {
                files += 1;
                assert_eq!(mode(&p), 0o600, "{}", p.display());
            } else {
                assert_eq!(mode(&p), 0o700, "{}", p.display());
            }
        }
        assert!(files >= 2, "{files} files");
    }

    #[test]
    fn a_database_held_open_is_reported_after_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let _held = super::open(dir.path()).unwrap().unwrap();
        assert!(super::open(dir.path()).unwrap().is_none());
    }

    #[test]
    fn every_tree_has_its_own_name() {
        let mut names: Vec<_> = Tree::ALL.iter().map(|t| t.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Tree::ALL.len());
    }
}
