//! 2. One token exchange without IO: build the password-grant (or refresh-grant) request and
//!    consume a canned Keliweb response, success or error. Baseline in the same run: `oauth2` 5
//!    doing the same exchange through a closure transport returning the same canned response.
//!
//! Both sides get the canned response the same way a real transport hands it over: as an owned
//! clone (oauth2's closure must return one; keliweb's drivers own the response they feed in).

mod common;

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::Response;
use keliweb_oauth::{
    TokenSet, UnixTime,
    sans_io::{Action, Session},
    secret::{AccessToken, RefreshToken},
};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, ResourceOwnerPassword,
    ResourceOwnerUsername, TokenUrl,
};

use common::{CLIENT_ID, CLIENT_SECRET, PASSWORD, TOKEN_URL, USERNAME};

#[global_allocator]
static ALLOCATOR: common::CountingAllocator = common::CountingAllocator;

const CALLS: usize = 10_000;

/// A case: its name, how to set up a session for it, and the canned answer.
type Case<'a> = (&'static str, fn() -> Session, &'a Response<Vec<u8>>);
const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);

type OAuth2Client =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// oauth2 configured like Keliweb wants: client id and secret in the form body.
fn oauth2_client() -> OAuth2Client {
    BasicClient::new(ClientId::new(CLIENT_ID.to_owned()))
        .set_client_secret(ClientSecret::new(CLIENT_SECRET.to_owned()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(TokenUrl::new(TOKEN_URL.to_owned()).expect("a valid URL"))
}

/// A session that will ask for a password grant.
fn fresh_session() -> Session {
    Session::new(common::keliweb_config())
}

/// A session whose access token is past its leeway and whose refresh token is live: its next
/// poll is a refresh grant.
fn expiring_session() -> Session {
    let tokens = TokenSet::new(
        AccessToken::new(common::access_token(1)),
        NOW.saturating_add(Duration::from_secs(30)),
        Some((
            RefreshToken::new(common::refresh_token(1)),
            NOW.saturating_add(Duration::from_secs(86_400)),
        )),
    )
    .expect("a valid token set");
    Session::new(common::keliweb_config()).with_tokens(tokens)
}

/// One keliweb exchange: poll for the request, "send" it, hand the owned response back.
fn keliweb_exchange(session: &mut Session, canned: &Response<Vec<u8>>) -> bool {
    let Action::Send(outgoing) = session.poll(NOW) else {
        panic!("expected a token request")
    };
    let (id, request) = outgoing.into_parts();
    drop(black_box(request));
    let response = canned.clone();
    session.handle_response(id, NOW, &response).is_ok()
}

/// `EXCHANGE_PROFILE=password|refresh|error` runs only that keliweb exchange, 20,000 times,
/// for a profiler: `EXCHANGE_PROFILE=error valgrind --tool=callgrind target/release/deps/exchange-*`.
/// `oauth2-password|oauth2-refresh|oauth2-error` runs oauth2's, so instruction counts compare
/// the two sides where timings are too noisy to.
fn profile(case: &str) {
    const EXCHANGES: usize = 20_000;
    let (side, grant) = match case.strip_prefix("oauth2-") {
        Some(grant) => ("oauth2", grant),
        None => ("keliweb", case),
    };
    let canned = match grant {
        "error" => common::canned_response(400, common::INVALID_GRANT_BODY.into()),
        _ => common::canned_response(200, common::success_body(2)),
    };
    if side == "oauth2" {
        let oauth2 = oauth2_client();
        let username = ResourceOwnerUsername::new(USERNAME.to_owned());
        let password = ResourceOwnerPassword::new(PASSWORD.to_owned());
        let refresh = oauth2::RefreshToken::new(common::refresh_token(1));
        let transport = |request: oauth2::HttpRequest| -> Result<oauth2::HttpResponse, Infallible> {
            drop(black_box(request));
            Ok(canned.clone())
        };
        for _ in 0..EXCHANGES {
            let ok = if grant == "refresh" {
                oauth2
                    .exchange_refresh_token(&refresh)
                    .request(&transport)
                    .is_ok()
            } else {
                oauth2
                    .exchange_password(&username, &password)
                    .request(&transport)
                    .is_ok()
            };
            black_box(ok);
        }
        return;
    }
    let setup = if grant == "refresh" {
        expiring_session
    } else {
        fresh_session
    };
    let mut sessions: Vec<Session> = (0..EXCHANGES).map(|_| setup()).collect();
    for session in &mut sessions {
        black_box(keliweb_exchange(session, &canned));
    }
}

fn exchange(c: &mut Criterion) {
    if let Ok(case) = std::env::var("EXCHANGE_PROFILE") {
        profile(&case);
        return;
    }
    let success = common::canned_response(200, common::success_body(2));
    let invalid_grant = common::canned_response(400, common::INVALID_GRANT_BODY.into());
    let oauth2 = oauth2_client();
    let username = ResourceOwnerUsername::new(USERNAME.to_owned());
    let password = ResourceOwnerPassword::new(PASSWORD.to_owned());
    let refresh = oauth2::RefreshToken::new(common::refresh_token(1));
    let transport = |canned: &Response<Vec<u8>>| {
        let canned = canned.clone();
        move |request: oauth2::HttpRequest| -> Result<oauth2::HttpResponse, Infallible> {
            drop(black_box(request));
            Ok(canned.clone())
        }
    };
    let answer_success = transport(&success);
    let answer_error = transport(&invalid_grant);

    // Sanity: each side reads each answer as intended.
    assert!(keliweb_exchange(&mut fresh_session(), &success));
    assert!(keliweb_exchange(&mut expiring_session(), &success));
    assert!(!keliweb_exchange(&mut fresh_session(), &invalid_grant));
    let oauth2_password = || {
        oauth2
            .exchange_password(&username, &password)
            .request(&answer_success)
    };
    let oauth2_refresh = || {
        oauth2
            .exchange_refresh_token(&refresh)
            .request(&answer_success)
    };
    let oauth2_error = || {
        oauth2
            .exchange_password(&username, &password)
            .request(&answer_error)
    };
    assert!(oauth2_password().is_ok());
    assert!(oauth2_refresh().is_ok());
    assert!(oauth2_error().is_err());

    let mut group = c.benchmark_group("exchange");
    let cases: [Case<'_>; 3] = [
        ("password", fresh_session, &success),
        ("refresh", expiring_session, &success),
        ("error", fresh_session, &invalid_grant),
    ];
    for (name, setup, canned) in cases {
        group.bench_function(format!("{name}/keliweb"), |b| {
            b.iter_batched_ref(
                setup,
                |session| keliweb_exchange(session, canned),
                BatchSize::SmallInput,
            );
        });
        let oauth2_call: &dyn Fn() -> bool = match name {
            "password" => &|| oauth2_password().is_ok(),
            "refresh" => &|| oauth2_refresh().is_ok(),
            _ => &|| oauth2_error().is_ok(),
        };
        group.bench_function(format!("{name}/oauth2"), |b| b.iter(oauth2_call));

        // Allocations per exchange (sessions are built before counting starts).
        let mut sessions: Vec<Session> = (0..CALLS).map(|_| setup()).collect();
        let before = common::allocations();
        for session in &mut sessions {
            black_box(keliweb_exchange(session, canned));
        }
        let after = common::allocations();
        drop(sessions);
        common::print_allocations(
            &format!("exchange/{name}/keliweb"),
            (after.0 - before.0) as f64 / CALLS as f64,
            (after.1 - before.1) as f64 / CALLS as f64,
        );
        common::report_allocations(&format!("exchange/{name}/oauth2"), CALLS as u64, || {
            black_box(oauth2_call());
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = exchange
}
criterion_main!(benches);
