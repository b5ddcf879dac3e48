//! Arbitrary status, headers and body fed to the session for each kind of request: password
//! grant, refresh grant, revocation. Input layout (so real bodies make readable seeds):
//! `[kind][status: u16 BE][header count][per header: name len, name, value len, value][body…]`.
//!
//! The secrets hold every character the encodings treat differently (`&"<+ %ä\/`), and the
//! checker looks for each of them in every form a server may echo it in (the forms of
//! `tests/support/echo_forms.rs`: JSON, HTML entities, percent-encoding, nested), in the
//! `Display` and `Debug` of the result and every field of its details.
#![no_main]

#[path = "../../tests/support/echo_forms.rs"]
mod echo_forms;

use std::sync::OnceLock;

use echo_forms::AllForms;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use keliweb_oauth::{
    Config, Error, ErrorKind, TokenSet, UnixTime,
    sans_io::{Action, RequestKind, Session},
    secret::{AccessToken, RefreshToken},
};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fz-client&\"<+ %ä\\/s9f3k";
const PASSWORD: &str = "fz-pass \"<&+%ö\\/wq8z1";
/// Access tokens are printable ASCII (they go into a header).
const ACCESS: &str = "fz-access&\"<+%\\/tc7m2";
const REFRESH: &str = "fz-refresh \"&<+%ä\\/rx4v6";
const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);

/// The forms of the secrets each kind of request can leak (see the `known` comment below).
fn forms(kind: RequestKind) -> &'static AllForms {
    static LOGIN: OnceLock<AllForms> = OnceLock::new();
    static REFRESHING: OnceLock<AllForms> = OnceLock::new();
    static REVOKING: OnceLock<AllForms> = OnceLock::new();
    // Only the secrets this session holds can be scrubbed from what the server echoes: a login
    // has no tokens yet, and a revocation forgets the password before it is sent.
    match kind {
        RequestKind::PasswordGrant => LOGIN.get_or_init(|| AllForms::of(&[SECRET, PASSWORD])),
        RequestKind::RefreshGrant => {
            REFRESHING.get_or_init(|| AllForms::of(&[SECRET, PASSWORD, ACCESS, REFRESH]))
        }
        RequestKind::Revocation => {
            REVOKING.get_or_init(|| AllForms::of(&[SECRET, ACCESS, REFRESH]))
        }
    }
}

/// Everything an error shows.
fn shown(error: &Error) -> Vec<String> {
    let mut texts = vec![
        error.to_string(),
        error.detail().unwrap_or_default().to_owned(),
    ];
    if let Some(details) = error.response() {
        texts.extend(
            [details.description(), details.hint(), details.error_code()]
                .into_iter()
                .flatten()
                .map(str::to_owned),
        );
        texts.push(details.body_excerpt().to_owned());
    }
    texts
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let Some((response, kind)) = decode(kind, rest) else {
        return;
    };
    let (mut session, id) = session_with_request_in_flight(kind);
    let before = session.tokens().cloned();
    let result = session.handle_response(id, NOW, &response);

    let mut texts = vec![format!("{result:?}"), format!("{session:?}")];
    if let Err(error) = &result {
        texts.extend(shown(error));
    }
    for text in &texts {
        if let Some(form) = forms(kind).shown_in(text) {
            panic!("the {form} leaked into {text}");
        }
    }
    match result {
        // New tokens are stored before they are used.
        Ok(()) if kind != RequestKind::Revocation => {
            assert!(matches!(session.poll(NOW), Action::Store));
            assert!(matches!(session.poll(NOW), Action::UseToken(_)));
        }
        Ok(()) => {}
        Err(error) => {
            if error.kind() == ErrorKind::RefreshTokenRejected {
                assert_eq!(kind, RequestKind::RefreshGrant);
            }
            if kind != RequestKind::Revocation && error.is_retryable() {
                assert_eq!(
                    session.tokens(),
                    before.as_ref(),
                    "a transient failure changed the tokens"
                );
            }
            assert_ne!(
                error.kind(),
                ErrorKind::Transport,
                "a response is never a transport error"
            );
        }
    }
});

fn decode(kind: u8, data: &[u8]) -> Option<(Response<&[u8]>, RequestKind)> {
    let kind = match kind % 3 {
        0 => RequestKind::PasswordGrant,
        1 => RequestKind::RefreshGrant,
        _ => RequestKind::Revocation,
    };
    let (status, mut rest) = data.split_at_checked(2)?;
    let status =
        StatusCode::from_u16(u16::from_be_bytes([status[0], status[1]]) % 900 + 100).ok()?;
    let (&count, after) = rest.split_first()?;
    rest = after;
    let mut response = Response::new(&[][..]);
    for _ in 0..count % 8 {
        let (name, after) = take(rest)?;
        let (value, after) = take(after)?;
        rest = after;
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            response.headers_mut().append(name, value);
        }
    }
    *response.status_mut() = status;
    *response.body_mut() = rest;
    Some((response, kind))
}

fn take(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = data.split_first()?;
    rest.split_at_checked(usize::from(len))
}

fn session_with_request_in_flight(
    kind: RequestKind,
) -> (Session, keliweb_oauth::sans_io::RequestId) {
    let config = Config::keliweb("fuzz-client", SECRET)
        .credentials("fuzz@example.com", PASSWORD)
        .revoke_rfc7009("https://apiv2.keliweb.it/oauth/revoke")
        .build()
        .expect("a valid config");
    let expired_access = TokenSet::new(
        AccessToken::new(ACCESS),
        NOW,
        Some((
            RefreshToken::new(REFRESH),
            NOW.saturating_add(std::time::Duration::from_secs(3600)),
        )),
    )
    .expect("a valid token set");
    let mut session = match kind {
        RequestKind::PasswordGrant => Session::new(config),
        _ => Session::new(config).with_tokens(expired_access),
    };
    let id = if kind == RequestKind::Revocation {
        session.revoke();
        loop {
            match session.poll(NOW) {
                Action::Store => {}
                Action::Send(request) => break Some(request.id()),
                _ => break None,
            }
        }
    } else {
        match session.poll(NOW) {
            Action::Send(request) => Some(request.id()),
            _ => None,
        }
    };
    (session, id.expect("the session hands out a request"))
}
