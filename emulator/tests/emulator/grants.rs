//! Password and refresh grants, rotation, expiry and the protected resource (`docs/passport.md#rotation`,
//! `docs/passport.md#api-401`).

use std::time::Duration;

use keliweb_emulator::{Counters, Emulator, EmulatorConfig};

use crate::support;
use crate::support::*;

#[test]
fn password_grant_issues_a_passport_shaped_pair() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let seen = login_raw(&emu);
    assert_eq!(seen.status, 200);
    assert_eq!(seen.header("cache-control"), Some("no-store"));
    let json = seen.json();
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["expires_in"], 3600);
    let access = json["access_token"].as_str().unwrap();
    let parts: Vec<&str> = access.split('.').collect();
    assert_eq!(parts.len(), 3, "JWT-looking: {access}");
    assert!(parts.iter().all(|p| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }));
    let refresh = json["refresh_token"].as_str().unwrap();
    assert!(refresh.starts_with("def50200"));
    assert!(refresh[8..].bytes().all(|b| b.is_ascii_hexdigit()));

    let other = login(&emu);
    assert_ne!(other.access, access);
    assert_ne!(other.refresh, refresh);
}

#[test]
fn expires_in_follows_the_configured_lifetime() {
    let emu = Emulator::start(EmulatorConfig {
        access_lifetime: Duration::from_secs(90),
        ..EmulatorConfig::default()
    })
    .unwrap();
    assert_eq!(login_raw(&emu).json()["expires_in"], 90);
}

#[test]
fn refresh_rotates_and_kills_the_old_pair() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let first = login(&emu);
    assert_eq!(get_bearer(&emu.api_url(), &first.access).status, 200);

    let second = refresh(&emu, &first.refresh);
    assert_ne!(second.access, first.access);
    assert_ne!(second.refresh, first.refresh);

    // The old access token died with the refresh.
    let old = get_bearer(&emu.api_url(), &first.access);
    assert_eq!(old.status, 401);
    assert_eq!(old.body, r#"{"message":"Unauthenticated."}"#);
    assert_eq!(old.header("www-authenticate"), None);
    // The old refresh token works exactly once.
    let again = refresh_raw(&emu, &first.refresh);
    assert_eq!(again.status, 401);
    assert_eq!(again.json()["hint"], "Token has been revoked");
    // The new pair works, and can be refreshed in turn.
    let api = get_bearer(&emu.api_url(), &second.access);
    assert_eq!(api.status, 200);
    assert_eq!(
        api.json(),
        serde_json::json!({"id": 1, "email": "test@example.com"})
    );
    let third = refresh(&emu, &second.refresh);
    assert_eq!(get_bearer(&emu.api_url(), &third.access).status, 200);

    let c = emu.counters();
    assert_eq!(c.password_grants, 1);
    assert_eq!(c.refresh_grants, 2);
    assert_eq!(c.token_requests, 4);
    assert_eq!(c.token_errors, 1);
    assert_eq!(c.api_calls, 4);
    assert_eq!(c.api_unauthorized, 1);
}

#[test]
fn concurrent_refreshes_with_one_token_have_one_winner() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let pair = login(&emu);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| refresh_raw(&emu, &pair.refresh)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().status)
            .collect()
    });
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 401).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(emu.counters().refresh_grants, 1);
}

#[test]
fn advancing_the_clock_expires_access_then_refresh_tokens() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let pair = login(&emu);
    emu.advance_clock(Duration::from_secs(3599));
    assert_eq!(get_bearer(&emu.api_url(), &pair.access).status, 200);
    emu.advance_clock(Duration::from_secs(2));
    assert_eq!(get_bearer(&emu.api_url(), &pair.access).status, 401);

    // The refresh token outlives the access token.
    let fresh = refresh(&emu, &pair.refresh);
    assert_eq!(get_bearer(&emu.api_url(), &fresh.access).status, 200);

    emu.advance_clock(Duration::from_secs(10 * 24 * 3600));
    let expired = refresh_raw(&emu, &fresh.refresh);
    assert_eq!(expired.status, 401);
    assert_eq!(expired.json()["hint"], "Token has expired");
    assert_eq!(get_bearer(&emu.api_url(), &fresh.access).status, 401);
}

#[test]
fn api_rejects_missing_garbage_and_revoked_tokens() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let missing = support::agent()
        .get(emu.api_url())
        .header("Accept", "application/json")
        .call()
        .unwrap();
    assert_eq!(missing.status().as_u16(), 401);
    assert_eq!(get_bearer(&emu.api_url(), "garbage").status, 401);

    let pair = login(&emu);
    emu.revoke_all_tokens();
    assert_eq!(get_bearer(&emu.api_url(), &pair.access).status, 401);
    let dead = refresh_raw(&emu, &pair.refresh);
    assert_eq!(dead.status, 401);
    assert_eq!(dead.json()["hint"], "Token has been revoked");
    // New logins still work after a mass revocation.
    let fresh = login(&emu);
    assert_eq!(get_bearer(&emu.api_url(), &fresh.access).status, 200);
    let c = emu.counters();
    assert_eq!((c.api_calls, c.api_unauthorized), (4, 3));
}

#[test]
fn basic_auth_and_json_bodies_are_accepted() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let c = emu.config();
    let body = serde_json::json!({
        "grant_type": "password",
        "username": c.username,
        "password": c.password,
    })
    .to_string();
    // "ea9ea94e-a0c2-4b87-9834-26b218ed26a0:MoQSElJG5MoLkVhRJCJ7jdQZVwfbrtwKKepwOsXO"
    let basic = "ZWE5ZWE5NGUtYTBjMi00Yjg3LTk4MzQtMjZiMjE4ZWQyNmEwOk1vUVNFbEpHNU1vTGtWaFJKQ0o3amRRWlZ3ZmJydHdLS2Vwd09zWE8=";
    let mut response = support::agent()
        .post(emu.token_url())
        .header("Content-Type", "application/json")
        .header("Authorization", &format!("Basic {basic}"))
        .send(body.as_str())
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.body_mut().read_to_string().unwrap();
    assert!(text.contains("\"refresh_token\":\"def50200"));
}

#[test]
fn counters_start_at_zero() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    assert_eq!(emu.counters(), Counters::default());
}
