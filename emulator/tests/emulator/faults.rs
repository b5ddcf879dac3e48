//! Every injectable fault, as a client sees it.
#![allow(
    clippy::disallowed_methods,
    reason = "these tests time the emulator's delays with the real clock"
)]

use std::time::{Duration, Instant};

use keliweb_emulator::{Emulator, EmulatorConfig, Fault, PassportVersion, Route};

use crate::support::*;

fn start() -> Emulator {
    Emulator::start(EmulatorConfig::default()).unwrap()
}

fn split_head(raw: &[u8]) -> (String, Vec<u8>) {
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no complete head");
    (
        String::from_utf8_lossy(&raw[..at]).to_ascii_lowercase(),
        raw[at + 4..].to_vec(),
    )
}

#[test]
fn delay_then_normal_answer() {
    let emu = start();
    emu.inject(Route::Token, Fault::Delay(Duration::from_millis(300)));
    let started = Instant::now();
    let seen = login_raw(&emu);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(seen.status, 200);
    assert_eq!(emu.counters().password_grants, 1);
    // Only one request is delayed.
    let started = Instant::now();
    login(&emu);
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[test]
fn delay_lets_a_client_timeout_fire() {
    let emu = start();
    emu.inject(Route::Api, Fault::Delay(Duration::from_secs(3)));
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_millis(200)))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let started = Instant::now();
    let result = agent.get(emu.api_url()).call();
    assert!(matches!(result, Err(ureq::Error::Timeout(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn reset_mid_response_cuts_a_chunked_body_after_processing() {
    let emu = start();
    emu.inject(Route::Token, Fault::ResetMidResponse);
    let (raw, _error) = raw_exchange(emu.addr(), &raw_login_request(&emu));
    let (head, body) = split_head(&raw);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("\"token_type\":\"Bearer\""),
        "part of the body arrives: {body}"
    );
    assert!(!body.contains("refresh_token"), "only part of it: {body}");
    assert!(!body.ends_with("0\r\n\r\n"), "no final chunk: {body}");
    // The grant went through on the server.
    assert_eq!(emu.counters().password_grants, 1);

    emu.inject(Route::Token, Fault::ResetMidResponse);
    assert!(try_login(&emu).is_err(), "ureq sees a broken body");
}

#[test]
fn a_refresh_whose_response_is_lost_leaves_a_dead_refresh_token() {
    let emu = start();
    let pair = login(&emu);
    emu.inject(Route::Token, Fault::ResetMidResponse);
    assert!(try_refresh(&emu, &pair.refresh).is_err());
    let retry = refresh_raw(&emu, &pair.refresh);
    assert_eq!(retry.status, 401);
    assert_eq!(retry.json()["hint"], "Token has been revoked");
    assert_eq!(get_bearer(&emu.api_url(), &pair.access).status, 401);
    assert_eq!(emu.counters().refresh_grants, 1);
}

#[test]
fn truncated_body_declares_more_than_it_sends() {
    let emu = start();
    emu.inject(Route::Token, Fault::TruncatedBody);
    let (raw, _error) = raw_exchange(emu.addr(), &raw_login_request(&emu));
    let (head, body) = split_head(&raw);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let declared: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("a content-length")
        .trim()
        .parse()
        .unwrap();
    assert!(!body.is_empty());
    assert!(body.len() < declared, "{} < {declared}", body.len());

    emu.inject(Route::Token, Fault::TruncatedBody);
    assert!(try_login(&emu).is_err(), "ureq sees a short body");
    assert_eq!(emu.counters().password_grants, 2);
}

#[test]
fn status_500_is_a_passport_server_error_on_token_and_laravel_json_on_api() {
    let emu = start();
    emu.inject(Route::Token, Fault::Status(500));
    let seen = login_raw(&emu);
    assert_eq!(seen.status, 500);
    assert_eq!(seen.json()["error"], "server_error");
    assert!(seen.json()["message"].is_string());
    assert_eq!(emu.counters().password_grants, 0, "not processed");

    emu.set_passport(PassportVersion::V9);
    emu.inject(Route::Revoke, Fault::Status(500));
    let revoke = post_form(&emu.revoke_url(), &[("token", "x")]);
    assert_eq!(revoke.status, 500);
    assert_eq!(revoke.json()["error"], "server_error");
    assert!(revoke.json().get("message").is_none());

    let pair = login(&emu);
    emu.inject(Route::Api, Fault::Status(500));
    let api = get_bearer(&emu.api_url(), &pair.access);
    assert_eq!(
        (api.status, api.body.as_str()),
        (500, r#"{"message":"Server Error"}"#)
    );
}

#[test]
fn status_502_and_503_are_nginx_html_pages() {
    let emu = start();
    emu.inject(Route::Token, Fault::Status(502));
    emu.inject(Route::Token, Fault::Status(503));
    let bad_gateway = login_raw(&emu);
    assert_eq!(bad_gateway.status, 502);
    assert!(
        bad_gateway
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(bad_gateway.body.contains("<title>502 Bad Gateway</title>"));
    assert!(bad_gateway.body.contains("nginx"));
    let unavailable = login_raw(&emu);
    assert_eq!(unavailable.status, 503);
    assert!(unavailable.body.contains("503 Service Unavailable"));
    assert_eq!(login_raw(&emu).status, 200, "faults are used up");
    let c = emu.counters();
    assert_eq!(
        (c.token_requests, c.token_errors, c.password_grants),
        (3, 2, 1)
    );
}

#[test]
fn plain_text_and_empty_statuses() {
    let emu = start();
    emu.inject(Route::Token, Fault::PlainTextStatus(500));
    let plain = login_raw(&emu);
    assert_eq!((plain.status, plain.body.as_str()), (500, "Server Error"));
    assert!(
        plain
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );

    emu.inject(Route::Token, Fault::EmptyStatus(503));
    let empty = login_raw(&emu);
    assert_eq!((empty.status, empty.body.as_str()), (503, ""));
    assert_eq!(empty.header("content-length"), Some("0"));
}

#[test]
fn too_many_requests_fault() {
    let emu = start();
    emu.inject(
        Route::Token,
        Fault::TooManyRequests {
            retry_after_secs: 7,
        },
    );
    let seen = login_raw(&emu);
    assert_eq!(seen.status, 429);
    assert_eq!(seen.body, r#"{"message":"Too Many Attempts."}"#);
    assert_eq!(seen.header("retry-after"), Some("7"));
    assert_eq!(seen.header("x-ratelimit-limit"), Some("60"));
    assert_eq!(seen.header("x-ratelimit-remaining"), Some("0"));
}

#[test]
fn redirects_point_at_the_counting_target() {
    let emu = start();
    for code in [302, 303, 307] {
        emu.inject(Route::Token, Fault::RedirectToTarget(code));
        let seen = login_raw(&emu);
        assert_eq!(seen.status, code);
        assert_eq!(
            seen.header("location"),
            Some(emu.redirect_target_url().as_str())
        );
    }
    assert_eq!(emu.counters().redirect_target_hits, 0, "not followed");

    // A client that follows redirects ends up on the target, which counts it. (ureq 3 cannot
    // replay a form body for a 307, so use a 302, which it follows with a GET.)
    let following = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(3)
            .build(),
    );
    emu.inject(Route::Token, Fault::RedirectToTarget(302));
    let mut response = following
        .post(emu.token_url())
        .send_form([("grant_type", "password")])
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response
            .body_mut()
            .read_to_string()
            .unwrap()
            .contains("redirect target")
    );
    assert_eq!(emu.counters().redirect_target_hits, 1);
}

#[test]
fn html_login_page() {
    let emu = start();
    emu.inject(Route::Api, Fault::Html);
    let seen = get_bearer(&emu.api_url(), "whatever");
    assert_eq!(seen.status, 200);
    assert!(
        seen.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(seen.body.contains("<form"));
}

#[test]
fn huge_body_is_streamed_with_its_exact_length() {
    let emu = start();
    let len = 5 * 1024 * 1024 + 3;
    emu.inject(Route::Token, Fault::HugeBody(len));
    let mut response = agent()
        .post(emu.token_url())
        .send_form([("grant_type", "password")])
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-length")
            .unwrap()
            .to_str()
            .unwrap(),
        len.to_string()
    );
    let body = response
        .body_mut()
        .with_config()
        .limit(16 * 1024 * 1024)
        .read_to_vec()
        .unwrap();
    assert_eq!(body.len(), len);
    assert!(body.starts_with(br#"{"data":"xxx"#) && body.ends_with(br#"xx"}"#));

    // ureq's default 10 MB limit, or a client's own, stops reading early.
    emu.inject(Route::Token, Fault::HugeBody(len));
    let mut response = agent()
        .post(emu.token_url())
        .send_form([("grant_type", "password")])
        .unwrap();
    assert!(
        response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_vec()
            .is_err()
    );

    emu.inject(Route::Token, Fault::HugeBody(4));
    assert_eq!(login_raw(&emu).body, "xxxx");
}

#[test]
fn error_in_200() {
    let emu = start();
    emu.inject(Route::Token, Fault::ErrorIn200);
    let seen = login_raw(&emu);
    assert_eq!(seen.status, 200);
    assert_eq!(seen.json()["error"], "invalid_request");
    assert!(seen.json().get("access_token").is_none());
}

#[test]
fn faults_are_fifo_per_route_and_stay_on_their_route() {
    let emu = start();
    emu.inject(Route::Token, Fault::Status(503));
    emu.inject(Route::Api, Fault::EmptyStatus(500));
    emu.inject(Route::Token, Fault::Status(502));
    let pair_attempts: Vec<u16> = (0..3).map(|_| login_raw(&emu).status).collect();
    assert_eq!(pair_attempts, [503, 502, 200]);
    let pair = login(&emu);
    assert_eq!(get_bearer(&emu.api_url(), &pair.access).status, 500);
    assert_eq!(get_bearer(&emu.api_url(), &pair.access).status, 200);
}

#[test]
fn faults_on_logout_and_revoke() {
    let emu = start();
    let pair = login(&emu);
    // A failed logout does not revoke anything.
    emu.inject(Route::Logout, Fault::Status(503));
    assert_eq!(post_bearer(&emu.logout_url(), &pair.access).status, 503);
    assert_eq!(get_bearer(&emu.api_url(), &pair.access).status, 200);
    // A logout whose answer is lost did revoke.
    emu.inject(Route::Logout, Fault::ResetMidResponse);
    let lost = agent()
        .post(emu.logout_url())
        .header("Authorization", &format!("Bearer {}", pair.access))
        .send_empty()
        .and_then(|mut r| r.body_mut().read_to_string());
    assert!(lost.is_err(), "{lost:?}");
    assert_eq!(get_bearer(&emu.api_url(), &pair.access).status, 401);
    assert_eq!(emu.counters().logouts, 1);

    let other = login(&emu);
    let c = emu.config().clone();
    emu.inject(Route::Revoke, Fault::Delay(Duration::from_millis(50)));
    let revoked = post_form(
        &emu.revoke_url(),
        &[
            ("token", &other.access),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
        ],
    );
    assert_eq!(revoked.status, 200);
    assert_eq!(get_bearer(&emu.api_url(), &other.access).status, 401);
}

#[test]
fn the_log_records_faults_and_grant_types_but_no_secrets() {
    let emu = start();
    emu.inject(Route::Token, Fault::Status(502));
    let _ = login_raw(&emu);
    let pair = login(&emu);
    let _ = refresh(&emu, &pair.refresh);
    let _ = get_bearer(&emu.api_url(), "nope");
    let log = emu.requests();
    assert_eq!(log.len(), 4);
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].path, "/oauth/token");
    assert_eq!(log[0].grant_type.as_deref(), Some("password"));
    assert_eq!(log[0].status, 502);
    assert_eq!(log[0].fault.as_deref(), Some("Status(502)"));
    assert_eq!(log[1].fault, None);
    assert_eq!(log[2].grant_type.as_deref(), Some("refresh_token"));
    assert_eq!((log[3].path.as_str(), log[3].status), ("/api/user", 401));
    let dump = format!("{log:?}");
    let c = emu.config();
    for secret in [&c.client_secret, &c.password, &pair.access, &pair.refresh] {
        assert!(!dump.contains(secret.as_str()));
    }
}

#[test]
fn answer_after_rotates_at_receipt_even_when_the_client_hangs_up() {
    let emu = start();
    let first = login(&emu);
    emu.inject(Route::Token, Fault::AnswerAfter(Duration::from_secs(1)));
    let impatient = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_millis(200)))
            .build(),
    );
    let config = emu.config();
    let gave_up = impatient.post(emu.token_url()).send_form([
        ("grant_type", "refresh_token"),
        ("client_id", config.client_id.as_str()),
        ("client_secret", config.client_secret.as_str()),
        ("refresh_token", first.refresh.as_str()),
    ]);
    assert!(
        matches!(gave_up, Err(ureq::Error::Timeout(_))),
        "{gave_up:?}"
    );
    // The server rotated anyway: the old refresh token is dead.
    assert_eq!(emu.counters().refresh_grants, 1);
    assert_ne!(refresh_raw(&emu, &first.refresh).status, 200);
}

#[test]
fn an_api_refusing_every_token_refuses_valid_ones_until_told_otherwise() {
    let emu = start();
    let pair = login(&emu);
    assert_eq!(get_bearer(&emu.api_url(), &pair.access).status, 200);
    emu.refuse_every_api_token(true);
    assert_eq!(get_bearer(&emu.api_url(), &pair.access).status, 401);
    emu.refuse_every_api_token(false);
    assert_eq!(get_bearer(&emu.api_url(), &pair.access).status, 200);
}
