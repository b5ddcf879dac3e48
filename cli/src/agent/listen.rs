//! Where an agent listens: a Unix socket, mode 0600 in a directory of mode 0700 (nobody else
//! can even reach it), or a loopback TCP port whose callers must show a per-start secret.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::args::AgentArgs;
use crate::failure::Failure;

use super::access::Secret;

/// A bound listener, and the files to remove when the agent stops.
pub enum Bound {
    /// A Unix socket at `path`.
    Unix {
        /// The listener.
        listener: tokio::net::UnixListener,
        /// The socket's path.
        path: PathBuf,
    },
    /// A loopback TCP port, with its secret written to `secret_file`.
    Tcp {
        /// The listener.
        listener: tokio::net::TcpListener,
        /// Where the secret was written.
        secret_file: PathBuf,
        /// The secret itself.
        secret: Secret,
    },
}

impl Bound {
    /// Binds what `args` asks for; `name` is the default socket's file name.
    pub fn bind(args: &AgentArgs, name: &str) -> Result<Self, Failure> {
        if let Some(addr) = args.tcp {
            let secret_file = args
                .secret_file
                .clone()
                .ok_or_else(|| Failure::usage("--tcp needs --secret-file"))?;
            return bind_tcp(addr, secret_file);
        }
        let path = match &args.socket {
            Some(path) => path.clone(),
            None => default_directory()?.join(name),
        };
        bind_unix(path)
    }

    /// Where it listens, for the log.
    pub fn describe(&self) -> String {
        match self {
            Self::Unix { path, .. } => format!("unix:{}", path.display()),
            Self::Tcp { listener, .. } => match listener.local_addr() {
                Ok(addr) => format!("tcp:{addr}"),
                Err(_) => "tcp".to_owned(),
            },
        }
    }

    /// Removes the socket or the secret file: a stopped agent leaves neither behind.
    pub fn remove_files(&self) {
        let path = match self {
            Self::Unix { path, .. } => path,
            Self::Tcp { secret_file, .. } => secret_file,
        };
        // Already gone is as good as removed.
        let _ = std::fs::remove_file(path);
    }
}

/// `$XDG_RUNTIME_DIR/keliweb-token` (a per-user tmpfs under systemd), else
/// `keliweb-token-<uid>` in the temporary directory.
fn default_directory() -> Result<PathBuf, Failure> {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").filter(|dir| !dir.is_empty());
    Ok(match runtime {
        Some(dir) => PathBuf::from(dir).join("keliweb-token"),
        None => std::env::temp_dir().join(format!("keliweb-token-{}", own_uid())),
    })
}

/// The agent's effective user id.
pub fn own_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Creates `directory` with mode 0700, or checks that the existing one is this user's and
/// closed to everyone else: in a shared temporary directory another user could have made it
/// first, to read or replace the socket.
fn private_directory(directory: &Path) -> Result<(), Failure> {
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(directory)
    {
        Ok(()) => {}
        Err(error) => {
            return Err(Failure::usage(format!(
                "cannot create {}: {error}",
                directory.display()
            )));
        }
    }
    let metadata = std::fs::symlink_metadata(directory)
        .map_err(|error| Failure::usage(format!("cannot read {}: {error}", directory.display())))?;
    if !metadata.is_dir() || metadata.uid() != own_uid() || metadata.mode() & 0o077 != 0 {
        return Err(Failure::usage(format!(
            "{} must be a directory of this user's with mode 0700 (others could reach the socket)",
            directory.display()
        )));
    }
    Ok(())
}

fn bind_unix(path: PathBuf) -> Result<Bound, Failure> {
    let directory = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    private_directory(directory)?;
    // A socket left by an agent that was killed: only a socket is replaced, never a file.
    if let Ok(existing) = std::fs::symlink_metadata(&path) {
        if !existing.file_type().is_socket() {
            return Err(Failure::usage(format!(
                "{} exists and is not a socket",
                path.display()
            )));
        }
        let _ = std::fs::remove_file(&path);
    }
    let listener = tokio::net::UnixListener::bind(&path)
        .map_err(|error| Failure::usage(format!("cannot listen on {}: {error}", path.display())))?;
    // Created with the umask's mode; the 0700 directory keeps others out until this.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|error| Failure::usage(format!("cannot chmod {}: {error}", path.display())))?;
    Ok(Bound::Unix { listener, path })
}

fn bind_tcp(addr: std::net::SocketAddr, secret_file: PathBuf) -> Result<Bound, Failure> {
    if !addr.ip().is_loopback() {
        return Err(Failure::usage(format!(
            "--tcp {addr}: only a loopback address (127.0.0.1, ::1): the agent hands out tokens"
        )));
    }
    let secret = Secret::generate()?;
    write_secret(&secret_file, &secret)?;
    let std_listener = std::net::TcpListener::bind(addr)
        .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
        .map_err(|error| Failure::usage(format!("cannot listen on {addr}: {error}")))?;
    let listener = tokio::net::TcpListener::from_std(std_listener)
        .map_err(|error| Failure::usage(format!("cannot listen on {addr}: {error}")))?;
    Ok(Bound::Tcp {
        listener,
        secret_file,
        secret,
    })
}

/// Writes the secret to a new file of mode 0600: a file left there before (or a link planted
/// in its place) is removed first, never written through.
fn write_secret(path: &Path, secret: &Secret) -> Result<(), Failure> {
    let _ = std::fs::remove_file(path);
    let failed = |error: std::io::Error| {
        Failure::usage(format!(
            "cannot write the secret file {}: {error}",
            path.display()
        ))
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(failed)?;
    file.write_all(secret.expose().as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .map_err(failed)
}
