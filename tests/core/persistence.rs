//! A stored `TokenSet` survives a restart; `generation()` moves on every change to the set;
//! a lifetime within the leeway is reported but stored.

use keliweb_oauth::{
    Config, ErrorKind, TokenSet,
    sans_io::{RequestKind, Session},
    secret::{AccessToken, RefreshToken},
};

use crate::support;
use crate::support::*;

fn stored(access_expires_in: i64, refresh_expires_in: Option<i64>) -> TokenSet {
    let at = |offset: i64| {
        if offset >= 0 {
            T0.saturating_add(secs(offset.unsigned_abs()))
        } else {
            T0.saturating_sub(secs(offset.unsigned_abs()))
        }
    };
    TokenSet::new(
        AccessToken::new(access(7)),
        at(access_expires_in),
        refresh_expires_in.map(|offset| (RefreshToken::new(refresh(7)), at(offset))),
    )
    .unwrap()
}

/// A session started from a stored set, at `T0`.
fn restored(config: Config, set: TokenSet) -> Scenario {
    let mut scenario = Scenario::from_config(config.clone());
    scenario.session = Session::new(config).with_tokens(set);
    scenario
}

#[test]
fn the_token_set_round_trips_through_json() {
    let scenario = Scenario::new().logged_in();
    let set = scenario.tokens();
    let json = serde_json::to_string(&set).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["access_token"], access(1));
    assert_eq!(value["refresh_token"], refresh(1));
    assert_eq!(
        value["access_token_expires_at"],
        T0.saturating_add(HOUR).as_millis()
    );
    assert_eq!(
        value["refresh_token_expires_at"],
        T0.saturating_add(TEN_DAYS).as_millis()
    );
    let back: TokenSet = serde_json::from_str(&json).unwrap();
    assert_eq!(back, set);

    let without_refresh = stored(3600, None);
    let json = serde_json::to_string(&without_refresh).unwrap();
    assert!(!json.contains("refresh_token"), "{json}");
    assert_eq!(
        serde_json::from_str::<TokenSet>(&json).unwrap(),
        without_refresh
    );
}

#[test]
fn a_restored_fresh_set_is_used_without_any_request() {
    let mut scenario = restored(config().build().unwrap(), stored(3600, Some(86400)));
    let auth = scenario.expect_use();
    assert_eq!(
        auth.expose_header_value(),
        format!("Bearer {}", access(7)).as_str()
    );
    assert_eq!(auth.usable_until(), T0.saturating_add(HOUR - LEEWAY));
}

#[test]
fn a_restored_set_with_an_expired_access_token_refreshes_without_logging_in() {
    // Even without credentials: the refresh token is enough.
    let no_credentials = Config::keliweb(CLIENT_ID, CLIENT_SECRET).build().unwrap();
    for config in [config().build().unwrap(), no_credentials] {
        let mut scenario = restored(config, stored(-10, Some(86400)));
        let refresh_request = scenario.expect_send(RequestKind::RefreshGrant);
        assert_eq!(form(&refresh_request), refresh_fields(&refresh(7)));
        scenario.answer_tokens(&refresh_request);
        let _ = scenario.expect_use();
    }
}

#[test]
fn a_restored_set_with_an_expired_refresh_token_logs_in_with_the_password() {
    for refresh_expires_in in [Some(-1), Some(0), None] {
        let mut scenario = restored(config().build().unwrap(), stored(-10, refresh_expires_in));
        let login = scenario.expect_send(RequestKind::PasswordGrant);
        assert_eq!(form(&login), password_fields(PASSWORD));
    }
    let no_credentials = Config::keliweb(CLIENT_ID, CLIENT_SECRET).build().unwrap();
    let mut scenario = restored(no_credentials, stored(-10, Some(-1)));
    assert_eq!(scenario.expect_stop().kind(), ErrorKind::LoginRequired);
}

#[test]
fn generation_moves_on_every_change_to_the_token_set() {
    let mut scenario = Scenario::new();
    let mut last = scenario.generation();
    let mut moved = |scenario: &Scenario, what: &str| {
        let now = scenario.generation();
        assert!(now > last, "{what}: generation did not move");
        last = now;
    };

    let login = scenario.expect_send(RequestKind::PasswordGrant);
    scenario.answer_tokens(&login);
    moved(&scenario, "login");

    scenario.go_to_usable_until();
    let refresh_request = scenario.expect_send(RequestKind::RefreshGrant);
    scenario.answer_tokens(&refresh_request);
    moved(&scenario, "refresh");

    scenario.session.force_refresh();
    let refresh_request = scenario.expect_send(RequestKind::RefreshGrant);
    let _ = scenario.answer(&refresh_request, &refresh_invalid_v8());
    moved(&scenario, "dropped refresh token");

    // The old access token still works, so the password login waits until it is due.
    scenario.go_to_usable_until();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    let _ = scenario.answer(&login, &reply(200, token_body("short.lived", 30, None)));
    moved(&scenario, "lifetime within leeway");

    scenario.session.revoke();
    moved(&scenario, "revocation");

    let restored = Session::new(config().build().unwrap()).with_tokens(stored(3600, None));
    assert!(restored.generation() > 0, "restoring is a change");
}

