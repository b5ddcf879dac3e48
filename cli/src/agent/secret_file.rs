//! The TCP mode's secret file: created new, mode 0600, and kept open with an exclusive `flock`
//! for as long as the agent runs. The lock is how a second agent pointed at the same file
//! knows it is in use (a file, unlike a socket, cannot be knocked on): it refuses to start
//! rather than overwrite a secret the first agent's callers read. A killed agent's lock goes
//! with its process, so its file is then replaced.

use std::fs::{File, TryLockError};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::failure::Failure;

use super::access::Secret;
use super::own_file::{DirectoryLock, OwnFile};

/// The secret file an agent wrote, locked while it is held.
#[derive(Debug)]
pub struct SecretFile {
    file: OwnFile,
    /// Open for its lock: other agents see the file is in use.
    _locked: File,
}

impl SecretFile {
    /// Writes `secret` to a new file at `path`. A file there that no agent holds, or a link
    /// planted in its place, is removed first, never written through.
    pub fn write(path: PathBuf, secret: &Secret) -> Result<Self, Failure> {
        let failed = |error: std::io::Error| {
            Failure::cannot_serve(format!(
                "cannot write the secret file {}: {error}",
                path.display()
            ))
        };
        // Another agent starting now must not remove this file between its creation and lock.
        let _lock = DirectoryLock::acquire(&path);
        remove_unheld(&path)?;
        let mut locked = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(failed)?;
        locked.try_lock().map_err(|error| failed(error.into()))?;
        locked
            .write_all(secret.expose().as_bytes())
            .and_then(|()| locked.write_all(b"\n"))
            .map_err(failed)?;
        let file = OwnFile::created_at(path.clone()).map_err(failed)?;
        Ok(Self {
            file,
            _locked: locked,
        })
    }

    /// Removes the file, if it is still the one this agent wrote.
    pub fn remove(&self) -> bool {
        self.file.remove_if_still_own()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

/// Removes what is at `path` unless a running agent holds it.
fn remove_unheld(path: &Path) -> Result<(), Failure> {
    let regular = std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.is_file());
    // Opened only to test the lock: never through a link, never waiting on a planted FIFO.
    let no_follow_no_wait = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let held = regular
        && std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(no_follow_no_wait.bits().cast_signed())
            .open(path)
            .is_ok_and(|file| matches!(file.try_lock(), Err(TryLockError::WouldBlock)));
    if held {
        return Err(Failure::cannot_serve(format!(
            "another agent uses the secret file {}: stop it first, or choose another --secret-file",
            path.display()
        )));
    }
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != ErrorKind::NotFound => Err(Failure::cannot_serve(format!(
            "cannot replace the secret file {}: {error}",
            path.display()
        ))),
        _ => Ok(()),
    }
}
