//! Transport errors, 5xx and 429 never cause a password login and never drop a token; the
//! cooldown (`min_retry_delay`, `Retry-After`) answers `Stop(same error)` until it passes.

use keliweb_oauth::{ErrorKind, error::RetryAfter, sans_io::RequestKind};

use crate::support::*;

#[test]
fn transient_failures_of_a_refresh_keep_the_tokens_and_retry_the_refresh() {
    for (name, response, kind) in transient_responses() {
        let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
        let before = scenario.snapshot();
        let auth_before = scenario.session.authorization().cloned().unwrap();

        let error = scenario
            .answer(&refresh_request, &response)
            .expect_err("a failure is an error");
        assert_eq!(error.kind(), kind, "{name}");
        assert!(error.is_retryable(), "{name}");
        assert_eq!(
            scenario.snapshot().tokens,
            before.tokens,
            "{name}: token set changed"
        );
        assert_eq!(scenario.generation(), before.generation, "{name}");
        let auth_after = scenario.session.authorization().unwrap();
        assert_eq!(auth_after.token_id(), auth_before.token_id(), "{name}");
        assert_eq!(
            auth_after.usable_until(),
            auth_before.usable_until(),
            "{name}"
        );

        // Long enough for any cooldown (2 s here), not enough for the refresh token to die.
        scenario.advance(secs(5));
        let retry = scenario.expect_send(RequestKind::RefreshGrant);
        assert_eq!(form(&retry), refresh_fields(&refresh(1)), "{name}");
    }
}

#[test]
fn a_transport_error_keeps_the_tokens_and_retries_the_refresh() {
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    let before = scenario.snapshot();
    let error = scenario.fail_transport(&refresh_request);
    assert_eq!(error.kind(), ErrorKind::Transport);
    assert!(error.is_retryable());
    let after = scenario.snapshot();
    assert_eq!(after.tokens, before.tokens);
    assert_eq!(after.generation, before.generation);
    assert_eq!(after.authorization, before.authorization);
    assert_eq!(after.in_flight, None);
    scenario.advance(secs(1));
    let _ = scenario.expect_send(RequestKind::RefreshGrant);
}

#[test]
fn a_usable_token_is_still_handed_out_after_a_failure() {
    // A refresh is only sent once the token stopped being handed out, so to have a usable token
    // while a request fails, the clock steps back (an NTP correction) before the answer.
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    let usable_until = scenario.usable_until();
    scenario.set_now(usable_until.saturating_sub(secs(30)));
    let _ = scenario.answer(&refresh_request, &server_error_json());
    let auth = scenario.expect_use();
    assert_eq!(
        auth.expose_header_value(),
        format!("Bearer {}", access(1)).as_str()
    );
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    scenario.set_now(usable_until.saturating_sub(secs(30)));
    let _ = scenario.fail_transport(&refresh_request);
    let _ = scenario.expect_use();
}

#[test]
fn the_minimum_retry_delay_stops_polls_with_the_same_error() {
    let (mut scenario, refresh_request) =
        Scenario::with(|config| config.min_retry_delay(secs(10))).refresh_in_flight();
    let failed_at = scenario.now;
    let error = scenario
        .answer(&refresh_request, &unavailable())
        .unwrap_err();
    for offset in [millis(0), millis(1), secs(5), secs(10) - millis(1)] {
        scenario.set_now(failed_at.saturating_add(offset));
        assert_eq!(scenario.expect_stop(), error, "at +{offset:?}");
    }
    scenario.set_now(failed_at.saturating_add(secs(10)));
    let _ = scenario.expect_send(RequestKind::RefreshGrant);
}

#[test]
fn the_default_retry_delay_is_one_second() {
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    let error = scenario.fail_transport(&refresh_request);
    scenario.advance(millis(999));
    assert_eq!(scenario.expect_stop(), error);
    scenario.advance(millis(1));
    let _ = scenario.expect_send(RequestKind::RefreshGrant);
}

#[test]
fn a_zero_retry_delay_retries_at_once() {
    let (mut scenario, refresh_request) =
        Scenario::with(|config| config.min_retry_delay(secs(0))).refresh_in_flight();
    let _ = scenario.answer(&refresh_request, &bad_gateway_html());
    let _ = scenario.expect_send(RequestKind::RefreshGrant);
}

#[test]
fn retry_after_in_seconds_holds_token_requests_back() {
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    let failed_at = scenario.now;
    let error = scenario
        .answer(&refresh_request, &too_many_json("120"))
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(error.retry_after(), Some(RetryAfter::Delay(secs(120))));
    scenario.set_now(failed_at.saturating_add(secs(120) - millis(1)));
    assert_eq!(scenario.expect_stop(), error);
    scenario.set_now(failed_at.saturating_add(secs(120)));
    let retry = scenario.expect_send(RequestKind::RefreshGrant);
    assert_eq!(form(&retry), refresh_fields(&refresh(1)));
}

#[test]
fn retry_after_as_an_http_date_holds_token_requests_back() {
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    // HTTP dates have whole seconds: use a whole-second instant.
    let until = UnixTimeExt::whole_secs(scenario.now.saturating_add(secs(300)));
    let error = scenario
        .answer(&refresh_request, &too_many_plain(&http_date(until)))
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(error.retry_after(), Some(RetryAfter::At(until)));
    scenario.set_now(until.saturating_sub(millis(1)));
    assert_eq!(scenario.expect_stop(), error);
    scenario.set_now(until);
    let _ = scenario.expect_send(RequestKind::RefreshGrant);
}

#[test]
fn a_retry_after_shorter_than_the_minimum_delay_does_not_shorten_it() {
    let past = http_date(T0);
    for retry_after in ["0", "5", past.as_str()] {
        let (mut scenario, refresh_request) =
            Scenario::with(|config| config.min_retry_delay(secs(30))).refresh_in_flight();
        let failed_at = scenario.now;
        let error = scenario
            .answer(&refresh_request, &too_many_json(retry_after))
            .unwrap_err();
        scenario.set_now(failed_at.saturating_add(secs(30) - millis(1)));
        assert_eq!(scenario.expect_stop(), error, "Retry-After: {retry_after}");
        scenario.set_now(failed_at.saturating_add(secs(30)));
        let _ = scenario.expect_send(RequestKind::RefreshGrant);
    }
}

#[test]
fn a_garbage_retry_after_falls_back_to_the_minimum_delay() {
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    let error = scenario
        .answer(&refresh_request, &too_many_json("soon, maybe"))
        .unwrap_err();
    assert_eq!(error.retry_after(), None);
    assert_eq!(scenario.expect_stop(), error);
    scenario.advance(secs(1));
    let _ = scenario.expect_send(RequestKind::RefreshGrant);
}

#[test]
fn a_transient_failure_of_a_password_login_retries_the_login_not_a_stop() {
    let mut scenario = Scenario::new();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    let error = scenario.answer(&login, &server_error_html()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ServerError);
    assert_eq!(scenario.expect_stop(), error);
    scenario.advance(secs(1));
    let retry = scenario.expect_send(RequestKind::PasswordGrant);
    assert_eq!(form(&retry), password_fields(PASSWORD));
}

trait UnixTimeExt {
    fn whole_secs(self) -> Self;
}

impl UnixTimeExt for keliweb_oauth::UnixTime {
    fn whole_secs(self) -> Self {
        keliweb_oauth::UnixTime::from_secs(self.as_millis() / 1000)
    }
}
