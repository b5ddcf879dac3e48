//! The real `keliweb-token` binary against the emulator on loopback: every subcommand, the exit
//! codes, a corrupt store, `--password-stdin`, twenty concurrent invocations across an expiry,
//! and no secret in any output. Module `agent`: `serve` and `proxy`.

#[path = "cli/agent/mod.rs"]
mod agent;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use keliweb_emulator::{Emulator, EmulatorConfig};

/// An emulator, a directory for the store, and what the binary is told.
struct Setup {
    emulator: Emulator,
    _directory: tempfile::TempDir,
    store: PathBuf,
    /// `KELIWEB_LEEWAY`, for an emulator with short-lived tokens.
    leeway: Option<&'static str>,
}

impl Setup {
    fn new() -> Self {
        Self::with(EmulatorConfig::default(), None)
    }

    fn with(config: EmulatorConfig, leeway: Option<&'static str>) -> Self {
        let emulator = Emulator::start(config).expect("the emulator starts");
        let directory = tempfile::tempdir().expect("a directory");
        let store = directory.path().join("keliweb").join("tokens.json");
        Self {
            emulator,
            _directory: directory,
            store,
            leeway,
        }
    }

    /// The binary with the emulator's settings in its environment, and nothing else of ours.
    fn command(&self, args: &[&str]) -> Command {
        let defaults = EmulatorConfig::default();
        let mut command = Command::new(env!("CARGO_BIN_EXE_keliweb-token"));
        command
            .env_clear()
            .env("KELIWEB_TOKEN_URL", self.emulator.token_url())
            .env("KELIWEB_CLIENT_ID", &defaults.client_id)
            .env("KELIWEB_CLIENT_SECRET", &defaults.client_secret)
            .env("KELIWEB_USERNAME", &defaults.username)
            .env("KELIWEB_TOKEN_STORE", &self.store)
            .args(args)
            .stdin(Stdio::null());
        if let Some(leeway) = self.leeway {
            command.env("KELIWEB_LEEWAY", leeway);
        }
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::of(self.command(args).output().expect("the binary runs"), self)
    }

    fn run_with_password(&self, args: &[&str]) -> Run {
        let output = self
            .command(args)
            .env("KELIWEB_PASSWORD", EmulatorConfig::default().password)
            .output()
            .expect("the binary runs");
        Run::of(output, self)
    }

    fn logged_in(self) -> Self {
        let login = self.run_with_password(&["login"]);
        assert_eq!(login.code, 0, "{login:?}");
        self
    }

    /// The stored file as JSON.
    fn stored(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(&self.store).expect("the store exists"))
            .expect("JSON")
    }

    fn stored_access_token(&self) -> String {
        self.stored()["tokens"]["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned()
    }

    /// Every secret a run must never print (the access token only where asked for).
    fn secrets(&self) -> Vec<String> {
        let defaults = EmulatorConfig::default();
        let mut secrets = vec![defaults.password, defaults.client_secret];
        if let Ok(bytes) = std::fs::read(&self.store)
            && let Ok(json) = serde_json::from_slice::<serde_json::Value>(&bytes)
            && let Some(refresh) = json["tokens"]["refresh_token"].as_str()
        {
            secrets.push(refresh.to_owned());
        }
        secrets
    }
}

/// One run's exit code and output, checked for secrets on the way in.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn of(output: Output, setup: &Setup) -> Self {
        let run = Self {
            code: output.status.code().expect("exited"),
            stdout: String::from_utf8(output.stdout).expect("UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("UTF-8"),
        };
        for secret in setup.secrets() {
            assert!(
                !run.stdout.contains(&secret) && !run.stderr.contains(&secret),
                "a secret in the output: {run:?}"
            );
        }
        run
    }
}

