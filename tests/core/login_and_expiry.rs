//! First poll logs in; a token is handed out until expiry − leeway and not at that instant;
//! inside the leeway the session refreshes; one request in flight at a time.

use std::time::Duration;

use http::Method;
use keliweb_oauth::sans_io::{Action, NotAuthorized, RequestKind};

use crate::support::*;

#[test]
fn first_poll_sends_a_password_grant_with_exactly_the_documented_fields() {
    let mut scenario = Scenario::new();
    assert!(scenario.session.tokens().is_none());
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    let request = login.request();
    assert_eq!(request.method(), Method::POST);
    assert_eq!(request.uri(), TOKEN_URL);
    assert_eq!(
        request.headers()["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(request.headers()["x-requested-with"], "XMLHttpRequest");
    assert_eq!(request.headers()["accept"], "application/json");
    assert!(request.headers().get("authorization").is_none());
    assert_eq!(form(&login), password_fields(PASSWORD));
    assert_eq!(scenario.session.in_flight(), Some(login.id()));
}

#[test]
fn a_token_response_is_stored_with_absolute_expiry_times() {
    let mut scenario = Scenario::new();
    let before = scenario.generation();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    scenario.answer_tokens(&login);
    assert!(scenario.generation() > before);
    assert_eq!(scenario.session.in_flight(), None);
    let tokens = scenario.tokens();
    assert_eq!(tokens.access_token().expose_secret(), access(1));
    assert_eq!(tokens.access_token_expires_at(), T0.saturating_add(HOUR));
    assert_eq!(
        tokens.refresh_token().expect("rotated").expose_secret(),
        refresh(1)
    );
    assert_eq!(
        tokens.refresh_token_expires_at(),
        Some(T0.saturating_add(TEN_DAYS))
    );
    let auth = scenario.expect_use();
    assert_eq!(
        auth.expose_header_value(),
        format!("Bearer {}", access(1)).as_str()
    );
    assert_eq!(auth.usable_until(), T0.saturating_add(HOUR - LEEWAY));
}

#[test]
fn the_token_is_handed_out_until_just_before_expiry_minus_leeway() {
    // No refresh ahead: polls hand the token out to the last instant.
    let mut scenario = Scenario::with(|config| config.refresh_ahead(Duration::ZERO)).logged_in();
    let first = scenario.expect_use();
    let usable_until = T0.saturating_add(HOUR - LEEWAY);

    scenario.set_now(usable_until.saturating_sub(millis(1)));
    let last = scenario.expect_use();
    assert_eq!(last.token_id(), first.token_id());
    let mut call = http::Request::get("https://fatture.keliweb.it/api/invoices")
        .body(())
        .unwrap();
    assert_eq!(
        scenario.session.authorize(scenario.now, &mut call),
        Ok(first.token_id())
    );

    // At the instant itself the token is no longer handed out, by poll or by authorize.
    scenario.set_now(usable_until);
    let mut late_call = http::Request::get("https://fatture.keliweb.it/api/invoices")
        .body(())
        .unwrap();
    assert_eq!(
        scenario.session.authorize(scenario.now, &mut late_call),
        Err(NotAuthorized::Expired)
    );
    assert!(late_call.headers().get("authorization").is_none());
    assert!(matches!(scenario.poll(), Action::Send(_)));
}

#[test]
fn inside_the_leeway_the_session_refreshes_with_the_stored_refresh_token() {
    let mut scenario = Scenario::new().near_expiry();
    let refresh_request = scenario.expect_send(RequestKind::RefreshGrant);
    assert_eq!(refresh_request.request().method(), Method::POST);
    assert_eq!(refresh_request.request().uri(), TOKEN_URL);
    assert_eq!(form(&refresh_request), refresh_fields(&refresh(1)));

    scenario.answer_tokens(&refresh_request);
    let tokens = scenario.tokens();
    assert_eq!(tokens.access_token().expose_secret(), access(2));
    assert_eq!(
        tokens.refresh_token().unwrap().expose_secret(),
        refresh(2),
        "the rotated refresh token replaces the used one"
    );
    assert_eq!(
        tokens.access_token_expires_at(),
        scenario.now.saturating_add(HOUR)
    );
    let auth = scenario.expect_use();
    assert_eq!(
        auth.expose_header_value(),
        format!("Bearer {}", access(2)).as_str()
    );
}

#[test]
fn a_custom_leeway_moves_the_refresh_point() {
    let mut scenario =
        Scenario::with(|config| config.leeway(secs(300)).refresh_ahead(Duration::ZERO)).logged_in();
    scenario.set_now(T0.saturating_add(HOUR - secs(300) - millis(1)));
    let _ = scenario.expect_use();
    scenario.set_now(T0.saturating_add(HOUR - secs(300)));
    let _ = scenario.expect_send(RequestKind::RefreshGrant);
}

#[test]
fn one_request_in_flight_and_wait_carries_its_id() {
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    for _ in 0..3 {
        scenario.expect_wait(refresh_request.id());
    }
    // Even much later (the access token long expired), still only the one request.
    scenario.advance(TEN_DAYS);
    scenario.expect_wait(refresh_request.id());
    assert_eq!(scenario.session.in_flight(), Some(refresh_request.id()));

    // The same holds for a login in flight.
    let mut fresh = Scenario::new();
    let login = fresh.expect_send(RequestKind::PasswordGrant);
    fresh.expect_wait(login.id());
    fresh.advance(secs(1));
    fresh.expect_wait(login.id());
}

#[test]
fn every_request_gets_a_new_id() {
    let mut scenario = Scenario::new();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    scenario.answer_tokens(&login);
    scenario.go_to_usable_until();
    let refresh_request = scenario.expect_send(RequestKind::RefreshGrant);
    assert_ne!(login.id(), refresh_request.id());
}