#[test]
fn generation_stays_when_nothing_changes() {
    let mut scenario = Scenario::new().logged_in();
    let generation = scenario.generation();
    let auth = scenario.expect_use();
    let _ = support::unauthorized(&mut scenario.session, auth.token_id(), scenario.now);
    let refresh_request = scenario.expect_send(RequestKind::RefreshGrant);
    scenario.expect_wait(refresh_request.id());
    let _ = scenario.fail_transport(&refresh_request);
    let _ = scenario.expect_stop();
    scenario.advance(secs(1));
    let refresh_request = scenario.expect_send(RequestKind::RefreshGrant);
    let _ = scenario.answer(&refresh_request, &server_error_html());
    let _ = scenario.answer_id(foreign_id(9), &tokens_reply(9));
    assert_eq!(scenario.generation(), generation);
    let _: support::Unauthorized =
        support::unauthorized(&mut scenario.session, auth.token_id(), scenario.now);
    assert_eq!(scenario.generation(), generation);
}

#[test]
fn a_lifetime_within_the_leeway_is_reported_and_the_tokens_stored() {
    for expires_in in [1, 30, 60] {
        let mut scenario = Scenario::new();
        let login = scenario.expect_send(RequestKind::PasswordGrant);
        let generation = scenario.generation();
        let error = scenario
            .answer(
                &login,
                &reply(200, token_body("short.lived", expires_in, Some("r-short"))),
            )
            .expect_err("a token that expires within the leeway cannot be used");
        assert_eq!(
            error.kind(),
            ErrorKind::LifetimeWithinLeeway,
            "{expires_in}"
        );
        assert!(scenario.generation() > generation);
        let tokens = scenario.tokens();
        assert_eq!(tokens.access_token().expose_secret(), "short.lived");
        assert_eq!(tokens.refresh_token().unwrap().expose_secret(), "r-short");
        assert_eq!(
            tokens.access_token_expires_at(),
            T0.saturating_add(secs(expires_in))
        );
        assert!(
            !matches!(scenario.poll(), keliweb_oauth::sans_io::Action::UseToken(_)),
            "{expires_in}"
        );
    }
    // One second more than the leeway: usable for that second.
    let mut scenario = Scenario::new();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    assert_eq!(
        scenario.answer(&login, &reply(200, token_body("just.enough", 61, None))),
        Ok(())
    );
    let auth = scenario.expect_use();
    assert_eq!(auth.usable_until(), T0.saturating_add(secs(1)));
}

#[test]
fn a_lifetime_within_the_leeway_does_not_make_the_session_hammer_the_server() {
    // Each refresh is answered with a token that cannot be used: the session must not hand
    // out the next request at once (the drain rule would make a driver loop without pause).
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    let error = scenario
        .answer(
            &refresh_request,
            &reply(200, token_body("short.lived", 10, Some("r-short"))),
        )
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::LifetimeWithinLeeway);
    assert_eq!(scenario.expect_stop(), error);
    scenario.advance(secs(1));
    let retry = scenario.expect_send(RequestKind::RefreshGrant);
    assert_eq!(form(&retry)["refresh_token"], "r-short");
}

/// A session logged in at `T0` with a 4 s token (leeway 1 s: 3 s usable, so its refresh is due
/// at +1.5 s, halfway through), and the set it holds.
fn short_lived_login() -> (Scenario, TokenSet) {
    let mut scenario = Scenario::with(|config| config.leeway(secs(1)));
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    let answer = reply(200, token_body(&access(1), 4, Some(&refresh(1))));
    assert_eq!(scenario.answer(&login, &answer), Ok(()));
    let _ = scenario.poll();
    let set = scenario.tokens();
    (scenario, set)
}

#[test]
fn a_set_keeps_its_issue_time_through_json() {
    let (_, set) = short_lived_login();
    assert_eq!(set.obtained_at(), Some(T0));
    let json = serde_json::to_string(&set).unwrap();
    let back: TokenSet = serde_json::from_str(&json).unwrap();
    assert_eq!(back.obtained_at(), Some(T0));
    assert_eq!(back, set);
}

#[test]
fn a_short_lived_set_restored_or_adopted_is_refreshed_halfway_not_on_arrival() {
    let (mut own, set) = short_lived_login();
    let halfway = T0.saturating_add(millis(1500));
    assert_eq!(own.expect_use().refresh_at(), halfway);

    // Another process restores it from the store, or adopts it, 100 ms later.
    let config = own.session.config().clone();
    let mut restored = restored(config, set.clone());
    restored.set_now(T0.saturating_add(millis(100)));
    assert_eq!(restored.expect_use().refresh_at(), halfway);

    let mut adopting = Scenario::with(|config| config.leeway(secs(1))).logged_in();
    assert!(adopting.session.adopt(Some(set)));
    adopting.set_now(T0.saturating_add(millis(100)));
    assert_eq!(adopting.expect_use().refresh_at(), halfway);

    // And each refreshes it once it is due.
    for scenario in [&mut own, &mut restored, &mut adopting] {
        scenario.set_now(halfway);
        let _ = scenario.expect_send(RequestKind::RefreshGrant);
    }
}

#[test]
fn a_set_of_unknown_age_counts_its_life_from_its_first_use() {
    let config = config().leeway(secs(1)).build().unwrap();
    // Stored by an older version: no arrival time. Usable until +3 s.
    let set = stored(4, Some(3600));
    assert_eq!(set.obtained_at(), None);
    let mut scenario = restored(config, set);
    scenario.set_now(T0.saturating_add(millis(1000)));
    // Two seconds of usable life left when first used: refreshed halfway through them.
    assert_eq!(
        scenario.expect_use().refresh_at(),
        T0.saturating_add(millis(2000))
    );
    scenario.set_now(T0.saturating_add(millis(1999)));
    let _ = scenario.expect_use();
    scenario.set_now(T0.saturating_add(millis(2000)));
    let _ = scenario.expect_send(RequestKind::RefreshGrant);
}
