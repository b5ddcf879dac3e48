//! A store in one JSON file, shared by the processes of one host.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::Stored;
use super::store::{TokenStore, deadline, next_version};
use crate::{StoreError, StoreErrorKind, TokenSet};

/// Largest file read: a token set is a few kilobytes, so anything far larger is not one.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The longest pause between two tries of the lock while another process holds it.
const MAX_LOCK_POLL: Duration = Duration::from_millis(20);

/// A [`TokenStore`] in one JSON file, for the processes of one host: replicas, cron jobs, a
/// command line called from scripts.
///
/// - The set is written atomically: to a temporary file in the same directory (created with
///   mode `0600`), flushed to disk, renamed over the old file, and the directory flushed.
///   A crash leaves the old set or the new one, never half of one.
/// - The lease is an advisory lock (`flock` on Unix, `LockFileEx` on Windows, through the
///   standard library) on a sibling file, `<file>.lock`. The kernel releases it when its
///   holder exits, however it exits: a process killed in mid-refresh never blocks the others.
/// - On Unix, a file owned by another user, or one that group or others may read or write,
///   is refused ([`StoreErrorKind::Foreign`]): another user could have planted or read it. So
///   is such a lock file, and a lock file that is a symbolic link (it is opened with
///   `O_NOFOLLOW`), so that no one can make this user create or lock a file elsewhere.
/// - On Unix, the directory must be this user's (or root's) and writable by no one else, as
///   ssh's `StrictModes` wants of `~/.ssh`: whoever may write it may delete or replace the
///   file and plant the lock file's name. Otherwise load, lease and save are refused
///   ([`StoreErrorKind::Foreign`]) unless the caller says otherwise with
///   [`allow_shared_directory`](Self::allow_shared_directory).
/// - Content that is not a set this store wrote (truncated, not JSON, a token that breaks the
///   rules) is [`StoreErrorKind::Corrupt`], naming the path and the position, never quoting the
///   content. Nothing logs in over it: fix or delete the file.
///
/// Protect the file as you would the password: it holds a refresh token, which gets new access
/// tokens until it expires.
#[derive(Clone, Debug)]
pub struct FileStore {
    path: PathBuf,
    lock_path: PathBuf,
    /// Whether a directory that other users may write, or another user's, is accepted.
    #[cfg_attr(
        not(unix),
        allow(dead_code, reason = "only Unix modes and owners are checked")
    )]
    shared_directory: bool,
}

/// The lock on a [`FileStore`]'s lock file; dropping it releases the lease.
#[derive(Debug)]
pub struct FileLease {
    _locked: File,
}

