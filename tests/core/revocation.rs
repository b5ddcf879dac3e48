//! Revocation in each style: tokens are dropped locally at once whatever the server says; RFC 7009
//! sends two form requests, Bearer logout one authorized call; any 2xx is success.

use http::Method;
use keliweb_oauth::{
    Config, ErrorKind, TokenSet,
    sans_io::{Action, OutgoingRequest, RequestKind, Session},
    secret::{AccessToken, RefreshToken},
};

use crate::support;
use crate::support::*;

fn rfc7009() -> Scenario {
    Scenario::with(|config| config.revoke_rfc7009(REVOKE_URL))
}

fn bearer_logout(method: Method) -> Scenario {
    Scenario::with(|config| config.revoke_bearer_logout(LOGOUT_URL, method))
}

fn assert_dropped(scenario: &mut Scenario) {
    assert!(scenario.session.tokens().is_none());
    assert!(scenario.session.authorization().is_none());
    assert!(scenario.session.in_flight().is_none());
    assert_eq!(scenario.expect_stop().kind(), ErrorKind::LoginRequired);
}

#[test]
fn local_only_drops_everything_and_sends_nothing() {
    let (mut scenario, requests) = Scenario::new().revoked();
    assert!(requests.is_empty());
    assert_dropped(&mut scenario);
}

#[test]
fn revoking_moves_the_generation_so_the_store_is_cleared() {
    let mut scenario = Scenario::new().logged_in();
    let before = scenario.generation();
    scenario.session.revoke();
    assert!(scenario.generation() > before);
}

#[test]
fn rfc7009_revokes_the_refresh_token_then_the_access_token() {
    let (mut scenario, requests) = rfc7009().revoked();
    assert_eq!(requests.len(), 2);
    let expected = [(refresh(1), "refresh_token"), (access(1), "access_token")];
    for (request, (token, hint)) in requests.iter().zip(expected) {
        assert_eq!(request.kind(), RequestKind::Revocation);
        assert_eq!(request.request().method(), Method::POST);
        assert_eq!(request.request().uri(), REVOKE_URL);
        assert_eq!(
            request.request().headers()["content-type"],
            "application/x-www-form-urlencoded"
        );
        assert!(request.request().headers().get("authorization").is_none());
        assert_eq!(
            form(request),
            fields(&[
                ("token", &token),
                ("token_type_hint", hint),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ])
        );
    }
    assert_ne!(requests[0].id(), requests[1].id());
    assert_dropped(&mut scenario);
}

#[test]
fn rfc7009_without_a_refresh_token_revokes_only_the_access_token() {
    let config = config().revoke_rfc7009(REVOKE_URL).build().unwrap();
    let set = TokenSet::new(AccessToken::new(access(5)), T0.saturating_add(HOUR), None).unwrap();
    let mut session = Session::new(config).with_tokens(set);
    let requests = support::revoke(&mut session, T0);
    assert_eq!(requests.len(), 1);
    assert_eq!(form(&requests[0])["token"], access(5));
    assert_eq!(form(&requests[0])["token_type_hint"], "access_token");
}

#[test]
fn bearer_logout_calls_the_url_with_the_token_and_method() {
    for method in [Method::POST, Method::DELETE] {
        let (mut scenario, requests) = bearer_logout(method.clone()).revoked();
        assert_eq!(requests.len(), 1, "{method}");
        let request = requests[0].request();
        assert_eq!(requests[0].kind(), RequestKind::Revocation);
        assert_eq!(request.method(), method);
        assert_eq!(request.uri(), LOGOUT_URL);
        let authorization = &request.headers()["authorization"];
        assert_eq!(authorization, format!("Bearer {}", access(1)).as_str());
        assert!(authorization.is_sensitive());
        assert_eq!(request.headers()["accept"], "application/json");
        assert_eq!(request.headers()["x-requested-with"], "XMLHttpRequest");
        assert!(request.body().is_empty());
        assert_dropped(&mut scenario);
    }
}

#[test]
fn bearer_logout_is_sent_even_when_the_token_was_withdrawn_locally() {
    // force_refresh only stops handing the token out: it still works on the server, so logging
    // out must still end it there.
    let mut scenario = bearer_logout(Method::POST).logged_in();
    scenario.session.force_refresh();
    let requests = scenario.revocations_after_revoke();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].request().headers()["authorization"],
        format!("Bearer {}", access(1)).as_str()
    );
}

