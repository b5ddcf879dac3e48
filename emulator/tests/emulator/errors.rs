//! The token endpoint's error bodies for Passport 8.x and 9.x, and the throttle
//! (`docs/passport.md#token-endpoint-errors`, `docs/passport.md#throttle`).

use std::time::Duration;

use keliweb_emulator::{Emulator, EmulatorConfig, PassportVersion};
use serde_json::json;

use crate::support::*;

fn start(passport: PassportVersion) -> Emulator {
    Emulator::start(EmulatorConfig {
        passport,
        ..EmulatorConfig::default()
    })
    .unwrap()
}

const MALFORMED: &str = "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.";

#[test]
fn v8_error_bodies() {
    let emu = start(PassportVersion::V8);
    let c = emu.config().clone();
    let url = emu.token_url();

    let bad_client = post_form(
        &url,
        &[
            ("grant_type", "password"),
            ("client_id", &c.client_id),
            ("client_secret", "wrong"),
            ("username", &c.username),
            ("password", &c.password),
        ],
    );
    assert_eq!(bad_client.status, 401);
    assert_eq!(
        bad_client.json(),
        json!({"error": "invalid_client", "error_description": "Client authentication failed", "message": "Client authentication failed"})
    );

    let bad_password = post_form(
        &url,
        &[
            ("grant_type", "password"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("username", &c.username),
            ("password", "nope"),
        ],
    );
    assert_eq!(bad_password.status, 400);
    assert_eq!(
        bad_password.json(),
        json!({"error": "invalid_grant", "error_description": "The user credentials were incorrect.", "message": "The user credentials were incorrect."})
    );

    let pair = login(&emu);
    refresh(&emu, &pair.refresh);
    let dead = refresh_raw(&emu, &pair.refresh);
    assert_eq!(dead.status, 401);
    assert_eq!(
        dead.json(),
        json!({"error": "invalid_request", "error_description": "The refresh token is invalid.", "hint": "Token has been revoked", "message": "The refresh token is invalid."})
    );

    let unknown = refresh_raw(&emu, "def50200nothingissuedlikethis");
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.json()["hint"], "Cannot decrypt the refresh token");

    let missing = post_form(
        &url,
        &[
            ("grant_type", "password"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("password", &c.password),
        ],
    );
    assert_eq!(missing.status, 400);
    assert_eq!(
        missing.json(),
        json!({"error": "invalid_request", "error_description": MALFORMED, "hint": "Check the `username` parameter", "message": MALFORMED})
    );

    let no_refresh = post_form(
        &url,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
        ],
    );
    assert_eq!(no_refresh.status, 400);
    assert_eq!(
        no_refresh.json()["hint"],
        "Check the `refresh_token` parameter"
    );

    let no_client = post_form(&url, &[("grant_type", "password")]);
    assert_eq!(no_client.status, 400);
    assert_eq!(no_client.json()["hint"], "Check the `client_id` parameter");

    for grant in ["client_credentials", ""] {
        let unsupported = post_form(&url, &[("grant_type", grant), ("client_id", &c.client_id)]);
        assert_eq!(unsupported.status, 400);
        assert_eq!(unsupported.json()["error"], "unsupported_grant_type");
        assert_eq!(
            unsupported.json()["message"],
            "The authorization grant type is not supported by the authorization server."
        );
    }
    let c = emu.counters();
    assert_eq!(c.token_requests, 11);
    assert_eq!(c.token_errors, 9);
}

#[test]
fn v9_error_bodies_have_no_message_and_dead_refresh_is_400_invalid_grant() {
    let emu = start(PassportVersion::V9);
    let pair = login(&emu);
    emu.revoke_all_tokens();
    let dead = refresh_raw(&emu, &pair.refresh);
    assert_eq!(dead.status, 400);
    assert_eq!(
        dead.json(),
        json!({"error": "invalid_grant", "error_description": "The refresh token is invalid.", "hint": "Token has been revoked"})
    );

    let c = emu.config().clone();
    let bad_client = post_form(
        &emu.token_url(),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "someone-else"),
            ("client_secret", "x"),
            ("refresh_token", &pair.refresh),
        ],
    );
    assert_eq!(bad_client.status, 401);
    assert_eq!(
        bad_client.json(),
        json!({"error": "invalid_client", "error_description": "Client authentication failed"})
    );
    let bad_password = post_form(
        &emu.token_url(),
        &[
            ("grant_type", "password"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("username", "someone@else.it"),
            ("password", &c.password),
        ],
    );
    assert_eq!(bad_password.status, 400);
    assert_eq!(
        bad_password.json(),
        json!({"error": "invalid_grant", "error_description": "The user credentials were incorrect."})
    );
}

#[test]
fn set_passport_switches_shapes_at_run_time() {
    let emu = start(PassportVersion::V8);
    let pair = login(&emu);
    emu.advance_clock(Duration::from_secs(11 * 24 * 3600));
    let v8 = refresh_raw(&emu, &pair.refresh);
    assert_eq!(
        (v8.status, v8.json()["error"].as_str()),
        (401, Some("invalid_request"))
    );
    assert_eq!(v8.json()["hint"], "Token has expired");
    emu.set_passport(PassportVersion::V9);
    let v9 = refresh_raw(&emu, &pair.refresh);
    assert_eq!(
        (v9.status, v9.json()["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(v9.json()["hint"], "Token has expired");
    assert!(v9.json().get("message").is_none());
}

#[test]
fn throttle_answers_429_with_retry_after_until_the_window_passes() {
    let emu = Emulator::start(EmulatorConfig {
        max_token_requests_per_minute: Some(3),
        ..EmulatorConfig::default()
    })
    .unwrap();
    let first = login_raw(&emu);
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-ratelimit-limit"), Some("3"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("2"));
    // Failed requests count against the limit too.
    let failed = post_form(&emu.token_url(), &[("grant_type", "password")]);
    assert_eq!(failed.status, 400);
    assert_eq!(login_raw(&emu).status, 200);

    emu.advance_clock(Duration::from_secs(20));
    let limited = login_raw(&emu);
    assert_eq!(limited.status, 429);
    assert_eq!(limited.json(), json!({"message": "Too Many Attempts."}));
    assert_eq!(limited.header("retry-after"), Some("40"));
    assert_eq!(limited.header("x-ratelimit-limit"), Some("3"));
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    assert!(limited.header("x-ratelimit-reset").is_some());

    emu.advance_clock(Duration::from_secs(40));
    assert_eq!(login_raw(&emu).status, 200);
    let c = emu.counters();
    assert_eq!(
        (c.token_requests, c.token_errors, c.password_grants),
        (5, 2, 3)
    );
}
