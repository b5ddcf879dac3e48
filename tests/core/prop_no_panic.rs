//! No status (100..=999), headers (arbitrary `Retry-After` bytes included) or body (arbitrary
//! bytes, and mutations of real Passport bodies) makes `handle_response` panic, for a password
//! grant, a refresh grant or a revocation; the session still answers a poll afterwards.

use http::{HeaderName, HeaderValue, Response, StatusCode};
use keliweb_oauth::{
    UnixTime,
    sans_io::{Action, OutgoingRequest, RequestKind, Session},
};
use proptest::prelude::*;

use crate::support::*;

/// The real bodies mutations start from.
fn seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = [
        REFRESH_INVALID_V8,
        REFRESH_INVALID_V9,
        INVALID_CREDENTIALS_V7,
        INVALID_GRANT_PASSWORD,
        INVALID_CLIENT,
        MISSING_PARAMETER,
        UNSUPPORTED_GRANT_TYPE,
        SERVER_ERROR_JSON,
        SERVER_ERROR_HTML,
        BAD_GATEWAY_HTML,
        UNAVAILABLE,
        TOO_MANY_JSON,
        TOO_MANY_PLAIN,
        "",
        "\u{feff}",
    ]
    .iter()
    .map(|body| body.as_bytes().to_vec())
    .collect();
    seeds.push(token_body(&access(1), 3600, Some(&refresh(1))).into_bytes());
    seeds.push(br#"{"token_type":"bearer","expires_in":"3600","access_token":"a.b.c"}"#.to_vec());
    seeds.push(br#"{"access_token":"a.b.c","expires_in":1e308,"refresh_token":"\ud800"}"#.to_vec());
    seeds.push(
        br#"{"access_token":"a.b.c","expires_in":18446744073709551616,"refresh_token":"r"}"#
            .to_vec(),
    );
    seeds.push(br#"{"access_token":"a.b.c","expires_in":"  99999999999999999999.5 "}"#.to_vec());
    seeds
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip(at, byte)),
        (
            any::<usize>(),
            prop_oneof![
                prop::collection::vec(any::<u8>(), 1..8),
                prop::sample::select(vec![
                    b"\"".to_vec(),
                    b"\\".to_vec(),
                    b"\\u".to_vec(),
                    b"{".to_vec(),
                    b"}".to_vec(),
                    b"[".to_vec(),
                    b",".to_vec(),
                    b"null".to_vec(),
                    b"-".to_vec(),
                    b"1e999".to_vec(),
                    b"\xef\xbb\xbf".to_vec(),
                    b"\xff".to_vec(),
                    b"\r\n".to_vec(),
                    "\u{20ac}".as_bytes().to_vec(),
                ]),
            ]
        )
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (any::<usize>(), 1usize..16).prop_map(|(at, len)| Mutation::Remove(at, len)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..32).prop_map(|(at, len)| Mutation::Duplicate(at, len)),
    ]
}

fn apply(mut body: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let len = body.len();
        match mutation {
            Mutation::Flip(at, byte) if len > 0 => body[at % len] ^= byte,
            Mutation::Insert(at, bytes) => {
                let at = at % (len + 1);
                body.splice(at..at, bytes.iter().copied());
            }
            Mutation::Remove(at, remove) if len > 0 => {
                let at = at % len;
                body.drain(at..(at + remove).min(len));
            }
            Mutation::Truncate(at) => body.truncate(at % (len + 1)),
            Mutation::Duplicate(at, copy) if len > 0 => {
                let at = at % len;
                let chunk = body[at..(at + copy).min(len)].to_vec();
                body.splice(at..at, chunk);
            }
            _ => {}
        }
    }
    body
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        (
            prop::sample::select(seeds()),
            prop::collection::vec(mutation(), 0..6)
        )
            .prop_map(|(seed, mutations)| apply(seed, &mutations)),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let name = prop::sample::select(vec![
        "retry-after",
        "content-type",
        "www-authenticate",
        "location",
        "x-ratelimit-remaining",
        "content-length",
    ]);
    let value = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        prop::sample::select(vec![
            b"0".to_vec(),
            b"120".to_vec(),
            b"18446744073709551615".to_vec(),
            b"18446744073709551616".to_vec(),
            b"-1".to_vec(),
            b"Wed, 21 Oct 2015 07:28:00 GMT".to_vec(),
            b"Fri, 31 Dec 9999 23:59:59 GMT".to_vec(),
            b"Thu, 01 Jan 1970 00:00:00 GMT".to_vec(),
            b"Sun, 06 Nov 1994 08:49:37 GMT ".to_vec(),
            b"  7 ".to_vec(),
            b"\xff\xfe".to_vec(),
        ]),
    ];
    prop::collection::vec((name.prop_map(str::to_owned), value), 0..4)
}

fn response(status: u16, headers: &[(String, Vec<u8>)], body: Vec<u8>) -> Response<Vec<u8>> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).expect("100..=999 is a valid status");
    for (name, value) in headers {
        // Bytes a header cannot hold never reach the session: http refuses them first.
        if let Ok(value) = HeaderValue::from_bytes(value) {
            response
                .headers_mut()
                .append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
        }
    }
    response
}

/// A session with a request of `kind` out, and that request.
fn with_request(kind: RequestKind) -> (Session, OutgoingRequest, UnixTime) {
    match kind {
        RequestKind::PasswordGrant => {
            let mut scenario = Scenario::new();
            let login = scenario.expect_send(RequestKind::PasswordGrant);
            (scenario.session, login, scenario.now)
        }
        RequestKind::RefreshGrant => {
            let (scenario, refresh_request) = Scenario::new().refresh_in_flight();
            (scenario.session, refresh_request, scenario.now)
        }
        RequestKind::Revocation => {
            let (scenario, mut requests) =
                Scenario::with(|config| config.revoke_rfc7009(REVOKE_URL)).revoked();
            (scenario.session, requests.remove(0), scenario.now)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn no_response_makes_the_session_panic(
        kind in prop::sample::select(vec![
            RequestKind::PasswordGrant,
            RequestKind::RefreshGrant,
            RequestKind::Revocation,
        ]),
        status in 100u16..=999,
        headers in headers(),
        body in body(),
    ) {
        let (mut session, request, now) = with_request(kind);
        let response = response(status, &headers, body);
        let result = session.handle_response(request.id(), now, &response);
        // Rendering the outcome must not panic either.
        let _ = format!("{result:?}");
        if let Err(error) = &result {
            let _ = format!("{error} {error:#?}");
        }
        // The session still works: a poll answers, and never hands out an expired token.
        for later in [now, now.saturating_add(secs(3600)), UnixTime::from_millis(u64::MAX)] {
            match session.poll(later) {
                Action::UseToken(auth) => prop_assert!(auth.is_usable_at(later)),
                Action::Send(next) => prop_assert_ne!(next.kind(), RequestKind::Revocation),
                Action::Store | Action::Wait(_) | Action::Stop(_) => {}
            }
        }
    }

    #[test]
    fn success_statuses_with_mutated_token_bodies_do_not_panic(
        kind in prop::sample::select(vec![RequestKind::PasswordGrant, RequestKind::RefreshGrant]),
        status in 200u16..300,
        body in body(),
    ) {
        let (mut session, request, now) = with_request(kind);
        let result = session.handle_response(request.id(), now, &response(status, &[], body));
        let _ = format!("{result:?}");
    }
}
