//! Starting and stopping from sync and async code.

use std::net::TcpStream;

use keliweb_emulator::{Emulator, EmulatorConfig};

use crate::support::*;

#[test]
fn urls_and_shutdown_on_drop() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let addr = emu.addr();
    assert!(addr.ip().is_loopback());
    let base = format!("http://127.0.0.1:{}", addr.port());
    assert_eq!(emu.base_url(), base);
    assert_eq!(emu.token_url(), format!("{base}/oauth/token"));
    assert_eq!(emu.revoke_url(), format!("{base}/oauth/revoke"));
    assert_eq!(emu.logout_url(), format!("{base}/api/logout"));
    assert_eq!(emu.api_url(), format!("{base}/api/user"));
    assert_eq!(emu.redirect_target_url(), format!("{base}/redirect-target"));
    login(&emu);
    drop(emu);
    assert!(
        TcpStream::connect(addr).is_err(),
        "nothing listens after drop"
    );
}

#[test]
fn several_emulators_run_side_by_side() {
    let a = Emulator::start(EmulatorConfig::default()).unwrap();
    let b = Emulator::start(EmulatorConfig::default()).unwrap();
    assert_ne!(a.addr(), b.addr());
    let pair = login(&a);
    assert_eq!(get_bearer(&b.api_url(), &pair.access).status, 401);
    assert_eq!(get_bearer(&a.api_url(), &pair.access).status, 200);
}

#[test]
fn unknown_paths_are_json_404s() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let seen = get_bearer(&format!("{}/nowhere", emu.base_url()), "x");
    assert_eq!(
        (seen.status, seen.body.as_str()),
        (404, r#"{"message":"Not Found"}"#)
    );
}

#[tokio::test]
async fn works_from_an_async_test_and_drops_there() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let url = emu.token_url();
    let config = emu.config().clone();
    let status = tokio::task::spawn_blocking(move || {
        let fields = password_fields(&config);
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post_form(&url, &borrowed).status
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(emu.counters().password_grants, 1);
    drop(emu);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_from_a_multi_thread_runtime() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let emu = std::sync::Arc::new(emu);
    let clone = emu.clone();
    let pair = tokio::task::spawn_blocking(move || login(&clone))
        .await
        .unwrap();
    assert!(pair.refresh.starts_with("def50200"));
}
