//! Client authentication with HTTP Basic (`client_secret_basic`, RFC 6749 section 2.3.1) beside
//! the default form fields, and scopes: checked when the config is built, asked for on both
//! grants, the granted one kept in the set. The clients' end-to-end checks against the emulator
//! are in the clients room's `client_auth_and_scope.rs`.

use std::time::Duration;

use base64::Engine;
use keliweb_oauth::{
    Config, ConfigBuilder, TokenSet,
    config::{ClientAuthentication, ConfigError},
    sans_io::{Action, OutgoingRequest, RequestKind, Session},
};

use crate::support::{T0, form, poll, reply, token_body};

/// A session whose client authenticates with HTTP Basic (an id and a secret that need
/// form-encoding), and its login request.
fn basic_login() -> (Session, OutgoingRequest) {
    basic_login_with(|builder| builder)
}

/// [`basic_login`] with more settings.
fn basic_login_with(
    adjust: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
) -> (Session, OutgoingRequest) {
    let config = adjust(
        Config::keliweb("client id+1", "s3cr:t+/é%")
            .credentials("me@example.com", "pw")
            .client_secret_basic(),
    )
    .build()
    .expect("valid");
    let mut session = Session::new(config);
    let Action::Send(login) = poll(&mut session, T0) else {
        panic!("expected a login")
    };
    (session, login)
}

/// The `Authorization: Basic` value `request` carries, and its credential.
fn basic_header(request: &OutgoingRequest) -> (String, String) {
    let header = request.request().headers()["authorization"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let credential = header.strip_prefix("Basic ").expect("Basic").to_owned();
    (header, credential)
}

#[test]
fn http_basic_leaves_the_body_without_client_fields_and_form_encodes_the_header() {
    let (_session, login) = basic_login();
    let fields = form(&login);
    assert!(!fields.contains_key("client_id") && !fields.contains_key("client_secret"));
    assert_eq!(fields["grant_type"], "password");
    let header = &login.request().headers()["authorization"];
    assert!(header.is_sensitive(), "kept out of logs that honour it");
    let encoded = header
        .to_str()
        .expect("ASCII")
        .strip_prefix("Basic ")
        .expect("Basic");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64");
    assert_eq!(decoded, b"client+id%2B1:s3cr%3At%2B%2F%C3%A9%25");
    assert!(
        !format!("{login:?}").contains("s3cr"),
        "Debug hides the secret"
    );
}

/// A session asking for `scope`, its login checked to carry it and answered with `answer`.
fn logged_in_with_scope(scope: &str, answer: &str) -> Session {
    let config = Config::keliweb("client", "secret")
        .credentials("me@example.com", "pw")
        .scope(scope)
        .build()
        .expect("valid");
    let mut session = Session::new(config);
    let Action::Send(login) = poll(&mut session, T0) else {
        panic!("expected a login")
    };
    assert_eq!(form(&login)["scope"], scope);
    session
        .handle_response(login.id(), T0, &reply(200, answer))
        .expect("accepted");
    session
}

#[test]
fn a_refresh_answer_without_a_scope_keeps_the_granted_one() {
    let granted = r#"{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ.a.b","refresh_token":"def50200aa","scope":"read"}"#;
    let mut session = logged_in_with_scope("read", granted);
    assert_eq!(session.tokens().and_then(TokenSet::scope), Some("read"));

    session.force_refresh();
    let Action::Send(refresh) = poll(&mut session, T0) else {
        panic!("expected a refresh")
    };
    assert_eq!(refresh.kind(), RequestKind::RefreshGrant);
    assert_eq!(form(&refresh)["scope"], "read");
    let without = reply(200, token_body("eyJ.c.d", 3600, Some("def50200bb")));
    session
        .handle_response(refresh.id(), T0, &without)
        .expect("accepted");
    assert_eq!(session.tokens().and_then(TokenSet::scope), Some("read"));
}

#[test]
fn a_scope_rfc_6749_does_not_allow_is_refused() {
    for bad in ["", "  ", "a\"b", "back\\slash", "città"] {
        let error = Config::keliweb("client", "secret")
            .scope(bad)
            .build()
            .expect_err("refused");
        assert!(
            matches!(error, ConfigError::InvalidScope(_)),
            "{bad:?}: {error}"
        );
    }
}

#[test]
fn a_scope_that_is_not_one_string_is_ignored_not_refused() {
    for body in [
        r#"{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ.a.b","refresh_token":"def50200aa","scope":["read"]}"#,
        r#"{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ.a.b","refresh_token":"def50200aa","scope":7}"#,
        r#"{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ.a.b","refresh_token":"def50200aa","scope":"read","scope":"write"}"#,
    ] {
        let mut session = Session::new(
            Config::keliweb("client", "secret")
                .credentials("me@example.com", "pw")
                .build()
                .expect("valid"),
        );
        let Action::Send(login) = poll(&mut session, T0) else {
            panic!("expected a login")
        };
        session
            .handle_response(login.id(), T0, &reply(200, body))
            .unwrap_or_else(|error| panic!("{body}: {error}"));
        assert_eq!(session.tokens().and_then(TokenSet::scope), None, "{body}");
    }
}

#[test]
fn a_refresh_asks_for_the_scope_granted_not_a_broader_one() {
    let narrowed = r#"{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ.a.b","refresh_token":"def50200aa","scope":"read"}"#;
    let mut session = logged_in_with_scope("read write", narrowed);
    session.force_refresh();
    let Action::Send(refresh) = poll(&mut session, T0) else {
        panic!("expected a refresh")
    };
    assert_eq!(form(&refresh)["scope"], "read");
}

#[test]
fn an_echoed_basic_credential_is_scrubbed_from_the_error() {
    let (mut session, login) = basic_login();
    let (header, credential) = basic_header(&login);
    let echo = format!("<html><body>Bad request. You sent: Authorization: {header}</body></html>");
    let error = session
        .handle_response(login.id(), T0, &reply(400, echo))
        .expect_err("refused");
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(&credential), "{shown}");
}

