//! Two agents on one socket or one secret file: the second refuses to start (exit 6) rather
//! than cut the first one's callers off, a socket or secret file nobody holds any more is
//! replaced, and a stopping agent removes only the file it created.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

use super::access::free_port;
use super::{Agent, exchange, get};
use crate::Setup;

/// How long a refused agent gets to exit (a loaded machine).
const EXIT_WITHIN: Duration = Duration::from_secs(60);

fn inode(path: &Path) -> u64 {
    std::fs::symlink_metadata(path).expect("exists").ino()
}

#[test]
fn a_second_agent_on_a_live_socket_exits_6_and_the_first_keeps_serving() {
    let setup = Setup::new();
    let directory = tempfile::tempdir().expect("a directory");
    let first = Agent::serve(&setup, directory.path(), &[]);
    let before = inode(&first.socket);
    let socket = first.socket.to_str().expect("UTF-8").to_owned();
    let mut second = Agent::start(
        &setup,
        &["serve", "--socket", &socket],
        &first.socket,
        &directory.path().join("second.log"),
    );
    let code = second.wait_exit(EXIT_WITHIN);
    assert_eq!(code, Some(6), "{}", second.logs());
    assert!(
        second.logs().contains("another agent is listening on"),
        "{}",
        second.logs()
    );
    assert_eq!(inode(&first.socket), before, "the first agent's socket");
    let token = get(&first.socket, "/token", &[]).expect("the first agent answers");
    assert_eq!(token.status, 200, "{token:?}");
    assert_eq!(first.stop(), 0);
}

#[test]
fn a_socket_nobody_answers_on_is_replaced_and_a_file_is_not() {
    let setup = Setup::new();
    let directory = tempfile::tempdir().expect("a directory");
    let run = directory.path().join("run");
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&run)
        .expect("created");
    // An agent killed with SIGKILL leaves its socket file, with nobody listening behind it.
    drop(UnixListener::bind(run.join("agent.sock")).expect("bound"));
    let agent = Agent::serve(&setup, directory.path(), &[]);
    assert_eq!(agent.stop(), 0);

    let file = run.join("agent.sock");
    std::fs::write(&file, "not a socket\n").expect("written");
    let refused = setup.run(&["serve", "--socket", file.to_str().expect("UTF-8")]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("is not a socket"), "{refused:?}");
    assert_eq!(
        std::fs::read_to_string(&file).expect("kept"),
        "not a socket\n"
    );
}

/// The socket deleted under a running agent and another listener put in its place (an
/// operator starting a second agent after removing the first one's socket): the first agent,
/// stopping, leaves the newcomer's socket alone.
#[test]
fn a_stopping_agent_leaves_a_socket_another_put_in_its_place() {
    let setup = Setup::new();
    let directory = tempfile::tempdir().expect("a directory");
    let agent = Agent::serve(&setup, directory.path(), &[]);
    std::fs::remove_file(&agent.socket).expect("removed");
    let newcomer = UnixListener::bind(&agent.socket).expect("bound");
    let newcomers = inode(&agent.socket);
    let socket = agent.socket.clone();
    assert_eq!(agent.stop(), 0);
    assert_eq!(inode(&socket), newcomers, "the newcomer's socket is kept");
    UnixStream::connect(&socket).expect("the newcomer still answers");
    drop(newcomer);
}

/// A TCP agent, ready; returns it and its secret.
fn tcp_agent(setup: &Setup, address: &str, secret_file: &Path, log: &Path) -> (Agent, String) {
    let agent = Agent::start(
        setup,
        &[
            "serve",
            "--tcp",
            address,
            "--secret-file",
            secret_file.to_str().expect("UTF-8"),
        ],
        &log.with_extension("sock"),
        log,
    );
    for _ in 0..600 {
        if let Ok(secret) = std::fs::read_to_string(secret_file)
            && let Some(health) = ask(address, "/health", secret.trim_end())
            && health == 200
        {
            return (agent, secret.trim_end().to_owned());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the agent never became ready: {}", agent.logs());
}

/// The status of `GET path` with `secret`, if the agent answers.
fn ask(address: &str, path: &str, secret: &str) -> Option<u16> {
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    let answer = exchange(&mut stream, path, &[("X-Keliweb-Agent-Secret", secret)]).ok()?;
    Some(answer.status)
}

#[test]
fn a_second_tcp_agent_leaves_the_first_ones_secret_file_alone() {
    let setup = Setup::new();
    let directory = tempfile::tempdir().expect("a directory");
    let secret_file = directory.path().join("agent.secret");
    let address = format!("127.0.0.1:{}", free_port());
    let (first, secret) = tcp_agent(
        &setup,
        &address,
        &secret_file,
        &directory.path().join("first.log"),
    );

    // The same port: refused before the secret file is touched.
    let same_port = format!("127.0.0.1:{}", address.rsplit(':').next().expect("a port"));
    // Another port, the same secret file: refused, the file being held.
    let other_port = format!("127.0.0.1:{}", free_port());
    for (port, reason) in [
        (&same_port, "cannot listen on"),
        (&other_port, "another agent uses the secret file"),
    ] {
        let mut second = Agent::start(
            &setup,
            &[
                "serve",
                "--tcp",
                port,
                "--secret-file",
                secret_file.to_str().expect("UTF-8"),
            ],
            &directory.path().join("unused.sock"),
            &directory.path().join("second.log"),
        );
        let code = second.wait_exit(EXIT_WITHIN);
        assert_eq!(code, Some(6), "{reason}: {}", second.logs());
        assert!(second.logs().contains(reason), "{}", second.logs());
        let kept = std::fs::read_to_string(&secret_file).expect("kept");
        assert_eq!(
            kept.trim_end(),
            secret,
            "{reason}: the first agent's secret"
        );
        assert_eq!(ask(&address, "/token", &secret), Some(200), "{reason}");
    }

    // The file replaced under the running agent: stopping, it leaves the newcomer's.
    std::fs::remove_file(&secret_file).expect("removed");
    std::fs::write(&secret_file, "another agent's\n").expect("written");
    assert_eq!(first.stop(), 0);
    assert_eq!(
        std::fs::read_to_string(&secret_file).expect("kept"),
        "another agent's\n"
    );

    // Nobody holds that file: the next agent replaces it.
    let (next, next_secret) = tcp_agent(
        &setup,
        &format!("127.0.0.1:{}", free_port()),
        &secret_file,
        &directory.path().join("next.log"),
    );
    assert_ne!(next_secret, "another agent's");
    assert_ne!(next_secret, secret, "a new secret at each start");
    assert_eq!(next.stop(), 0);
    assert!(!secret_file.exists(), "its own file is removed");
}