/// Taken by the tests that keep the machine busy for seconds (hundreds of callers in real time
/// against short-lived tokens), so that they never overlap: each one's margins hold on a loaded
/// machine, not under another's load on top.
static BUSY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits for the other busy tests to finish (a failed one's poisoned lock is as good).
fn busy() -> std::sync::MutexGuard<'static, ()> {
    BUSY.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write_store(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("the directory");
    std::fs::write(path, content).expect("written");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

#[test]
fn help_works_and_lists_the_exit_codes_without_showing_the_secret() {
    let setup = Setup::new();
    let help = setup.run(&["--help"]);
    assert_eq!(help.code, 0);
    for needle in [
        "print-access-token",
        "Exit codes:",
        "3  login needed",
        "5  the token store",
        "6  serve, proxy: cannot listen",
    ] {
        assert!(help.stdout.contains(needle), "{needle}: {}", help.stdout);
    }
    assert!(help.stdout.contains("KELIWEB_CLIENT_SECRET"));
}

#[test]
fn usage_errors_exit_2() {
    let setup = Setup::new();
    assert_eq!(setup.run(&["--no-such-flag"]).code, 2);
    // The password is never a flag: `ps` would show it.
    assert_eq!(setup.run(&["login", "--password", "hunter2"]).code, 2);
    assert_eq!(setup.run(&[]).code, 2, "a subcommand is required");
    let missing = Run::of(
        setup
            .command(&["print-access-token"])
            .env_remove("KELIWEB_CLIENT_ID")
            .output()
            .expect("runs"),
        &setup,
    );
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("KELIWEB_CLIENT_ID"), "{missing:?}");
}

#[test]
fn login_stores_the_set_0600_and_prints_nothing_on_stdout() {
    let setup = Setup::new().logged_in();
    let mode = std::fs::metadata(&setup.store)
        .expect("stored")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(setup.emulator.counters().password_grants, 1);
    let again = setup.run_with_password(&["login"]);
    assert_eq!(again.code, 0);
    assert!(again.stdout.is_empty(), "{again:?}");
    assert_eq!(
        setup.emulator.counters().password_grants,
        2,
        "login always logs in, even with a usable set stored"
    );
}

#[test]
fn login_reads_the_password_from_stdin() {
    let setup = Setup::new();
    let login = |password: &str| {
        let mut child = setup
            .command(&["login", "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs");
        let mut stdin = child.stdin.take().expect("piped");
        stdin
            .write_all(format!("{password}\n").as_bytes())
            .expect("written");
        drop(stdin);
        Run::of(child.wait_with_output().expect("exits"), &setup)
    };
    let wrong = login("not-the-password");
    assert_eq!(wrong.code, 3, "{wrong:?}");
    assert!(
        wrong.stderr.contains("check the username and the password"),
        "{wrong:?}"
    );
    assert!(!wrong.stderr.contains("not-the-password"));
    let right = login(&EmulatorConfig::default().password);
    assert_eq!(right.code, 0, "{right:?}");
    assert_eq!(setup.emulator.counters().password_grants, 1);
}

#[test]
fn print_access_token_and_header_read_the_file_without_a_request() {
    let setup = Setup::new().logged_in();
    let requests = setup.emulator.counters().token_requests;
    let token = setup.stored_access_token();

    let printed = setup.run(&["print-access-token"]);
    assert_eq!(
        (printed.code, printed.stdout.as_str()),
        (0, format!("{token}\n").as_str())
    );
    let header = setup.run(&["header"]);
    assert_eq!(header.stdout, format!("Authorization: Bearer {token}\n"));
    assert_eq!(
        setup.emulator.counters().token_requests,
        requests,
        "no request"
    );
}

#[test]
fn status_says_who_and_until_when_in_text_and_json() {
    let setup = Setup::new().logged_in();
    let text = setup.run(&["status"]);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(text.stdout.contains(&EmulatorConfig::default().username));
    assert!(text.stdout.contains(&setup.emulator.token_url()));
    assert!(text.stdout.contains("usable, expires"), "{text:?}");
    let token = setup.stored_access_token();
    assert!(!text.stdout.contains(&token), "no access token in status");

    let json = setup.run(&["status", "--json"]);
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(
        parsed["username"],
        EmulatorConfig::default().username.as_str()
    );
    assert_eq!(parsed["access_token_usable"], true);
    assert!(parsed["access_token_expires_at"].is_u64());
    assert!(!json.stdout.contains(&token));
}

#[test]
fn refresh_gets_a_new_pair_and_stores_it() {
    let setup = Setup::new().logged_in();
    let before = setup.stored_access_token();
    let refreshed = setup.run(&["refresh"]);
    assert_eq!(refreshed.code, 0, "{refreshed:?}");
    assert_ne!(setup.stored_access_token(), before);
    let counters = setup.emulator.counters();
    assert_eq!((counters.password_grants, counters.refresh_grants), (1, 1));
}

#[test]
fn logout_revokes_and_deletes_then_a_login_is_needed() {
    let setup = Setup::new().logged_in();
    let revoke_url = setup.emulator.revoke_url();
    let logout = setup.run(&["logout", "--revoke-url", &revoke_url]);
    assert_eq!(logout.code, 0, "{logout:?}");
    assert_eq!(
        setup.emulator.counters().rfc7009_revocations,
        2,
        "both tokens"
    );
    assert!(
        setup.stored()["tokens"].is_null(),
        "the set is gone from the file"
    );

    let status = setup.run(&["status"]);
    assert_eq!(status.code, 3);
    let print = setup.run(&["print-access-token"]);
    assert_eq!(print.code, 3, "{print:?}");
    assert!(print.stderr.contains("keliweb-token login"), "{print:?}");
}

#[test]
fn without_a_store_or_credentials_a_login_is_needed() {
    let setup = Setup::new();
    let print = setup.run(&["print-access-token"]);
    assert_eq!(print.code, 3, "{print:?}");
    assert_eq!(setup.emulator.counters().token_requests, 0);
    // With credentials in the environment, it logs in by itself.
    let print = setup.run_with_password(&["print-access-token"]);
    assert_eq!(print.code, 0, "{print:?}");
    assert_eq!(print.stdout, format!("{}\n", setup.stored_access_token()));
}

#[test]
fn a_corrupt_store_exits_5_and_names_the_file() {
    let setup = Setup::new();
    write_store(
        &setup.store,
        r#"{"version":2,"tokens":{"access_token":"def50200-secret"#,
    );
    let print = setup.run_with_password(&["print-access-token"]);
    assert_eq!(print.code, 5, "{print:?}");
    assert!(
        print.stderr.contains(&setup.store.display().to_string()),
        "{print:?}"
    );
    assert!(!print.stderr.contains("def50200-secret"));
    assert_eq!(
        setup.emulator.counters().token_requests,
        0,
        "no login over it"
    );
    assert_eq!(setup.run(&["status"]).code, 5);
}

/// Marks the stored access token expired (its refresh token still works).
fn expire_stored_token(setup: &Setup) {
    let mut stored = setup.stored();
    stored["tokens"]["access_token_expires_at"] = serde_json::json!(1_000_000_000);
    write_store(&setup.store, &stored.to_string());
}

#[test]
fn an_unreachable_server_exits_4_and_keeps_the_store() {
    let setup = Setup::new().logged_in();
    expire_stored_token(&setup);
    let before = std::fs::read(&setup.store).expect("stored");
    let unreachable = Run::of(
        setup
            .command(&["print-access-token"])
            .env("KELIWEB_TOKEN_URL", "http://127.0.0.1:9/oauth/token")
            .output()
            .expect("runs"),
        &setup,
    );
    assert_eq!(unreachable.code, 4, "{unreachable:?}");
    assert!(
        unreachable.stderr.contains("retry later"),
        "{unreachable:?}"
    );
    assert_eq!(std::fs::read(&setup.store).expect("kept"), before);
}

#[test]
fn twenty_concurrent_invocations_across_an_expiry_make_one_refresh() {
    let setup = Setup::new().logged_in();
    expire_stored_token(&setup);
    let children = print_access_tokens(&setup, 20);
    let runs: Vec<Run> = children
        .into_iter()
        .map(|child| Run::of(child.wait_with_output().expect("exits"), &setup))
        .collect();
    let token = setup.stored_access_token();
    for run in &runs {
        assert_eq!(
            (run.code, run.stdout.as_str()),
            (0, format!("{token}\n").as_str()),
            "{run:?}"
        );
    }
    let counters = setup.emulator.counters();
    assert_eq!(
        (
            counters.password_grants,
            counters.refresh_grants,
            counters.token_errors
        ),
        (1, 1, 0),
        "one refresh for all twenty"
    );
}

/// `count` concurrent `print-access-token` invocations, started at once.
fn print_access_tokens(setup: &Setup, count: usize) -> Vec<std::process::Child> {
    (0..count)
        .map(|_| {
            setup
                .command(&["print-access-token"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("runs")
        })
        .collect()
}

/// Whether the emulator's API accepts `token`, tried the moment it was printed.
fn api_accepts(setup: &Setup, token: &str) -> bool {
    use keliweb_oauth::blocking::{HttpClient, UreqClient};
    let request = http::Request::get(setup.emulator.api_url())
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Vec::new())
        .expect("a request");
    let limits = keliweb_oauth::client::Limits::default().api_request();
    let response = UreqClient::default()
        .execute(request, limits)
        .expect("the API answers");
    response.status().is_success()
}

/// How long a printed token is sure to outlive the moment the command decided to print it
/// (`docs/custody.md#short-lived-programs`): the hand-out margin, the leeway but at most half
/// the refresh window. These 4 s tokens with a 1 s leeway are usable for 3 s from their arrival
/// and due for refresh half way, so the window is 1.5 s and the margin 0.75 s.
const HAND_OUT_MARGIN: std::time::Duration = std::time::Duration::from_millis(750);

/// Rounds of twenty concurrent `print-access-token` for two lifetimes of 4 s tokens, on a
/// server that revokes the old pair when it rotates and answers each token request 1.5 s after
/// it rotated (PHP behind nginx): no invocation loses the refresh token (exit 3), no refresh
/// token is sent twice, and every printed token works when its caller uses it within the
/// hand-out margin of the command's start.
///
/// Only that much is the command's promise: the next invocation may rotate the token from its
/// refresh point on, a margin after the last moment it is printed. A caller slower than that
/// (on a loaded machine, the exit, the reaping and the API call took a second) finds it
/// rotated, as any caller holding a token past its refresh point would; those late uses are
/// counted, not held against the command.
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "the rounds run in real time, as scripts would call the command"
)]
fn rounds_of_twenty_invocations_on_short_slow_tokens_lose_nothing_and_print_working_tokens() {
    use keliweb_emulator::{Fault, Route};
    let _busy = busy();
    let config = EmulatorConfig {
        access_lifetime: std::time::Duration::from_secs(4),
        ..EmulatorConfig::default()
    };
    let setup = Setup::with(config, Some("1")).logged_in();
    for _ in 0..40 {
        let slow = Fault::AnswerAfter(std::time::Duration::from_millis(1500));
        setup.emulator.inject(Route::Token, slow);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
    let (mut runs, mut refused, mut refused_late, mut rounds) = (Vec::new(), 0, 0, 0);
    while std::time::Instant::now() < deadline {
        rounds += 1;
        // Before every invocation of the round decides which token to print.
        let started = std::time::Instant::now();
        let children = print_access_tokens(&setup, 20);
        // Each token is tried as soon as its invocation exits, as a script would use it; the
        // API has checked it by the time the answer is back.
        let tried: Vec<(Run, bool, std::time::Duration)> = std::thread::scope(|scope| {
            let tries: Vec<_> = children
                .into_iter()
                .map(|child| {
                    let setup = &setup;
                    scope.spawn(move || {
                        let run = Run::of(child.wait_with_output().expect("exits"), setup);
                        let works = run.code == 0 && api_accepts(setup, run.stdout.trim_end());
                        (run, works, started.elapsed())
                    })
                })
                .collect();
            tries
                .into_iter()
                .map(|try_| try_.join().expect("no panic"))
                .collect()
        });
        for (run, works, checked_after) in tried {
            if run.code == 0 && !works {
                if checked_after < HAND_OUT_MARGIN {
                    refused += 1;
                } else {
                    refused_late += 1;
                }
            }
            runs.push(run);
        }
    }
    let failed: Vec<&Run> = runs.iter().filter(|run| run.code != 0).collect();
    assert!(
        failed.is_empty(),
        "{} of {} invocations failed: {failed:#?}",
        failed.len(),
        runs.len()
    );
    assert_eq!(
        refused,
        0,
        "printed tokens the API refused within the hand-out margin of the command's start, of {}",
        runs.len()
    );
    let counters = setup.emulator.counters();
    assert_eq!(
        (counters.password_grants, counters.token_errors),
        (1, 0),
        "one login, and no refresh token sent twice"
    );
    // A 4 s token (1 s leeway) that took 1.5 s to arrive is refreshed 0.75 s after arrival at
    // the earliest: at most one refresh per 2.25 s, whatever the number of invocations, over
    // the 8 s of rounds and the last round's own second or two.
    assert!(
        (2..=5).contains(&counters.refresh_grants),
        "{rounds} rounds across two lifetimes: one refresh per token ({counters:?})"
    );
    println!(
        "cli rounds: {rounds} rounds, {} invocations, {} refreshes, 0 refused, {refused_late} \
         refused when tried after the hand-out margin",
        runs.len(),
        counters.refresh_grants
    );
}