#[test]
fn an_empty_200_or_204_or_any_2xx_is_success() {
    for (status, body) in [
        (200, ""),
        (204, ""),
        (200, "{}"),
        (200, r#"{"message":"Successfully logged out"}"#),
        (202, "ok"),
    ] {
        let (mut scenario, requests) = rfc7009().revoked();
        for request in &requests {
            assert_eq!(
                scenario.answer(request, &reply(status, body)),
                Ok(()),
                "{status} {body:?}"
            );
        }
        assert!(scenario.session.tokens().is_none());
    }
}

#[test]
fn error_statuses_are_typed_errors_and_the_tokens_stay_dropped() {
    let cases = [
        (
            reply(
                400,
                r#"{"error":"unsupported_token_type","error_description":"The authorization server does not support the revocation of the presented token type."}"#,
            ),
            ErrorKind::InvalidRequest,
        ),
        (invalid_client(), ErrorKind::InvalidClient),
        (server_error_html(), ErrorKind::ServerError),
        (unavailable(), ErrorKind::ServerError),
        (too_many_json("60"), ErrorKind::RateLimited),
        (
            reply(404, "<html>Not Found</html>"),
            ErrorKind::UnexpectedResponse,
        ),
        (
            reply(401, r#"{"message":"Unauthenticated."}"#),
            ErrorKind::UnexpectedResponse,
        ),
    ];
    for (response, kind) in cases {
        let (mut scenario, requests) = rfc7009().revoked();
        let error = scenario
            .answer(&requests[0], &response)
            .expect_err("an error status is an error");
        assert_eq!(error.kind(), kind, "{response:?}");
        assert_eq!(error.status(), Some(response.status()));
        assert_dropped(&mut scenario);
    }
}

#[test]
fn a_transport_error_on_a_revocation_is_reported_and_the_tokens_stay_dropped() {
    let (mut scenario, requests) = rfc7009().revoked();
    let error = scenario.fail_transport(&requests[1]);
    assert_eq!(error.kind(), ErrorKind::Transport);
    assert_dropped(&mut scenario);
}

#[test]
fn a_revocation_answer_is_accepted_once() {
    let (mut scenario, requests) = rfc7009().revoked();
    assert_eq!(scenario.answer(&requests[1], &reply(200, "")), Ok(()));
    let error = scenario.answer(&requests[1], &reply(200, "")).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ResponseMismatch);
    // The other one is still pending.
    assert_eq!(scenario.answer(&requests[0], &reply(204, "")), Ok(()));
}

#[test]
fn a_token_response_in_flight_at_revocation_is_refused() {
    let (mut scenario, refresh_request) = rfc7009().refresh_in_flight();
    let _revocations: Vec<OutgoingRequest> = scenario.revocations_after_revoke();
    let generation = scenario.generation();
    let error = scenario
        .answer(&refresh_request, &tokens_reply(9))
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ResponseMismatch);
    assert!(
        scenario.session.tokens().is_none(),
        "a revoked session got tokens"
    );
    assert_eq!(scenario.generation(), generation);
    assert_dropped(&mut scenario);
}

#[test]
fn revoking_with_no_tokens_sends_nothing() {
    let mut scenario = rfc7009();
    assert!(scenario.revocations_after_revoke().is_empty());
    assert_dropped(&mut scenario);
}

#[test]
fn login_after_revoking_starts_again() {
    let (mut scenario, _) = rfc7009().revoked();
    scenario
        .session
        .login(keliweb_oauth::Credentials::new(USERNAME, PASSWORD));
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    assert_eq!(form(&login), password_fields(PASSWORD));
    scenario.answer_tokens(&login);
}

#[test]
fn a_restored_session_revokes_its_stored_tokens() {
    let config = Config::keliweb(CLIENT_ID, CLIENT_SECRET)
        .revoke_rfc7009(REVOKE_URL)
        .build()
        .unwrap();
    let set = TokenSet::new(
        AccessToken::new(access(3)),
        T0.saturating_add(HOUR),
        Some((RefreshToken::new(refresh(3)), T0.saturating_add(TEN_DAYS))),
    )
    .unwrap();
    let mut session = Session::new(config).with_tokens(set);
    let requests = support::revoke(&mut session, T0);
    let tokens: Vec<String> = requests.iter().map(|r| form(r)["token"].clone()).collect();
    assert_eq!(tokens, [refresh(3), access(3)]);
    assert_eq!(
        session.handle_response(requests[0].id(), T0, &reply(200, "")),
        Ok(())
    );
}

#[test]
fn a_bearer_logout_that_fails_is_an_error_and_only_a_401_counts_as_done() {
    // A 401 means the token is already dead: what logging out wanted.
    let (mut scenario, requests) = bearer_logout(Method::POST).revoked();
    let done = scenario.answer(
        &requests[0],
        &reply(401, r#"{"message":"Unauthenticated."}"#),
    );
    assert_eq!(done, Ok(()));
    // A server failure is reported, not taken for success.
    let (mut scenario, requests) = bearer_logout(Method::POST).revoked();
    let failed = scenario.answer(&requests[0], &server_error_json());
    assert_eq!(failed.expect_err("a 500").kind(), ErrorKind::ServerError);
    assert_dropped(&mut scenario);
}

#[test]
fn queued_revocations_want_a_poll_at_once() {
    let mut scenario = rfc7009().logged_in();
    scenario.session.revoke();
    assert!(matches!(scenario.session.poll(scenario.now), Action::Store));
    // Stored away; the revocations are still to be handed out.
    assert_eq!(
        scenario.session.poll_timeout(scenario.now),
        Some(scenario.now)
    );
    assert!(!scenario.revocations().is_empty());
}
