//! 2. One token exchange without IO: build the password-grant (or refresh-grant) request and
//!    consume a canned Keliweb response, success or error. Baseline in the same run: `oauth2` 5
//!    doing the same exchange through a closure transport returning the same canned response.
//!
//! Both sides get the canned response the same way a real transport hands it over: as an owned
//! clone (oauth2's closure must return one; keliweb's drivers own the response they feed in).
//!
//! The same work on both sides: oauth2's client is built once, and so is keliweb's config (each
//! session gets a clone, built before anything is counted). oauth2's count includes dropping
//! the token response it returns; keliweb's success cases start from a held set the answer
//! replaces, so each exchange drops (and wipes) one set too, the password grant's as the
//! refresh's.
//!
//! keliweb's success cases are measured two ways. `keliweb`: each exchange on a session of its
//! own, set up in batches outside the timing (Criterion's `iter_batched_ref`), so each one
//! starts from memory the batch's set-up left (cold, and fresh from the allocator).
//! `keliweb-steady`: like oauth2's client, one session used again and again, its clock moved on
//! before each exchange so that the same grant is due every time (a password grant once the
//! last refresh token has expired, a refresh once the last access token has).

mod common;

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::Response;
use keliweb_oauth::{
    Config, TokenSet, UnixTime,
    sans_io::{Action, RequestKind, Session},
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

/// A case: its name, how to set up a session for it from the shared config, and the canned
/// answer.
type Case<'a> = (&'static str, fn(&Config) -> Session, &'a Response<Vec<u8>>);
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

/// A session with no tokens: its next poll is a password grant (the error case: a refused
/// login leaves no set to drop).
fn fresh_session(config: &Config) -> Session {
    Session::new(config.clone())
}

/// A session whose access token is past its leeway and has no refresh token: its next poll is
/// a password grant, and the set it brings replaces (and wipes) the held one, as a refresh does.
fn relogin_session(config: &Config) -> Session {
    holding_expired_token(config, false)
}

/// A session whose access token is past its leeway and whose refresh token is live: its next
/// poll is a refresh grant.
fn expiring_session(config: &Config) -> Session {
    holding_expired_token(config, true)
}

/// A session holding an access token past its leeway, with a live refresh token or none.
fn holding_expired_token(config: &Config, refresh_token: bool) -> Session {
    let refresh = refresh_token.then(|| {
        (
            RefreshToken::new(common::refresh_token(1)),
            NOW.saturating_add(Duration::from_secs(86_400)),
        )
    });
    let tokens = TokenSet::new(
        AccessToken::new(common::access_token(1)),
        NOW.saturating_add(Duration::from_secs(30)),
        refresh,
    )
    .expect("a valid token set");
    Session::new(config.clone()).with_tokens(tokens)
}

/// One keliweb exchange: poll for the request, "send" it, hand the owned response back.
fn keliweb_exchange(session: &mut Session, canned: &Response<Vec<u8>>) -> bool {
    keliweb_exchange_at(session, canned, NOW).is_some()
}

/// [`keliweb_exchange`] at `now`: the kind of request sent, if the answer was taken.
fn keliweb_exchange_at(
    session: &mut Session,
    canned: &Response<Vec<u8>>,
    now: UnixTime,
) -> Option<RequestKind> {
    // A steady session announces its last set first (`Store`): a driver without a store
    // polls on.
    let outgoing = loop {
        match session.poll(now) {
            Action::Send(outgoing) => break outgoing,
            Action::Store => {}
            other => panic!("expected a token request, got {other:?}"),
        }
    };
    let kind = outgoing.kind();
    let (id, request) = outgoing.into_parts();
    drop(black_box(request));
    let response = canned.clone();
    session
        .handle_response(id, now, &response)
        .ok()
        .map(|()| kind)
}

/// How far a steady session's clock moves before each exchange: past the refresh token's
/// lifetime for a password grant, past the access token's (an hour) but not the refresh
/// token's for a refresh.
fn steady_step(grant: RequestKind) -> Duration {
    match grant {
        RequestKind::RefreshGrant => Duration::from_secs(2 * 3600),
        _ => Config::DEFAULT_REFRESH_TOKEN_LIFETIME + Duration::from_secs(3600),
    }
}

/// How many exchanges a profile run makes.
const EXCHANGES: usize = 20_000;

/// Every keliweb exchange of a profile run: what is counted (`keliweb_rounds` inclusive).
#[inline(never)]
fn keliweb_rounds(sessions: &mut [Session], canned: &Response<Vec<u8>>) {
    for session in sessions {
        black_box(keliweb_exchange(session, canned));
    }
}

/// Every oauth2 exchange of a profile run: what is counted (`oauth2_rounds` inclusive).
#[inline(never)]
fn oauth2_rounds(exchange: &dyn Fn() -> bool) {
    for _ in 0..EXCHANGES {
        black_box(exchange());
    }
}

/// `EXCHANGE_PROFILE=password|refresh|error` runs only that keliweb exchange, 20,000 times,
/// for a profiler; `oauth2-password|oauth2-refresh|oauth2-error` runs oauth2's. Each side's
/// exchanges are in one function (`keliweb_rounds`, `oauth2_rounds`), so its inclusive count
/// divided by 20,000 is the instructions per exchange, set-up left out alike on both sides:
/// `bash benches/profile.sh` prints them for the six cases. Prints the allocations per
/// exchange too (`ALLOCS` lines), and those of the transport's owned copy of the response
/// alone (`exchange-profile/response`: the same on both sides), so that they can be told apart.
fn profile(case: &str) {
    let (side, grant) = match case.strip_prefix("oauth2-") {
        Some(grant) => ("oauth2", grant),
        None => ("keliweb", case),
    };
    let canned = match grant {
        "error" => common::canned_response(400, common::INVALID_GRANT_BODY.into()),
        _ => common::canned_response(200, common::success_body(2)),
    };
    common::report_allocations("exchange-profile/response", EXCHANGES as u64, || {
        drop(black_box(canned.clone()));
    });
    if side == "oauth2" {
        let oauth2 = oauth2_client();
        let username = ResourceOwnerUsername::new(USERNAME.to_owned());
        let password = ResourceOwnerPassword::new(PASSWORD.to_owned());
        let refresh = oauth2::RefreshToken::new(common::refresh_token(1));
        let transport = |request: oauth2::HttpRequest| -> Result<oauth2::HttpResponse, Infallible> {
            drop(black_box(request));
            Ok(canned.clone())
        };
        let password_grant = || {
            oauth2
                .exchange_password(&username, &password)
                .request(&transport)
                .is_ok()
        };
        let refresh_grant = || {
            oauth2
                .exchange_refresh_token(&refresh)
                .request(&transport)
                .is_ok()
        };
        let exchange: &dyn Fn() -> bool = if grant == "refresh" {
            &refresh_grant
        } else {
            &password_grant
        };
        let before = common::allocations();
        oauth2_rounds(exchange);
        print_profile_allocations(case, before);
        return;
    }
    let setup = match grant {
        "refresh" => expiring_session,
        "error" => fresh_session,
        _ => relogin_session,
    };
    let config = common::keliweb_config();
    let mut sessions: Vec<Session> = (0..EXCHANGES).map(|_| setup(&config)).collect();
    let before = common::allocations();
    keliweb_rounds(&mut sessions, &canned);
    print_profile_allocations(case, before);
}

fn print_profile_allocations(case: &str, before: (u64, u64)) {
    let after = common::allocations();
    common::print_allocations(
        &format!("exchange-profile/{case}"),
        (after.0 - before.0) as f64 / EXCHANGES as f64,
        (after.1 - before.1) as f64 / EXCHANGES as f64,
    );
}

fn exchange(c: &mut Criterion) {
    if let Ok(case) = std::env::var("EXCHANGE_PROFILE") {
        profile(&case);
        return;
    }
    let config = common::keliweb_config();
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
    assert!(keliweb_exchange(&mut relogin_session(&config), &success));
    assert!(keliweb_exchange(&mut expiring_session(&config), &success));
    assert!(!keliweb_exchange(
        &mut fresh_session(&config),
        &invalid_grant
    ));
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
        ("password", relogin_session, &success),
        ("refresh", expiring_session, &success),
        ("error", fresh_session, &invalid_grant),
    ];
    for (name, setup, canned) in cases {
        group.bench_function(format!("{name}/keliweb"), |b| {
            b.iter_batched_ref(
                || setup(&config),
                |session| keliweb_exchange(session, canned),
                BatchSize::SmallInput,
            );
        });
        let steady_grant = match name {
            "password" => Some(RequestKind::PasswordGrant),
            "refresh" => Some(RequestKind::RefreshGrant),
            _ => None, // a refused login stops its session: no steady state
        };
        if let Some(grant) = steady_grant {
            let mut session = setup(&config);
            let mut now = NOW;
            let step = steady_step(grant);
            // Sanity: every exchange sends the same grant and takes its answer.
            for _ in 0..3 {
                now = now.saturating_add(step);
                assert_eq!(keliweb_exchange_at(&mut session, canned, now), Some(grant));
            }
            group.bench_function(format!("{name}/keliweb-steady"), |b| {
                b.iter(|| {
                    now = now.saturating_add(step);
                    keliweb_exchange_at(&mut session, canned, now)
                });
            });
        }
        let oauth2_call: &dyn Fn() -> bool = match name {
            "password" => &|| oauth2_password().is_ok(),
            "refresh" => &|| oauth2_refresh().is_ok(),
            _ => &|| oauth2_error().is_ok(),
        };
        group.bench_function(format!("{name}/oauth2"), |b| b.iter(oauth2_call));

        // Allocations per exchange (sessions are built before counting starts).
        let mut sessions: Vec<Session> = (0..CALLS).map(|_| setup(&config)).collect();
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
