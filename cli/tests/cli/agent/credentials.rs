//! Where the agent's password comes from, and what it does without one: `--password-stdin`
//! logs in; with no password the stored set is used, and once its refresh token is dead the
//! agent answers `503`: it needs `keliweb-token login` and a restart, which adopts the new set.
//! (A running agent does not look at the store again once the client has stopped for a
//! login.)

use keliweb_emulator::EmulatorConfig;
use std::io::Write;
use std::process::Stdio;

use super::{Agent, access_token, get, post};
use crate::Setup;

#[test]
fn password_stdin_logs_in_and_without_a_password_the_stored_set_serves_until_it_dies() {
    let setup = Setup::new();
    let directory = tempfile::tempdir().expect("a directory");
    let socket = directory.path().join("run").join("agent.sock");
    let socket_arg = socket.to_str().expect("UTF-8");
    let mut command = setup.command(&["serve", "--socket", socket_arg, "--password-stdin"]);
    command.stdin(Stdio::piped());
    let mut agent = Agent::spawn(command, &socket, &directory.path().join("stdin.log"));
    let mut stdin = agent
        .child
        .as_mut()
        .and_then(|child| child.stdin.take())
        .expect("a pipe");
    writeln!(stdin, "{}", EmulatorConfig::default().password).expect("written");
    drop(stdin);
    agent.wait_ready();
    assert_eq!(setup.emulator.counters().password_grants, 1);
    assert_eq!(agent.stop(), 0);

    // No password at all: the stored set serves.
    let agent = Agent::spawn(
        setup.command(&["serve", "--socket", socket_arg]),
        &socket,
        &directory.path().join("no-password.log"),
    );
    agent.wait_ready();
    let stored = access_token(&get(&socket, "/token", &[]).expect("answers")).expect("a token");
    assert_eq!(stored, setup.stored_access_token());

    // Its refresh token dead, and no password: no token until a login.
    setup.emulator.revoke_all_tokens();
    let refused = post(&socket, "/token/refused", &stored).expect("answers");
    assert_eq!(refused.status, 503, "{refused:?}");
    assert!(
        refused.body.contains(r#""error":"no_token""#),
        "{refused:?}"
    );
    assert_eq!(get(&socket, "/health", &[]).expect("answers").status, 503);
    let login = setup.run_with_password(&["login"]);
    assert_eq!(login.code, 0, "{login:?}");
    assert_eq!(agent.stop(), 0);
    let agent = Agent::spawn(
        setup.command(&["serve", "--socket", socket_arg]),
        &socket,
        &directory.path().join("restarted.log"),
    );
    agent.wait_ready();
    let token = access_token(&get(&socket, "/token", &[]).expect("answers")).expect("a token");
    assert_eq!(token, setup.stored_access_token(), "the new set, adopted");
    assert_eq!(
        setup.emulator.counters().password_grants,
        2,
        "the CLI's login"
    );
    assert_eq!(agent.stop(), 0);
}