/// What [`FileStore::check_private`] checks, and so the rule it applies.
#[cfg(unix)]
#[derive(Clone, Copy)]
enum Checked<'a> {
    /// The store's file (`None`) or its lock file: this user's, mode `0600` or stricter.
    File(Option<&'a Path>),
    /// The store's directory: this user's or root's, writable by no one else.
    Directory(&'a Path),
}

/// What the file holds.
#[derive(Serialize, Deserialize)]
struct Contents {
    version: u64,
    tokens: Option<TokenSet>,
}

impl FileStore {
    /// A store in the file at `path`, with its lock in `<path>.lock`. Nothing is touched until
    /// the first load; the directory is created (mode `0700`) at the first save.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let mut lock_path = path.clone().into_os_string();
        lock_path.push(".lock");
        Self {
            path,
            lock_path: PathBuf::from(lock_path),
            shared_directory: false,
        }
    }

    /// Accepts a directory that group or others may write (sticky or not, like `/tmp`) or that
    /// another user owns, which the store refuses by default.
    ///
    /// The files are still checked (this user's, mode `0600`, the lock file no symbolic link,
    /// the temporary file created new), so the directory's other writers cannot read the set
    /// or hand this user one of theirs; but they can delete the file (a new login) or plant its
    /// names (every call fails). Use it only where they are trusted that far.
    #[must_use]
    pub fn allow_shared_directory(mut self) -> Self {
        self.shared_directory = true;
        self
    }

    /// The file the set is kept in.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, kind: StoreErrorKind, what: impl std::fmt::Display) -> StoreError {
        StoreError::new(kind, format!("{}: {what}", self.path.display()))
    }

    fn unavailable(&self, doing: &str, error: &io::Error) -> StoreError {
        self.error(
            StoreErrorKind::Unavailable,
            format_args!("{doing}: {error}"),
        )
    }

    /// The directory the file is in.
    fn parent(&self) -> &Path {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        }
    }

    /// The directory, created with mode `0700` if missing, and checked.
    fn directory(&self) -> Result<&Path, StoreError> {
        let directory = self.parent();
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(directory)
            .map_err(|error| self.unavailable("cannot create its directory", &error))?;
        self.check_directory(directory)?;
        Ok(directory)
    }

    /// Refuses a directory another user owns or may write, unless the caller allowed it: that
    /// user could delete or replace the file, or plant the lock file's name. Root's directories
    /// pass, as ssh's `StrictModes` lets them: root can replace anything anyway. A missing
    /// directory passes too: it holds nothing yet, and is created `0700` before any write.
    #[cfg(unix)]
    fn check_directory(&self, directory: &Path) -> Result<(), StoreError> {
        if self.shared_directory {
            return Ok(());
        }
        let metadata = match fs::metadata(directory) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error) => {
                return Err(self.unavailable(
                    &format!("cannot read its directory {}", directory.display()),
                    &error,
                ));
            }
        };
        self.check_private(&metadata, Checked::Directory(directory))
    }

    #[cfg(not(unix))]
    fn check_directory(&self, _directory: &Path) -> Result<(), StoreError> {
        Ok(())
    }

    /// Opens the lock file, created mode `0600` if missing. Never through a symbolic link:
    /// another user who may write the directory could plant one, and the create would make a
    /// file of this user's (root's, for a login run as root) wherever it points. An existing
    /// lock file is checked as the store's file is.
    fn open_lock_file(&self) -> Result<File, StoreError> {
        let mut options = OpenOptions::new();
        options.create(true).truncate(false).read(true).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options
                .mode(0o600)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits().cast_signed());
        }
        let file = options.open(&self.lock_path).map_err(|error| {
            let link = fs::symlink_metadata(&self.lock_path)
                .is_ok_and(|metadata| metadata.file_type().is_symlink());
            if link {
                self.error(
                    StoreErrorKind::Foreign,
                    format_args!(
                        "its lock file {} is a symbolic link, which another user may have \
                         planted; remove it",
                        self.lock_path.display()
                    ),
                )
            } else {
                self.unavailable(
                    &format!("cannot open the lock file {}", self.lock_path.display()),
                    &error,
                )
            }
        })?;
        self.check_owner(&file, Some(&self.lock_path))?;
        Ok(file)
    }

    fn write(&self, contents: &Contents) -> Result<(), StoreError> {
        let directory = self.directory()?;
        let mut json = serde_json::to_vec(contents)
            .map_err(|error| self.error(StoreErrorKind::Unavailable, error))?;
        let written = self.replace_with(directory, &json);
        json.zeroize();
        written
    }

    /// Replaces the file with `bytes`: a temporary file (mode `0600`) flushed and renamed over
    /// it, then the directory flushed, so the rename itself survives a crash.
    fn replace_with(&self, directory: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        // tempfile creates a random name with `O_CREAT | O_EXCL`, which fails on any existing
        // name, a planted symbolic link included; and the rename replaces a link at the path
        // rather than writing through it.
        let mut temporary = tempfile::Builder::new()
            .prefix(".keliweb-tokens")
            .tempfile_in(directory)
            .map_err(|error| self.unavailable("cannot create a temporary file", &error))?;
        temporary
            .write_all(bytes)
            .and_then(|()| temporary.as_file().sync_all())
            .map_err(|error| self.unavailable("cannot write a temporary file", &error))?;
        temporary.persist(&self.path).map_err(|error| {
            self.unavailable("cannot rename the new file into place", &error.error)
        })?;
        sync_directory(directory)
            .map_err(|error| self.unavailable("cannot flush the directory", &error))
    }

    /// Refuses a file that is not this user's alone: the store's file, or its lock file
    /// (`lock`, named in the message).
    #[cfg(unix)]
    fn check_owner(&self, file: &File, lock: Option<&Path>) -> Result<(), StoreError> {
        let metadata = file
            .metadata()
            .map_err(|error| self.unavailable("cannot read a file's metadata", &error))?;
        self.check_private(&metadata, Checked::File(lock))
    }

    /// Refuses what another user owns, or what others may use as `checked` says.
    #[cfg(unix)]
    fn check_private(
        &self,
        metadata: &fs::Metadata,
        checked: Checked<'_>,
    ) -> Result<(), StoreError> {
        use std::os::unix::fs::MetadataExt;
        const ALLOW: &str = "or accept this with FileStore::allow_shared_directory";
        let mode = metadata.mode() & 0o7777;
        let (which, root_too, forbidden, may, fix_owner, fix_mode) = match checked {
            Checked::File(lock) => (
                lock.map_or_else(String::new, |lock| {
                    format!("its lock file {}: ", lock.display())
                }),
                false,
                0o077,
                "read or write",
                "remove it or run as its owner".to_owned(),
                "chmod 600 it".to_owned(),
            ),
            Checked::Directory(directory) => (
                format!("its directory {}: ", directory.display()),
                // As ssh's StrictModes: root can replace anything anyway.
                true,
                0o022,
                "write",
                format!("keep the store in a directory of this user's, {ALLOW}"),
                if mode & 0o1000 == 0 {
                    format!(
                        "they could replace the file or plant its lock file; chmod 700 {}, \
                         {ALLOW}",
                        directory.display()
                    )
                } else {
                    // Sticky, so shared on purpose (`/tmp`): chmod would break its other users.
                    format!(
                        "they could plant the file's or its lock file's name; keep the store in \
                         a directory of this user's (mode 700), {ALLOW}"
                    )
                },
            ),
        };
        let user = rustix::process::geteuid().as_raw();
        let owner = metadata.uid();
        if owner != user && !(root_too && owner == 0) {
            return Err(self.error(
                StoreErrorKind::Foreign,
                format_args!(
                    "{which}owned by user {owner}, not by this user ({user}); {fix_owner}"
                ),
            ));
        }
        if mode & forbidden != 0 {
            return Err(self.error(
                StoreErrorKind::Foreign,
                format_args!("{which}other users may {may} it (mode {mode:o}); {fix_mode}"),
            ));
        }
        Ok(())
    }

    #[cfg(not(unix))]
    fn check_owner(&self, _file: &File, _lock: Option<&Path>) -> Result<(), StoreError> {
        Ok(())
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "the lease's wait is a deadline on the monotonic clock, outside the core"
)]
impl TokenStore for FileStore {
    type Lease = FileLease;

