//! A late, unknown or duplicate response is refused with `ResponseMismatch` and changes nothing.

use keliweb_oauth::{ErrorKind, sans_io::RequestKind};

use crate::support::*;

#[test]
fn a_response_to_an_unknown_id_is_refused_and_changes_nothing() {
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    let unknown = foreign_id(7);
    assert_ne!(unknown, refresh_request.id());
    let before = scenario.snapshot();
    let error = scenario
        .answer_id(unknown, &tokens_reply(99))
        .expect_err("an unknown id is refused");
    assert_eq!(error.kind(), ErrorKind::ResponseMismatch);
    assert_eq!(scenario.snapshot(), before);
    // The real answer is still accepted.
    scenario.answer_tokens(&refresh_request);
}

#[test]
fn a_response_with_nothing_in_flight_is_refused() {
    let mut scenario = Scenario::new().logged_in();
    let before = scenario.snapshot();
    let error = scenario
        .answer_id(foreign_id(1), &tokens_reply(99))
        .expect_err("nothing is in flight");
    assert_eq!(error.kind(), ErrorKind::ResponseMismatch);
    assert_eq!(scenario.snapshot(), before);
}

#[test]
fn a_late_response_to_a_request_already_failed_is_refused() {
    let (mut scenario, first) = Scenario::new().refresh_in_flight();
    let failure = scenario.fail_transport(&first);
    assert_eq!(failure.kind(), ErrorKind::Transport);
    scenario.advance(secs(1));
    let second = scenario.expect_send(RequestKind::RefreshGrant);
    let before = scenario.snapshot();

    // The first request's answer finally arrives: refused, not applied, the second still out.
    let error = scenario
        .answer(&first, &tokens_reply(50))
        .expect_err("a late answer is refused");
    assert_eq!(error.kind(), ErrorKind::ResponseMismatch);
    assert_eq!(scenario.snapshot(), before);
    scenario.expect_wait(second.id());
}

#[test]
fn a_duplicate_response_is_refused_and_the_first_answer_stands() {
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    scenario.answer_tokens(&refresh_request);
    let before = scenario.snapshot();
    for duplicate in [tokens_reply(77), refresh_invalid_v8(), server_error_json()] {
        let error = scenario
            .answer(&refresh_request, &duplicate)
            .expect_err("a duplicate is refused");
        assert_eq!(error.kind(), ErrorKind::ResponseMismatch);
        assert_eq!(scenario.snapshot(), before);
    }
    assert_eq!(scenario.tokens().access_token().expose_secret(), access(2));
}

#[test]
fn a_transport_error_for_an_unknown_id_is_refused_and_changes_nothing() {
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    let before = scenario.snapshot();
    let error = scenario
        .session
        .handle_transport_error(foreign_id(4), scenario.now, timeout());
    assert_eq!(error.kind(), ErrorKind::ResponseMismatch);
    assert_eq!(scenario.snapshot(), before);
    // No cooldown was started by it: the real request is still awaited.
    scenario.expect_wait(refresh_request.id());
}
