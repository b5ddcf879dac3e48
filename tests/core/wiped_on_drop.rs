//! Secrets are wiped from memory when dropped: a global allocator scans every block as it is
//! freed for a canary that every secret in this test carries.
//!
//! This allocator is the core room's (one global allocator per binary); with the clients' room's
//! counting one (`no_allocations`), it is the project's only `unsafe` outside benches: a
//! `GlobalAlloc` cannot be written without it. It forwards to the system allocator and only
//! reads the block being freed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use http::Response;
use keliweb_oauth::{
    Config, TokenSet, UnixTime,
    sans_io::{Action, Session},
    secret::{AccessToken, ClientSecret, Password, RefreshToken},
};
use zeroize::{Zeroize, Zeroizing};

use crate::support;

const CANARY: &[u8] = b"Wq7canary";
/// The canary as an `Authorization: Basic` header carries it: part of the base64 of
/// `client-id:secret-Wq7canary` (the test using it checks the header holds it).
const BASIC_CANARY: &[u8] = b"XcTdjYW5hcnk";

struct ScanningAllocator;

static SCANNING: AtomicBool = AtomicBool::new(false);
static FREED_WITH_CANARY: AtomicUsize = AtomicUsize::new(0);
/// Tests share the allocator's counters: one scan at a time.
static ONE_SCAN: Mutex<()> = Mutex::new(());

// SAFETY: every call forwards to `System` with the caller's arguments; `dealloc` additionally
// reads the block it is handed, which is still allocated and `layout.size()` bytes long.
unsafe impl GlobalAlloc for ScanningAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if SCANNING.load(Ordering::Relaxed) && layout.size() >= CANARY.len() {
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            if holds(block, CANARY) || holds(block, BASIC_CANARY) {
                FREED_WITH_CANARY.fetch_add(1, Ordering::Relaxed);
            }
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: ScanningAllocator = ScanningAllocator;

fn holds(block: &[u8], canary: &[u8]) -> bool {
    block.windows(canary.len()).any(|window| window == canary)
}

/// Runs `work` with scanning on and returns how many freed blocks still held the canary.
fn blocks_freed_with_canary(work: impl FnOnce()) -> usize {
    blocks_freed_with_canary_given(|| (), |()| work())
}

/// [`blocks_freed_with_canary`] for work on inputs that hold the canary themselves: they are
/// made and dropped under the same lock with scanning off, so that the blocks their making and
/// dropping frees are counted by no test (another test scanning meanwhile would count them).
fn blocks_freed_with_canary_given<T>(make: impl FnOnce() -> T, work: impl FnOnce(&T)) -> usize {
    let _one = ONE_SCAN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let inputs = make();
    FREED_WITH_CANARY.store(0, Ordering::SeqCst);
    SCANNING.store(true, Ordering::SeqCst);
    work(&inputs);
    SCANNING.store(false, Ordering::SeqCst);
    let found = FREED_WITH_CANARY.load(Ordering::SeqCst);
    drop(inputs);
    found
}

const NOW: UnixTime = support::T0;

#[test]
fn the_scanner_sees_an_unwiped_string() {
    for text in [
        "plain Wq7canary text",
        "Basic Y2xpZW50LWlkOnNlY3JldC1XcTdjYW5hcnk=",
    ] {
        let found = blocks_freed_with_canary(|| {
            drop(String::from(text));
            // The block just freed holds the canary: taken back at once (the allocator hands
            // the last freed block of a size out first) and zeroed, so that no later test's
            // allocation gets it with the canary still in it.
            #[allow(
                clippy::slow_vector_initialization,
                reason = "vec![0; n] allocates zeroed memory, which does not take the freed block back"
            )]
            let mut zeroes = Vec::<u8>::with_capacity(text.len());
            zeroes.resize(text.len(), 0);
            drop(zeroes);
        });
        assert_eq!(found, 1, "the scanner must catch {text:?} freed as it is");
    }
}

