//! The Unix socket: mode 0600 in a directory of mode 0700, so nobody else can even reach it.
//! A socket a live agent answers on is never taken over; one nobody answers on (left by an
//! agent that was killed) is replaced.

use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::failure::Failure;

use super::own_file::{DirectoryLock, OwnFile};

/// `$XDG_RUNTIME_DIR/keliweb-token` (a per-user tmpfs under systemd), else
/// `keliweb-token-<uid>` in the temporary directory.
pub fn default_directory() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("keliweb-token"),
        None => std::env::temp_dir().join(format!("keliweb-token-{}", own_uid())),
    }
}

/// The agent's effective user id.
pub fn own_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Listens on a new socket at `path`, mode 0600; returns the listener and the socket's file,
/// to remove on the way out.
pub fn bind(path: PathBuf) -> Result<(tokio::net::UnixListener, OwnFile), Failure> {
    let directory = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    private_directory(directory)?;
    // Another agent starting now must not remove the socket between this one's check and bind.
    let _lock = DirectoryLock::acquire(&path);
    remove_stale(&path)?;
    let listener = tokio::net::UnixListener::bind(&path).map_err(|error| {
        Failure::cannot_serve(format!("cannot listen on {}: {error}", path.display()))
    })?;
    // Created with the umask's mode; the 0700 directory keeps others out until this.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(|error| {
        Failure::cannot_serve(format!("cannot chmod {}: {error}", path.display()))
    })?;
    let socket = OwnFile::created_at(path).map_err(|error| {
        Failure::cannot_serve(format!("cannot read the socket just made: {error}"))
    })?;
    Ok((listener, socket))
}

/// Creates `directory` with mode 0700, or checks that the existing one is this user's and
/// closed to everyone else: in a shared temporary directory another user could have made it
/// first, to read or replace the socket.
fn private_directory(directory: &Path) -> Result<(), Failure> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(directory)
        .map_err(|error| {
            Failure::cannot_serve(format!("cannot create {}: {error}", directory.display()))
        })?;
    let metadata = std::fs::symlink_metadata(directory).map_err(|error| {
        Failure::cannot_serve(format!("cannot read {}: {error}", directory.display()))
    })?;
    if !metadata.is_dir() || metadata.uid() != own_uid() || metadata.mode() & 0o077 != 0 {
        return Err(Failure::usage(format!(
            "{} must be a directory of this user's with mode 0700 (others could reach the socket)",
            directory.display()
        )));
    }
    Ok(())
}

/// Clears the way for the socket: nothing at `path`, or a socket nobody answers on, which is
/// removed. A live agent's socket, or a file that is not a socket, stops the start.
fn remove_stale(path: &Path) -> Result<(), Failure> {
    let existing = match std::fs::symlink_metadata(path) {
        Ok(existing) => existing,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(Failure::cannot_serve(format!(
                "cannot read {}: {error}",
                path.display()
            )));
        }
    };
    if !existing.file_type().is_socket() {
        return Err(Failure::usage(format!(
            "{} exists and is not a socket",
            path.display()
        )));
    }
    // Whether anyone listens is only known by knocking: the file looks the same either way.
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(Failure::cannot_serve(format!(
            "another agent is listening on {}: stop it first, or choose another --socket",
            path.display()
        ))),
        Err(error) if error.kind() == ErrorKind::ConnectionRefused => std::fs::remove_file(path)
            .map_err(|error| {
                Failure::cannot_serve(format!(
                    "cannot remove the stale socket {}: {error}",
                    path.display()
                ))
            }),
        Err(error) => Err(Failure::cannot_serve(format!(
            "cannot tell whether an agent listens on {}: {error}",
            path.display()
        ))),
    }
}