#[test]
fn the_config_reports_its_defaults_and_what_it_was_built_with() {
    let plain = Config::keliweb("client", "secret").build().expect("valid");
    assert_eq!(
        plain.client_authentication(),
        ClientAuthentication::RequestBody,
        "the documented default"
    );
    assert_eq!(plain.scope(), None);
    assert_eq!(
        plain.refresh_ahead(),
        Duration::from_secs(300),
        "the default"
    );
    assert_eq!(plain.leeway(), Duration::from_secs(60), "the default");

    let config = Config::keliweb("client", "secret")
        .client_secret_basic()
        .scope("read")
        .scope("  write   invoices ")
        .refresh_ahead(Duration::from_secs(90))
        .build()
        .expect("valid");
    assert_eq!(
        config.client_authentication(),
        ClientAuthentication::HttpBasic
    );
    assert_eq!(config.scope(), Some("read write invoices"));
    assert_eq!(config.refresh_ahead(), Duration::from_secs(90));
}

#[test]
fn an_echoed_basic_credential_is_scrubbed_from_a_revocation_error() {
    let (mut session, login) =
        basic_login_with(|builder| builder.revoke_rfc7009("https://apiv2.keliweb.it/oauth/revoke"));
    session
        .handle_response(
            login.id(),
            T0,
            &reply(200, token_body("eyJ.a.b", 3600, Some("def50200aa"))),
        )
        .expect("accepted");
    session.revoke();
    let Action::Send(revocation) = poll(&mut session, T0) else {
        panic!("expected a revocation")
    };
    assert_eq!(revocation.kind(), RequestKind::Revocation);
    let (header, credential) = basic_header(&revocation);
    let echo = format!("<html><body>Whoops. Headers: Authorization: {header}</body></html>");
    let error = session
        .handle_response(revocation.id(), T0, &reply(500, echo))
        .expect_err("refused");
    let shown = format!("{error} {error:?} {error:#?}");
    assert!(!shown.contains(&credential), "{shown}");
}