#[test]
fn secret_types_are_wiped() {
    let found = blocks_freed_with_canary(|| {
        drop(ClientSecret::new("secret-Wq7canary"));
        drop(Password::new(String::from("password-Wq7canary")));
        drop(AccessToken::from("access-Wq7canary"));
        let refresh = RefreshToken::new("refresh-Wq7canary");
        drop(refresh.clone());
        drop(refresh);
    });
    assert_eq!(found, 0);
}

#[test]
fn token_sets_and_their_stored_form_are_wiped() {
    let found = blocks_freed_with_canary(|| {
        let expires = NOW.saturating_add(Duration::from_secs(60));
        let set = TokenSet::new(
            AccessToken::new("access-Wq7canary"),
            expires,
            Some((RefreshToken::new("refresh-Wq7canary"), expires)),
        )
        .expect("valid tokens");
        // Sized up front: a growing buffer would leave copies in the blocks it outgrew.
        let mut json = Vec::with_capacity(4096);
        serde_json::to_writer(&mut json, &set).expect("serializable");
        let restored: TokenSet = serde_json::from_slice(&json).expect("deserializable");
        json.zeroize();
        drop((set, restored));
    });
    assert_eq!(found, 0);
}

#[test]
fn a_whole_session_lifecycle_leaves_no_secret_behind() {
    let found = blocks_freed_with_canary(|| {
        let config = Config::keliweb("client-id", "secret-Wq7canary")
            .credentials("user@example.com", "password-Wq7canary")
            .revoke_rfc7009("https://apiv2.keliweb.it/oauth/revoke")
            .build()
            .expect("valid config");
        let mut session = Session::new(config);
        let success = Response::new(
            &br#"{"token_type":"Bearer","expires_in":3600,"access_token":"access-Wq7canary","refresh_token":"refresh-Wq7canary"}"#[..],
        );
        let echo = Response::builder()
            .status(500)
            .body(&b"password=password-Wq7canary&client_secret=secret-Wq7canary"[..])
            .expect("valid response");

        // A failed login whose error body echoes the secrets, then a successful one.
        let (id, mut request) = send(&mut session, NOW);
        request.body_mut().zeroize();
        let error = session.handle_response(id, NOW, &echo).expect_err("a 500");
        drop(error);
        let later = NOW.saturating_add(Duration::from_secs(5));
        let (id, mut request) = send(&mut session, later);
        request.body_mut().zeroize();
        assert_eq!(session.handle_response(id, later, &success), Ok(()));

        // Authorized API calls clone the header; revocation hands out bodies with the tokens.
        let mut call = http::Request::get("https://apiv2.keliweb.it/api/user")
            .body(())
            .expect("request");
        session.authorize(later, &mut call).expect("a usable token");
        drop(call);
        for outgoing in support::revoke(&mut session, later) {
            let (_, mut request) = outgoing.into_parts();
            request.body_mut().zeroize();
        }
        drop(session);
    });
    assert_eq!(found, 0);
}

