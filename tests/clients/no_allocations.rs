//! The README's "while a token is valid, `authorization()` takes no lock and allocates nothing",
//! counted: a global allocator counts this thread's allocations around each call, with a
//! usable token and a request that already carries its headers (reused, as a caller reuses one).
//! And BENCHMARKS.md's allocations per token exchange, counted the same way.
#![allow(
    unsafe_code,
    reason = "a counting global allocator forwards to the system's"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use http::Request;
use std::time::Duration;

use keliweb_oauth::{
    Config, TokenSet, UnixTime,
    sans_io::{Action, Session},
    secret::{AccessToken, RefreshToken},
};

use crate::support::canned::TOKEN_BODY;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// How many allocations this thread made while running `f` 100 times, after one warm-up run.
fn allocations_of(mut f: impl FnMut()) -> u64 {
    f();
    let before = ALLOCATIONS.with(Cell::get);
    for _ in 0..100 {
        f();
    }
    ALLOCATIONS.with(Cell::get) - before
}

const API_URL: &str = "https://apiv2.keliweb.it/api/user";
const HOUR: Duration = Duration::from_secs(3600);

fn config() -> Config {
    Config::keliweb("client", "secret")
        .credentials("user@example.com", "password")
        .build()
        .expect("a valid config")
}

/// A request already carrying `Authorization` and Keliweb's default headers.
fn warm_request() -> Request<Vec<u8>> {
    let mut request = Request::get(API_URL).body(Vec::new()).expect("a request");
    for name in ["authorization", "accept", "x-requested-with", "user-agent"] {
        request
            .headers_mut()
            .insert(name, http::HeaderValue::from_static("x"));
    }
    request
}

/// The counter itself: a call that allocates is seen, so a zero below means none happened.
#[test]
fn the_counter_sees_allocations() {
    assert_eq!(
        allocations_of(|| drop(std::hint::black_box(vec![1u8]))),
        100
    );
    // A request without its headers yet: the header map allocates its storage.
    let session_less = allocations_of(|| {
        let mut request = Request::get(API_URL).body(()).expect("a request");
        request
            .headers_mut()
            .insert("authorization", http::HeaderValue::from_static("x"));
        drop(std::hint::black_box(request));
    });
    assert!(session_less >= 100, "{session_less}");
}

#[test]
fn session_authorize_allocates_nothing() {
    let now = UnixTime::from_secs(1_800_000_000);
    let mut session = Session::new(config());
    let Action::Send(login) = session.poll(now) else {
        panic!("expected a login")
    };
    let answer = http::Response::new(TOKEN_BODY.as_bytes().to_vec());
    session
        .handle_response(login.id(), now, &answer)
        .expect("the login");
    let mut request = warm_request();
    let calls = allocations_of(|| {
        session
            .authorize(now, &mut request)
            .expect("a usable token");
    });
    assert_eq!(calls, 0);
}

/// One token exchange on `session` at `at`, answered with `answer`: the allocations from the
/// poll that sends the request to the answer handled, and whether the request's body held
/// `sent`.
fn exchange(
    session: &mut Session,
    at: UnixTime,
    answer: &http::Response<&[u8]>,
    sent: &str,
) -> (u64, bool) {
    let before = ALLOCATIONS.with(Cell::get);
    let Action::Send(outgoing) = session.poll(at) else {
        panic!("expected a token request")
    };
    let (id, request) = outgoing.into_parts();
    let held = String::from_utf8_lossy(request.body()).contains(sent);
    drop(request);
    let result = session.handle_response(id, at, answer);
    let allocations = ALLOCATIONS.with(Cell::get) - before;
    assert_eq!(result, Ok(()));
    (allocations, held)
}

/// BENCHMARKS.md table 2: a successful exchange makes 5 allocations of the crate's own (8 with
/// the 3 of the transport's copy of the response, which this test does not make): the request's
/// body and its header map's two blocks, and one buffer for both new tokens with the block that
/// shares it between the token set and the headers made from it.
#[test]
fn a_successful_exchange_allocates_five_times() {
    let now = UnixTime::from_secs(1_800_000_000);
    let answer = http::Response::new(TOKEN_BODY.as_bytes());
    let held = [
        // A password grant replacing an expired set that has no refresh token.
        TokenSet::new(AccessToken::new("old.access"), now, None),
        // A refresh grant.
        TokenSet::new(
            AccessToken::new("old.access"),
            now,
            Some((RefreshToken::new("def50200old"), now.saturating_add(HOUR))),
        ),
    ];
    for (tokens, grant) in held.into_iter().zip(["password", "refresh_token"]) {
        let tokens = tokens.expect("valid tokens");
        let mut session = Session::new(config()).with_tokens(tokens);
        let (allocations, sent) = exchange(&mut session, now, &answer, grant);
        assert!(sent, "a {grant} grant was sent");
        assert_eq!(allocations, 5, "{grant}");
        let refreshed = session.tokens().and_then(TokenSet::refresh_token);
        assert_eq!(
            refreshed.as_ref().map(RefreshToken::expose_secret),
            Some("def50200aa")
        );
    }
}

