//! A log whose database lost committed rounds (reliability review F3): the review's `rollback.py` put
//! back older sled files beside newer sealed files, and the node cut its sealed files without a
//! word and then signed a second tree at sizes it had already signed. Now the high-water mark
//! (the largest tree signed, outside sled) refuses such a log before anything is cut; the one
//! cut that stays allowed, a round that never committed, opens and is logged with its sizes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::store_support::{ORIGIN, append, entry};
use herald_node::store::layout::SEALED_DIR;
use herald_node::store::{LogStore, OpenError};
use herald_proto::merkle::HashAlgorithm;

/// sled's own files in a store directory: everything but the sealed files.
fn sled_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != SEALED_DIR))
        .collect()
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy_tree(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

/// Copies sled's files of `dir` into `backup` (a stopped store).
fn back_up_sled(dir: &Path, backup: &Path) {
    std::fs::create_dir_all(backup).unwrap();
    for path in sled_files(dir) {
        copy_tree(&path, &backup.join(path.file_name().unwrap()));
    }
}

/// Puts back sled's files from `backup`, keeping the (newer) sealed files.
fn restore_sled(dir: &Path, backup: &Path) {
    for path in sled_files(dir) {
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    for e in std::fs::read_dir(backup).unwrap() {
        let e = e.unwrap();
        copy_tree(&e.path(), &dir.join(e.file_name()));
    }
}

/// Every sealed file's length.
fn sealed_lengths(dir: &Path) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = std::fs::read_dir(dir.join(SEALED_DIR))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_older_sled_files_beside_newer_sealed_files_are_refused_naming_both_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("log");
    let backup = dir.path().join("backup");
    let store = LogStore::create(&store_dir, ORIGIN, HashAlgorithm::Blake3).unwrap();
    append(&store, (0..1_000).map(entry).collect()).await;
    drop(store);
    back_up_sled(&store_dir, &backup);
    let store = LogStore::open(&store_dir).unwrap();
    let acks = append(&store, (1_000..1_960).map(entry).collect()).await;
    assert_eq!(acks.last().unwrap().index, 1_959);
    let signed = store.head();
    drop(store);
    // The partial restore: sled from size 1000, sealed files from 1960.
    let newer = dir.path().join("newer");
    back_up_sled(&store_dir, &newer);
    restore_sled(&store_dir, &backup);
    let before = sealed_lengths(&store_dir);

    let err = LogStore::open(&store_dir).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::BehindSigned {
                stored: 1_000,
                signed: 1_960,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("1000") && text.contains("1960"), "{text}");
    assert_eq!(sealed_lengths(&store_dir), before, "nothing was cut");

    // What was refused is intact: with its own sled files back, the log opens as it was signed.
    restore_sled(&store_dir, &newer);
    let store = LogStore::open(&store_dir).unwrap();
    assert_eq!(store.head(), signed);
    assert_eq!(store.entries(1_959, 1).unwrap(), vec![entry(1_959)]);
}

/// Log lines written while `f` runs on this thread.
fn captured<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Arc::new(Mutex::new(Vec::new()));
    let writer = Capture(buf.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&buf.lock().unwrap()).into_owned();
    (out, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_that_never_committed_is_cut_at_open_and_logged_with_its_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("log");
    let backup = dir.path().join("backup");
    let store = LogStore::create(&store_dir, ORIGIN, HashAlgorithm::Blake3).unwrap();
    append(&store, (0..1_000).map(entry).collect()).await;
    let committed = store.head();
    drop(store);
    // The state of a crash after a round's sealed records were synced and before its sled
    // batch (and so its high-water mark) was durable: sled and the mark from before the round,
    // the sealed data files from after it.
    back_up_sled(&store_dir, &backup);
    let mark = store_dir.join(SEALED_DIR).join("high-water");
    let saved_mark = dir.path().join("high-water.saved");
    std::fs::copy(&mark, &saved_mark).unwrap();
    let store = LogStore::open(&store_dir).unwrap();
    append(&store, (1_000..1_700).map(entry).collect()).await;
    drop(store);
    restore_sled(&store_dir, &backup);
    std::fs::copy(&saved_mark, &mark).unwrap();
    let grown = sealed_lengths(&store_dir);

    let (opened, logs) = captured(|| LogStore::open(&store_dir));
    let store = opened.unwrap();
    assert_eq!(store.head(), committed);
    assert!(
        sealed_lengths(&store_dir) < grown,
        "the uncommitted records are cut"
    );
    let cuts: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("cutting sealed records of a round that never committed"))
        .collect();
    assert!(!cuts.is_empty(), "no cut was logged: {logs}");
    for cut in &cuts {
        assert!(cut.contains("WARN"), "{cut}");
        assert!(
            cut.contains("found_bytes=") && cut.contains("committed_bytes="),
            "{cut}"
        );
    }
    assert!(
        cuts.iter().any(|l| l.contains("file=\"bundles\"")),
        "{logs}"
    );
    // And it appends on from the committed size.
    let acks = append(&store, vec![entry(5_000)]).await;
    assert_eq!(acks[0].index, 1_000);
}