/// Buffers are wiped in blocks (`src/wipe.rs`): a canary in every 64-byte block of a body's
/// token buffer is wiped, and so is one at the end of 64 token sets' buffers, one for each
/// length modulo 64 (so in a last partial block of every size).
#[test]
fn long_tokens_are_wiped_to_their_last_byte() {
    // Every text holding the canary is written into a buffer of its final size and wiped when
    // dropped: a block freed with the canary in it, even outside any scan, is memory a later
    // allocation may take without overwriting it all, and free during another test's scan.
    let make = || {
        let text = |capacity: usize, parts: &[&str]| {
            let mut text = Zeroizing::new(String::with_capacity(capacity));
            parts.iter().for_each(|part| text.push_str(part));
            text
        };
        let mut access = Zeroizing::new(String::with_capacity(12 * 60));
        for part in 0..12 {
            access.push_str("Wq7canary-pad-");
            (0..part * 3).for_each(|_| access.push('x'));
        }
        // The refresh token's run of canaries is written piece by piece: a `repeat` would make
        // a string of them that is freed unwiped.
        let refresh = ["Wq7canary-refresh-"; 8];
        let body = text(
            access.len() + 512,
            &[
                &[
                    r#"{"token_type":"Bearer","expires_in":3600,"access_token":""#,
                    &access,
                    r#"","refresh_token":""#,
                ][..],
                &refresh,
                &[r#"\/Wq7canary-end"}"#],
            ]
            .concat(),
        );
        let tokens: Vec<AccessToken> = (0..64)
            .map(|extra| {
                let mut token = String::with_capacity(access.len() + extra + 9);
                token.push_str(&access);
                (0..extra).for_each(|_| token.push('z'));
                token.push_str("Wq7canary");
                AccessToken::new(token)
            })
            .collect();
        (access.len(), body, tokens)
    };
    let mut access_len = 0;
    let found = blocks_freed_with_canary_given(make, |(len, body, tokens)| {
        access_len = *len;
        let expires = NOW.saturating_add(Duration::from_secs(60));
        for token in tokens {
            let set = TokenSet::new(token.clone(), expires, None).expect("valid");
            drop(set);
        }
        answer_and_drop("password", true, 200, body.as_bytes());
    });
    assert!(access_len > 4 * 64, "{access_len} bytes");
    assert_eq!(found, 0);
}

/// A refresh token shares the buffer of the access token it came with, and a header handed out
/// keeps that buffer: whether the session keeps a refresh token a refresh answer did not
/// replace (a copy), replaces it (a refused answer that still rotated it) or forgets it (refused
/// by the server), no buffer is freed unwiped, whether the headers or the session drop first.
/// (When it is freed, the last slice's drop, is `bytes::Bytes`' to keep; the copy a kept token
/// makes so as not to keep the old buffer is counted in `tests/clients/no_allocations.rs`.)
#[test]
fn refresh_tokens_kept_replaced_or_forgotten_are_wiped_with_their_buffers() {
    for headers_dropped_first in [false, true] {
        let found = blocks_freed_with_canary(|| {
            let config = Config::keliweb("client-id", "client-secret")
                .credentials("user@example.com", "password")
                .build()
                .expect("valid config");
            let mut session = Session::new(config).with_tokens(support::expired_at_t0(
                "access-Wq7canary-0",
                "refresh-Wq7canary-0",
            ));
            // (seconds after NOW, the refresh token the request sends, status, answer, usable)
            let answers: [(u64, &str, u16, &[u8], bool); 4] = [
                // Both tokens: one buffer, which the header handed out below keeps.
                (
                    0,
                    "refresh-Wq7canary-0",
                    200,
                    br#"{"access_token":"access-Wq7canary-1","refresh_token":"refresh-Wq7canary-1","expires_in":300}"#,
                    true,
                ),
                // No refresh token: the one held is kept, copied out of that buffer.
                (
                    400,
                    "refresh-Wq7canary-1",
                    200,
                    br#"{"access_token":"access-Wq7canary-2","expires_in":300}"#,
                    true,
                ),
                // Refused for its token type, but the old refresh token is retired: this one
                // replaces it.
                (
                    800,
                    "refresh-Wq7canary-1",
                    200,
                    br#"{"token_type":"MAC","access_token":"access-Wq7canary-3","refresh_token":"refresh-Wq7canary-3"}"#,
                    false,
                ),
                // The refresh token is refused: forgotten.
                (
                    1800,
                    "refresh-Wq7canary-3",
                    400,
                    br#"{"error":"invalid_grant"}"#,
                    false,
                ),
            ];
            let mut headers = Vec::new();
            for (after, refresh_token, status, body, usable) in answers {
                let now = NOW.saturating_add(Duration::from_secs(after));
                let (id, mut request) = send(&mut session, now);
                let refresh_sent = String::from_utf8_lossy(request.body()).contains(refresh_token);
                request.body_mut().zeroize();
                assert!(refresh_sent, "{refresh_token} was sent after {after} s");
                let response = Response::builder()
                    .status(status)
                    .body(body)
                    .expect("valid response");
                let result = session.handle_response(id, now, &response);
                assert_eq!(result.is_ok(), usable, "after {after} s: {result:?}");
                let mut call = http::Request::get("https://apiv2.keliweb.it/api/user")
                    .body(())
                    .expect("request");
                if usable {
                    session.authorize(now, &mut call).expect("a usable token");
                    headers.push(call);
                }
            }
            assert_eq!(headers.len(), 2);
            let held = session.tokens().map(TokenSet::refresh_token);
            assert!(
                matches!(held, Some(None)),
                "the refused refresh token is gone"
            );
            if headers_dropped_first {
                drop(headers);
                drop(session);
            } else {
                drop(session);
                drop(headers);
            }
        });
        assert_eq!(found, 0, "headers dropped first: {headers_dropped_first}");
    }
}

/// With `client_secret_basic`, the `Authorization: Basic` value is built once per config into a
/// buffer that every request's header map shares, wiped when the last of them drops.
#[test]
fn the_basic_header_is_wiped() {
    let found = blocks_freed_with_canary(|| {
        let config = Config::keliweb("client-id", "secret-Wq7canary")
            .credentials("user@example.com", "password")
            .client_secret_basic()
            .build()
            .expect("valid config");
        let mut session = Session::new(config);
        let (_, mut request) = send(&mut session, NOW);
        let sent = request
            .headers()
            .get("authorization")
            .map(|value| value.as_bytes());
        assert!(
            sent.is_some_and(|header| holds(header, BASIC_CANARY)),
            "{sent:?}"
        );
        request.body_mut().zeroize();
        drop((request, session));
    });
    assert_eq!(found, 0);
}

fn send(
    session: &mut Session,
    now: UnixTime,
) -> (keliweb_oauth::sans_io::RequestId, http::Request<Vec<u8>>) {
    match support::poll(session, now) {
        Action::Send(outgoing) => outgoing.into_parts(),
        other => panic!("expected a request, got {other:?}"),
    }
}

/// A session whose refresh (or, without tokens, login) is in flight, and the request's id.
fn awaiting_answer(
    password: &str,
    with_tokens: bool,
) -> (Session, keliweb_oauth::sans_io::RequestId) {
    let config = Config::keliweb("client-id", "client-secret")
        .credentials("user@example.com", password)
        .build()
        .expect("valid config");
    let mut session = Session::new(config);
    if with_tokens {
        session = session.with_tokens(support::expired_at_t0("old-access", "old-refresh"));
    }
    let (id, mut request) = send(&mut session, NOW);
    request.body_mut().zeroize();
    (session, id)
}

/// Feeds `body` with `status` to a session awaiting an answer, then drops everything.
fn answer_and_drop(password: &str, with_tokens: bool, status: u16, body: &[u8]) {
    let (mut session, id) = awaiting_answer(password, with_tokens);
    let response = Response::builder()
        .status(status)
        .body(body)
        .expect("valid response");
    let result = session.handle_response(id, NOW, &response);
    drop(result);
    drop(session);
}

/// serde_json decodes an escaped string into a scratch buffer it never wipes: the tokens must
/// not pass through it. (Failed before the body was read with the crate's own unescaping.)
#[test]
fn escaped_tokens_of_a_success_are_wiped() {
    let found = blocks_freed_with_canary(|| {
        answer_and_drop(
            "password",
            true,
            200,
            br#"{"token_type":"Bearer","expires_in":3600,"access_token":"access-Wq7canary\/1","refresh_token":"refresh-Wq7can\u0061ry-\u00e4"}"#,
        );
    });
    assert_eq!(found, 0);
}

/// The one pass that checks a body and finds its members keeps nothing of what it passes: not
/// the escaped keys it decodes to compare (`access\u005f…`), not the containers it counts past
/// 128 levels, and not the fields it decoded before the body turned out not to be JSON.
#[test]
fn the_scan_of_a_body_leaves_no_copy_behind() {
    const FIELDS: &str = r#""token_type":"Bearer","expires_in":3600,"access_token":"access-Wq7c\u0061nary","refresh_token":"refresh-Wq7canary\/1","\u0061ccess-Wq7canary":"x""#;
    // Written into one block that is never freed: a temporary freed unwiped before the scan
    // would leave the canary in memory a block of the scan may reuse.
    let body = |start: &str, end: &str| -> &'static [u8] {
        let mut body = String::with_capacity(16 * 1024);
        body.push_str(start);
        body.push_str(FIELDS);
        body.push_str(r#","deep":"#);
        for _ in 0..300 {
            body.push_str(r#"[{"x-Wq7canary":"#);
        }
        body.push_str(r#""Wq7canary\u0021""#);
        for _ in 0..300 {
            body.push_str("}]");
        }
        body.push_str(end);
        body.leak().as_bytes()
    };
    let late_refusal = body("{", r#","expires_in":}"#);
    let valid = body("{", "}");
    let refused = body(r#"{"error":"invalid_grant","#, "}");
    let found = blocks_freed_with_canary(|| {
        for with_tokens in [false, true] {
            answer_and_drop("password", with_tokens, 200, late_refusal);
            answer_and_drop("password", with_tokens, 200, valid);
            answer_and_drop("password", with_tokens, 400, refused);
        }
    });
    assert_eq!(found, 0);
}

/// The owned copies of `error_description`, `hint` and `message` echoing the password, escaped
/// three ways, are wiped, and the error keeps none of it.
#[test]
fn escaped_error_fields_echoing_a_secret_are_wiped() {
    let found = blocks_freed_with_canary(|| {
        answer_and_drop(
            "password-Wq7canary/\u{e4}",
            false,
            400,
            br#"{"error":"invalid_grant","error_description":"password-Wq7canary\/\u00e4 is wrong","hint":"password-Wq7canary&#47;&auml;","message":"password-Wq7canary%2F%C3%A4"}"#,
        );
    });
    assert_eq!(found, 0);
}

/// A token the refused answer issues and quotes into another field is scrubbed from the error
/// and every copy of it wiped.
#[test]
fn a_token_quoted_into_another_field_of_its_response_is_wiped() {
    let found = blocks_freed_with_canary(|| {
        answer_and_drop(
            "password",
            true,
            200,
            br#"{"access_token":"access-Wq7canary","refresh_token":"refresh-Wq7canary","expires_in":"refresh-Wq7canary"}"#,
        );
        answer_and_drop(
            "password",
            false,
            200,
            br#"{"token_type":"access-Wq7canary","access_token":"access-Wq7canary"}"#,
        );
    });
    assert_eq!(found, 0);
}

/// A body that is not UTF-8 is decoded lossily into a copy before scrubbing: that copy holds
/// the echoed password and is wiped.
#[test]
fn the_lossy_copy_of_a_body_echoing_a_secret_is_wiped() {
    let found = blocks_freed_with_canary(|| {
        answer_and_drop(
            "password-Wq7canary",
            false,
            500,
            b"\xff password=password-Wq7canary \xfe",
        );
    });
    assert_eq!(found, 0);
}

/// The same with many invalid bytes after the echo, each its own chunk: the lossy copy must
/// be sized for every replacement character up front, or it grows and frees a block holding
/// the password.
#[test]
fn the_lossy_copy_is_sized_for_every_replacement_character() {
    // Built at its final size and never freed: a block holding the canary freed here, even
    // outside this test's scan, would be counted by another test scanning at the same time.
    let echo = b"password-Wq7canary";
    let mut body = Vec::with_capacity(echo.len() + 64);
    body.extend_from_slice(echo);
    body.extend(std::iter::repeat_n(0xff_u8, 64));
    let body: &'static [u8] = Box::leak(body.into_boxed_slice());
    let found = blocks_freed_with_canary(|| {
        answer_and_drop("password-Wq7canary", false, 500, body);
    });
    assert_eq!(found, 0);
}
