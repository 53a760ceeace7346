//! Files the client writes so that a crash leaves the old contents or the new, never a mix, and
//! reads with a size bound. One implementation for the checkpoint store, the record store, the
//! key store and the `herald` CLI's files; each maps these errors into its own.
//!
//! A write puts the bytes in a temporary file next to the target (mode 0600, `create_new`, so it
//! never opens someone else's file), syncs it, then moves it into place — [`replace`] renames it
//! over the target, [`create`] hard-links it to the target name, which fails if the name is
//! taken — and syncs the directory, because a rename or link is durable only once the directory
//! entry is. A failed write removes its temporary file. Files are private to their owner: a
//! record or key store holds secrets, and a checkpoint file says which logs the user follows.
//!
//! Two processes replacing one file at once each write a whole file; the later rename wins.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A file-system step failed: what was being done, to which file or directory, and why.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct FileIoError {
    /// What was being done ("creating", "writing", "syncing", "renaming over", ...).
    pub action: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The operating system's error.
    pub source: io::Error,
}

impl FileIoError {
    fn new(action: &'static str, path: &Path, source: io::Error) -> Self {
        FileIoError {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The file (or a directory on its path) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.source.kind() == io::ErrorKind::NotFound
    }
}

/// Why [`read_bounded`] failed.
// Deliberately exhaustive (here and in `CreateError`): callers map every case into their own
// typed error, and a new case must make them decide how.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening or reading failed (see [`FileIoError::is_not_found`]).
    #[error(transparent)]
    Io(#[from] FileIoError),
    /// The file is larger than the limit; nothing of it is returned.
    #[error("{path} is larger than {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
}

/// Why [`create`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// A file is already there; it was not touched.
    #[error("{path} already exists")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A step of the write failed.
    #[error(transparent)]
    Io(#[from] FileIoError),
}

/// Reads at most `limit` bytes of `path`; a longer file is refused, and only `limit + 1` bytes
/// of it are ever read, so a huge file costs nothing.
pub fn read_bounded(path: &Path, limit: usize) -> Result<Vec<u8>, ReadError> {
    let file = File::open(path).map_err(|e| FileIoError::new("opening", path, e))?;
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| FileIoError::new("reading", path, e))?;
    if bytes.len() > limit {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

/// Writes `bytes` to `path`, replacing any file there. When this returns, the new contents
/// survive a crash; if it fails, the old file (if any) is as it was.
pub fn replace(path: &Path, bytes: &[u8]) -> Result<(), FileIoError> {
    let dir = parent_dir(path);
    let temp = write_temp(dir, path, bytes)?;
    if let Err(e) = fs::rename(&temp, path) {
        let _ = fs::remove_file(&temp);
        return Err(FileIoError::new("renaming over", path, e));
    }
    sync_dir(dir)
}

/// Writes `bytes` to `path`, which must not exist: an existing file is never replaced, even by
/// a racing process. When this returns, the file survives a crash.
pub fn create(path: &Path, bytes: &[u8]) -> Result<(), CreateError> {
    let dir = parent_dir(path);
    let temp = write_temp(dir, path, bytes)?;
    // A hard link fails if the name is taken, where a rename would replace the file.
    let linked = fs::hard_link(&temp, path);
    // Linked or not, the temporary name goes; a link keeps the contents under `path`.
    let _ = fs::remove_file(&temp);
    match linked {
        Ok(()) => Ok(sync_dir(dir)?),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(CreateError::Exists {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(FileIoError::new("linking", path, e).into()),
    }
}

/// Creates `dir` and any missing parents with mode 0700 (an existing directory is left as it is).
pub fn create_private_dir(dir: &Path) -> Result<(), FileIoError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| FileIoError::new("creating", dir, e))
}

/// Makes `dir` a directory only its owner can enter: created with mode 0700 (and any missing
/// parents) if missing, its mode set to 0700 if it exists with any group or other permission.
/// For the directories Herald owns (the state directory, the record store), never for a
/// directory the user merely named as the place of one file.
pub fn make_private_dir(dir: &Path) -> Result<(), FileIoError> {
    create_private_dir(dir)?;
    let mode = fs::metadata(dir)
        .map_err(|e| FileIoError::new("reading the mode of", dir, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| FileIoError::new("making private (chmod 700)", dir, e))?;
    }
    Ok(())
}

/// Makes the directory's entries durable (after a rename, link or removal in it).
pub fn sync_dir(dir: &Path) -> Result<(), FileIoError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| FileIoError::new("syncing", dir, e))
}

