//! Every form body the session builds (password grant, refresh grant, RFC 7009 revocation)
//! decodes back to exactly the fields given, for arbitrary Unicode values.

use keliweb_oauth::{
    Config, ConfigBuilder,
    sans_io::{Action, OutgoingRequest, RequestKind, Session},
};
use proptest::prelude::*;

use crate::support;
use crate::support::{REVOKE_URL, T0, reply, secs};

fn decoded(request: &OutgoingRequest) -> Vec<(String, String)> {
    form_urlencoded::parse(request.request().body())
        .into_owned()
        .collect()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// Any Unicode string that is not blank (the config refuses blank ids and usernames).
/// A session that logged in and got `access` and `refresh` back, as JSON strings with
/// whatever escapes they need.
fn logged_in(
    config: ConfigBuilder,
    access: &str,
    refresh: &str,
) -> (Session, Result<(), keliweb_oauth::Error>) {
    let config = config
        .credentials("user@example.com", "pw")
        .build()
        .unwrap();
    let mut session = Session::new(config);
    let Action::Send(login) = support::poll(&mut session, T0) else {
        panic!("expected a login")
    };
    let body =
        serde_json::json!({"access_token": access, "refresh_token": refresh, "expires_in": 3600});
    let progress = session.handle_response(login.id(), T0, &reply(200, body.to_string()));
    (session, progress)
}

fn not_blank() -> impl Strategy<Value = String> {
    any::<String>().prop_filter("blank", |text| !text.trim().is_empty())
}

/// Header-safe access tokens (the only rule the session puts on them).
fn access_token() -> impl Strategy<Value = String> {
    "[!-~]{1,64}"
}

/// Refresh tokens are opaque: anything non-empty.
fn refresh_token() -> impl Strategy<Value = String> {
    any::<String>().prop_filter("empty", |text| !text.is_empty())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn password_grant_round_trips(
        client_id in not_blank(),
        client_secret in any::<String>(),
        username in not_blank(),
        password in any::<String>(),
    ) {
        let config = Config::builder(support::TOKEN_URL, client_id.as_str(), client_secret.as_str())
            .credentials(username.as_str(), password.as_str())
            .build()
            .unwrap();
        let mut session = Session::new(config);
        let Action::Send(login) = support::poll(&mut session, T0) else { panic!("expected a login") };
        prop_assert_eq!(login.kind(), RequestKind::PasswordGrant);
        prop_assert_eq!(
            decoded(&login),
            owned(&[
                ("grant_type", "password"),
                ("client_id", &client_id),
                ("client_secret", &client_secret),
                ("username", &username),
                ("password", &password),
            ])
        );
    }

    #[test]
    fn refresh_grant_round_trips(
        client_id in not_blank(),
        client_secret in any::<String>(),
        access in access_token(),
        refresh in refresh_token(),
    ) {
        let config = Config::builder(support::TOKEN_URL, client_id.as_str(), client_secret.as_str());
        let (mut session, progress) = logged_in(config, &access, &refresh);
        prop_assert_eq!(progress, Ok(()));
        let later = T0.saturating_add(secs(3600));
        let Action::Send(refresh_request) = support::poll(&mut session, later) else { panic!("expected a refresh") };
        prop_assert_eq!(refresh_request.kind(), RequestKind::RefreshGrant);
        prop_assert_eq!(
            decoded(&refresh_request),
            owned(&[
                ("grant_type", "refresh_token"),
                ("client_id", &client_id),
                ("client_secret", &client_secret),
                ("refresh_token", &refresh),
            ])
        );
    }

    #[test]
    fn rfc7009_revocation_round_trips(
        client_id in not_blank(),
        client_secret in any::<String>(),
        access in access_token(),
        refresh in refresh_token(),
    ) {
        let config = Config::builder(support::TOKEN_URL, client_id.as_str(), client_secret.as_str())
            .revoke_rfc7009(REVOKE_URL);
        let (mut session, _) = logged_in(config, &access, &refresh);
        let requests = support::revoke(&mut session, T0);
        prop_assert_eq!(requests.len(), 2);
        let expected = [(&refresh, "refresh_token"), (&access, "access_token")];
        for (request, (token, hint)) in requests.iter().zip(expected) {
            prop_assert_eq!(request.kind(), RequestKind::Revocation);
            prop_assert_eq!(
                decoded(request),
                owned(&[
                    ("token", token),
                    ("token_type_hint", hint),
                    ("client_id", &client_id),
                    ("client_secret", &client_secret),
                ])
            );
        }
    }
}
