//! A real `redis-server` on a free loopback port, started and stopped by the tests. Never
//! skipped: without the binary the test fails and says how to install it.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
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
            _directory: directory,
        };
        server.restart();
        server
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

    /// Starts the server again on the same port (empty).
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new(binary())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self._directory.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let give_up = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
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
