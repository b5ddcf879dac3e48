//! Where an agent listens: a Unix socket (`unix_socket`), or a loopback TCP port whose callers
//! must show a per-start secret, written to a file (`secret_file`).

use crate::args::AgentArgs;
use crate::failure::Failure;

use super::access::Secret;
use super::own_file::OwnFile;
use super::secret_file::SecretFile;
use super::unix_socket;

/// A bound listener, and the file to remove when the agent stops.
pub enum Bound {
    /// A Unix socket.
    Unix {
        /// The listener.
        listener: tokio::net::UnixListener,
        /// The socket's file.
        socket: OwnFile,
    },
    /// A loopback TCP port, with its secret written to a file.
    Tcp {
        /// The listener.
        listener: tokio::net::TcpListener,
        /// Where the secret was written.
        secret_file: SecretFile,
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
            None => unix_socket::default_directory().join(name),
        };
        let (listener, socket) = unix_socket::bind(path)?;
        Ok(Self::Unix { listener, socket })
    }

    /// Where it listens, for the log.
    pub fn describe(&self) -> String {
        match self {
            Self::Unix { socket, .. } => format!("unix:{}", socket.path().display()),
            Self::Tcp { listener, .. } => match listener.local_addr() {
                Ok(addr) => format!("tcp:{addr}"),
                Err(_) => "tcp".to_owned(),
            },
        }
    }

    /// Removes the socket or the secret file, if still this agent's: a stopped agent leaves
    /// neither behind, and takes nothing from an agent that replaced it.
    pub fn remove_own_file(&self) {
        let (removed, path) = match self {
            Self::Unix { socket, .. } => (socket.remove_if_still_own(), socket.path()),
            Self::Tcp { secret_file, .. } => (secret_file.remove(), secret_file.path()),
        };
        if !removed {
            tracing::info!(path = %path.display(), "not removed: gone, or another agent's now");
        }
    }
}

/// Listens on `addr` first: a port another agent holds stops the start before the secret file
/// is touched, which that agent's callers may be reading.
fn bind_tcp(addr: std::net::SocketAddr, secret_file: std::path::PathBuf) -> Result<Bound, Failure> {
    if !addr.ip().is_loopback() {
        return Err(Failure::usage(format!(
            "--tcp {addr}: only a loopback address (127.0.0.1, ::1): the agent hands out tokens"
        )));
    }
    let cannot_listen =
        |error: std::io::Error| Failure::cannot_serve(format!("cannot listen on {addr}: {error}"));
    let std_listener = std::net::TcpListener::bind(addr)
        .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
        .map_err(cannot_listen)?;
    let listener = tokio::net::TcpListener::from_std(std_listener).map_err(cannot_listen)?;
    let secret = Secret::generate()?;
    let secret_file = SecretFile::write(secret_file, &secret)?;
    Ok(Bound::Tcp {
        listener,
        secret_file,
        secret,
    })
}
