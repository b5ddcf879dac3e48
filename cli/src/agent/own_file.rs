//! The files an agent leaves in a directory (its socket, its secret file) are removed on the
//! way out only if they are still the ones it created: another agent may have taken the path
//! over since (after this one's socket was deleted, say), and removing that one's file by name
//! would cut its callers off. A file is known by its device and inode, recorded when it was
//! created. The look-then-act steps (is a file there, whose, remove it, create ours) run under
//! an exclusive lock on the directory, so two agents starting or stopping at once do not
//! interleave them.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A file this agent created, by path and identity.
#[derive(Debug)]
pub struct OwnFile {
    path: PathBuf,
    device: u64,
    inode: u64,
}

impl OwnFile {
    /// The file now at `path`, which this agent has just created (under [`DirectoryLock`]).
    pub fn created_at(path: PathBuf) -> io::Result<Self> {
        let metadata = std::fs::symlink_metadata(&path)?;
        Ok(Self {
            path,
            device: metadata.dev(),
            inode: metadata.ino(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file if the path still names the one this agent created. Returns whether it
    /// did; a path already gone, or another's file now, is left as it is.
    pub fn remove_if_still_own(&self) -> bool {
        // Without the lock the check and the removal could straddle another agent's bind.
        let _lock = DirectoryLock::acquire(&self.path);
        let still_own = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|now| now.dev() == self.device && now.ino() == self.inode);
        still_own && std::fs::remove_file(&self.path).is_ok()
    }
}

/// An exclusive `flock` on the directory holding a path, released when dropped.
pub struct DirectoryLock {
    /// Held for its lock only; `None` when the directory could not be opened to lock it.
    _held: Option<File>,
}

impl DirectoryLock {
    /// Locks the directory of `path`, waiting for another agent's brief hold to end. A
    /// directory this user may write but not read is not locked: the steps still run, only
    /// without protection from an agent starting or stopping at the same instant.
    pub fn acquire(path: &Path) -> Self {
        let directory = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let held = File::open(directory)
            .ok()
            .filter(|file| file.lock().is_ok());
        Self { _held: held }
    }
}