/// The directory `path` is in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Distinguishes the temporary files of concurrent writes in one process (the process id
/// distinguishes processes).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes and syncs `bytes` in a new temporary file in `dir`, named after `path`; returns its
/// path. On failure nothing is left behind.
fn write_temp(dir: &Path, path: &Path, bytes: &[u8]) -> Result<PathBuf, FileIoError> {
    // A dot file, ignored by listings of records; the name is cut so the temporary name stays
    // within file-name limits however long the target's name is.
    let name: String = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("file")
        .chars()
        .take(160)
        .collect();
    let temp = dir.join(format!(
        ".{name}.{}-{}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|e| FileIoError::new("creating", &temp, e))?;
    let written = file
        .write_all(bytes)
        .map_err(|e| FileIoError::new("writing", &temp, e))
        .and_then(|()| {
            file.sync_all()
                .map_err(|e| FileIoError::new("syncing", &temp, e))
        });
    if let Err(e) = written {
        drop(file);
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    Ok(temp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn replace_writes_then_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.bin");
        replace(&path, b"one").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        replace(&path, b"two, longer").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two, longer");
        assert_eq!(names(dir.path()), vec!["state.bin"]);
    }

    #[test]
    fn written_files_are_private_whatever_the_umask_allows() {
        let dir = tempfile::tempdir().unwrap();
        let replaced = dir.path().join("replaced");
        replace(&replaced, b"x").unwrap();
        assert_eq!(mode(&replaced), 0o600);
        // Replacing a file that others could read makes it private too.
        fs::set_permissions(&replaced, fs::Permissions::from_mode(0o644)).unwrap();
        replace(&replaced, b"y").unwrap();
        assert_eq!(mode(&replaced), 0o600);
        let created = dir.path().join("created");
        create(&created, b"x").unwrap();
        assert_eq!(mode(&created), 0o600);
    }

    #[test]
    fn create_refuses_an_existing_file_and_leaves_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        create(&path, b"first").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"first");
        match create(&path, b"second") {
            Err(CreateError::Exists { path: p }) => assert_eq!(p, path),
            other => panic!("expected Exists, got {other:?}"),
        }
        assert_eq!(fs::read(&path).unwrap(), b"first");
        assert_eq!(names(dir.path()), vec!["keys"]);
    }

    #[test]
    fn a_failed_write_removes_its_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory cannot be renamed over or linked to: the last step fails after
        // the temporary file was written.
        let target = dir.path().join("taken");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("inside"), b"keep").unwrap();
        let err = replace(&target, b"data").unwrap_err();
        assert_eq!(
            (err.action, err.path.as_path()),
            ("renaming over", &*target)
        );
        assert!(matches!(
            create(&target, b"data"),
            Err(CreateError::Exists { .. })
        ));
        assert_eq!(names(dir.path()), vec!["taken"]);
        assert_eq!(fs::read(target.join("inside")).unwrap(), b"keep");
        // A directory that does not exist: the temporary file cannot even be created.
        let err = replace(&dir.path().join("missing/file"), b"data").unwrap_err();
        assert_eq!(err.action, "creating");
        assert!(err.is_not_found());
    }

    #[test]
    fn a_bounded_read_refuses_an_oversized_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, [7u8; 10]).unwrap();
        assert_eq!(read_bounded(&path, 10).unwrap(), [7u8; 10]);
        match read_bounded(&path, 9) {
            Err(ReadError::TooLarge { path: p, limit: 9 }) => assert_eq!(p, path),
            other => panic!("expected TooLarge, got {other:?}"),
        }
        fs::write(&path, b"").unwrap();
        assert_eq!(read_bounded(&path, 0).unwrap(), b"");
        match read_bounded(&dir.path().join("none"), 10) {
            Err(ReadError::Io(e)) => assert!(e.is_not_found() && e.action == "opening"),
            other => panic!("expected NotFound, got {other:?}"),
        }
    }

    #[test]
    fn bare_file_names_are_written_in_the_current_directory() {
        assert_eq!(parent_dir(Path::new("out.bin")), Path::new("."));
        assert_eq!(parent_dir(Path::new("/a/out.bin")), Path::new("/a"));
    }

    #[test]
    fn private_directories_are_created_with_their_parents() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b");
        create_private_dir(&deep).unwrap();
        assert_eq!((mode(&dir.path().join("a")), mode(&deep)), (0o700, 0o700));
        // An existing directory is accepted as it is.
        create_private_dir(&deep).unwrap();
    }

    #[test]
    fn a_directory_made_private_loses_group_and_other_access() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("state");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).unwrap();
        make_private_dir(&open).unwrap();
        assert_eq!(mode(&open), 0o700);
        let fresh = dir.path().join("new/deeper");
        make_private_dir(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
    }
}