/// BENCHMARKS.md table 2's note: a refresh answered without a refresh token keeps the one it
/// sent, copied out of the buffer it shared with the previous access token the first time (2
/// allocations more: the copy and its sharing block), so that it does not keep that token alive,
/// and shared as it is after that, alone in its buffer.
#[test]
fn a_kept_refresh_token_is_copied_out_once_then_shared() {
    let now = UnixTime::from_secs(1_800_000_000);
    let answer = http::Response::new(
        br#"{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ0.eyJ1.c2ln"}"#.as_slice(),
    );
    let tokens = TokenSet::new(
        AccessToken::new("old.access"),
        now,
        Some((
            RefreshToken::new("def50200old"),
            now.saturating_add(HOUR * 10),
        )),
    )
    .expect("valid tokens");
    let mut session = Session::new(config()).with_tokens(tokens);
    let mut allocations = Vec::new();
    for at in [now, now.saturating_add(HOUR)] {
        let (made, sent) = exchange(&mut session, at, &answer, "refresh_token=def50200old");
        allocations.push(made);
        assert!(sent, "the kept refresh token was sent");
        assert!(matches!(session.poll(at), Action::Store));
    }
    assert_eq!(allocations, [7, 5]);
    let kept = session.tokens().and_then(TokenSet::refresh_token);
    assert_eq!(
        kept.as_ref().map(RefreshToken::expose_secret),
        Some("def50200old")
    );
}

/// BENCHMARKS.md: cloning a token set copies neither token (both are slices of one shared
/// buffer); a set with a scope copies only the scope.
#[test]
fn cloning_a_token_set_copies_no_token() {
    let now = UnixTime::from_secs(1_800_000_000);
    let tokens = TokenSet::new(
        AccessToken::new("eyJ0.eyJ1.c2ln"),
        now.saturating_add(HOUR),
        Some((RefreshToken::new("def50200aa"), now.saturating_add(HOUR))),
    )
    .expect("valid tokens");
    assert_eq!(
        allocations_of(|| drop(std::hint::black_box(tokens.clone()))),
        0
    );
    // The counter sees a clone that copies: the same set with a scope copies it each time.
    let mut session = Session::new(config()).with_tokens(tokens);
    let Action::Send(outgoing) = session.poll(now.saturating_add(HOUR)) else {
        panic!("expected a refresh")
    };
    let answer = http::Response::new(
        br#"{"token_type":"Bearer","expires_in":3600,"access_token":"a.b.c","refresh_token":"r","scope":"api"}"#.as_slice(),
    );
    let at = now.saturating_add(HOUR);
    assert_eq!(session.handle_response(outgoing.id(), at, &answer), Ok(()));
    let scoped = session.tokens().cloned().expect("the refreshed set");
    assert_eq!(scoped.scope(), Some("api"));
    assert_eq!(
        allocations_of(|| drop(std::hint::black_box(scoped.clone()))),
        100
    );
}

#[cfg(feature = "blocking")]
mod blocking {
    use keliweb_oauth::blocking::Client;

    use super::{allocations_of, config, warm_request};
    use crate::support::canned::Canned;

    #[test]
    fn client_authorize_and_authorization_allocate_nothing() {
        let client = Client::new(config(), Canned);
        client.authorization().expect("the login");
        let mut request = warm_request();
        assert_eq!(
            allocations_of(|| {
                client.authorize(&mut request).expect("a usable token");
            }),
            0,
            "authorize"
        );
        assert_eq!(
            allocations_of(|| drop(client.authorization().expect("a usable token"))),
            0,
            "authorization"
        );
    }
}

#[cfg(feature = "nonblocking")]
mod nonblocking {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use keliweb_oauth::nonblocking::Client;

    use super::{allocations_of, config, warm_request};
    use crate::support::canned::Canned;

    /// Polls `future` once: a usable token is ready at once, with no waker, task or runtime.
    fn ready<T>(future: impl Future<Output = T>) -> T {
        match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(value) => value,
            Poll::Pending => panic!("not ready at once"),
        }
    }

    #[test]
    fn client_authorize_and_authorization_allocate_nothing() {
        let client = Client::new(config(), Canned);
        futures_executor::block_on(client.authorization()).expect("the login");
        let mut request = warm_request();
        assert_eq!(
            allocations_of(|| {
                ready(client.authorize(&mut request)).expect("a usable token");
            }),
            0,
            "authorize"
        );
        assert_eq!(
            allocations_of(|| drop(ready(client.authorization()).expect("a usable token"))),
            0,
            "authorization"
        );
    }
}
