//! A real `redis-server` on a free loopback port, started and stopped by the tests. Never
//! skipped: without the binary the test fails and says how to install it.

use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keliweb_oauth::client::RedisStore;

/// How to get `redis-server` where it is missing.
pub const INSTALL: &str = "redis-server is not installed: `bash tests/run.sh` installs it \
(as root on Debian or Ubuntu), or run `sudo apt-get install -y redis-server`";

/// A `redis-server` child process with no persistence, in a directory of its own.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    /// A server on a Unix socket instead (no TCP port), and the password it requires.
    socket: Option<(PathBuf, String)>,
    _directory: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one on a free port of 127.0.0.1 and waits until it answers.
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let directory = tempfile::tempdir().expect("a directory");
        let mut server = Self {
            child: None,
            port,
            socket: None,
            _directory: directory,
        };
        server.restart();
        server
    }

    /// Starts one on a Unix socket in its directory, requiring `password`, and waits until it
    /// answers.
    pub fn start_on_socket(password: &str) -> Self {
        let directory = tempfile::tempdir().expect("a directory");
        let socket = directory.path().join("redis.sock");
        let mut server = Self {
            child: None,
            port: 0,
            socket: Some((socket, password.to_owned())),
            _directory: directory,
        };
        server.restart();
        server
    }

    /// The Unix socket of a server started with [`Self::start_on_socket`].
    pub fn socket(&self) -> &Path {
        let (socket, _) = self.socket.as_ref().expect("a server on a socket");
        socket
    }

    /// The URL clients connect to.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server: Redis down, and every key gone with it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open and commands queue unanswered, as
    /// in a stall, and run once it is resumed.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("a running server");
        let sent = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill {signal} failed");
    }

    /// Starts the server again on the same port (empty).
    pub fn restart(&mut self) {
        self.stop();
        let mut command = Command::new(binary());
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self._directory.path());
        if let Some((socket, password)) = &self.socket {
            command.arg("--unixsocket").arg(socket).args([
                "--unixsocketperm",
                "700",
                "--requirepass",
                password,
            ]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let give_up = Instant::now() + Duration::from_secs(10);
        let answers = |server: &Self| match &server.socket {
            Some((socket, _)) => UnixStream::connect(socket).is_ok(),
            None => TcpStream::connect(("127.0.0.1", server.port)).is_ok(),
        };
        while !answers(self) {
            assert!(
                Instant::now() < give_up,
                "redis-server did not start listening"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `redis-server` binary: on the `PATH`, or where Debian puts it.
fn binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|directory| directory.join("redis-server"))
        .find(|candidate| candidate.is_file());
    on_path.unwrap_or_else(|| panic!("{INSTALL}"))
}

/// A store on the server at `url`, under `key`, with a timeout for loopback (200 ms: the lease
/// lasts six of them longer than the client's hold time).
pub fn store(url: &str, key: &str) -> RedisStore {
    RedisStore::open(url, key)
        .expect("a Redis URL")
        .timeout(Duration::from_millis(200))
}