    fn load(&self) -> Result<Stored, StoreError> {
        self.check_directory(self.parent())?;
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Stored::default()),
            Err(error) => return Err(self.unavailable("cannot open it", &error)),
        };
        self.check_owner(&file, None)?;
        let mut json = Vec::new();
        let read = (&mut file).take(MAX_FILE_BYTES + 1).read_to_end(&mut json);
        if let Err(error) = read {
            json.zeroize();
            return Err(self.unavailable("cannot read it", &error));
        }
        let parsed = if json.len() as u64 > MAX_FILE_BYTES {
            Err(self.error(
                StoreErrorKind::Corrupt,
                format_args!("larger than {MAX_FILE_BYTES} bytes, so not a token set"),
            ))
        } else {
            serde_json::from_slice::<Contents>(&json).map_err(|error| {
                // Position and category only: serde's message may quote the content.
                let what = match error.classify() {
                    serde_json::error::Category::Eof => "cut short",
                    serde_json::error::Category::Syntax => "not JSON",
                    serde_json::error::Category::Data | serde_json::error::Category::Io => {
                        "not a token set this store wrote"
                    }
                };
                self.error(
                    StoreErrorKind::Corrupt,
                    format_args!(
                        "{what} (at line {} column {}); fix or delete it",
                        error.line(),
                        error.column()
                    ),
                )
            })
        };
        json.zeroize();
        let contents = parsed?;
        Ok(Stored {
            version: contents.version,
            tokens: contents.tokens,
        })
    }

    fn lock(&self, hold_for: Duration) -> Result<FileLease, StoreError> {
        self.directory()?;
        let file = self.open_lock_file()?;
        // A waiter that came just after the holder took the lease waits out a whole lease.
        let give_up = deadline(hold_for.saturating_mul(2));
        let mut pause = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(FileLease { _locked: file }),
                Err(TryLockError::WouldBlock) if Instant::now() < give_up => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(MAX_LOCK_POLL);
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(self.error(
                        StoreErrorKind::LeaseTimeout,
                        format_args!(
                            "another process held its lock for {:?}",
                            hold_for.saturating_mul(2)
                        ),
                    ));
                }
                Err(TryLockError::Error(error)) => {
                    return Err(self.unavailable("cannot lock it", &error));
                }
            }
        }
    }

    fn save(
        &self,
        _lease: &mut FileLease,
        expected: u64,
        tokens: Option<&TokenSet>,
    ) -> Result<u64, StoreError> {
        // Under the lock, so no other process writes between this read and the rename.
        let stored = self.load()?.version;
        if stored != expected {
            return Err(self.error(
                StoreErrorKind::Conflict,
                format_args!("it is at version {stored}, not {expected}"),
            ));
        }
        let version = next_version(expected, &self.path.display().to_string())?;
        self.write(&Contents {
            version,
            tokens: tokens.cloned(),
        })?;
        Ok(version)
    }
}

/// Flushes a directory, so a rename in it survives a crash (Unix; elsewhere a no-op).
fn sync_directory(directory: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(directory)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = directory;
    Ok(())
}
