//! What every benchmark binary shares: a counting global allocator, Criterion settings short
//! enough for the whole run to fit in a few minutes on two cores, and canned Keliweb data.
//!
//! Each bench file includes this with `mod common;` and uses only part of it.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::LazyLock;
use std::time::Duration;

use criterion::Criterion;

/// Counts allocations (and reallocations) made by the current thread, then defers to `System`.
/// Per-thread, so an in-process emulator or runtime thread does not pollute the count.
pub struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static ALLOCATED_BYTES: Cell<u64> = const { Cell::new(0) };
}

fn record(bytes: usize) {
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
    let _ = ALLOCATED_BYTES.try_with(|total| total.set(total.get() + bytes as u64));
}

// SAFETY: every call is forwarded unchanged to `System`; the counters are const-initialised
// thread-locals without destructors, so recording never allocates or re-enters the allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// `(allocations, bytes)` made by this thread so far.
pub fn allocations() -> (u64, u64) {
    (ALLOCATIONS.with(Cell::get), ALLOCATED_BYTES.with(Cell::get))
}

/// Heap allocations per call of `f` on this thread, averaged over `calls` calls.
/// Prints `ALLOCS\t<id>\t<allocations per call>\t<bytes per call>` for `benches/report.py`.
pub fn report_allocations(id: &str, calls: u64, mut f: impl FnMut()) {
    f(); // warm: one-time initialisation (a lazily promoted `Bytes`, a pool) is not per call
    let (count_before, bytes_before) = allocations();
    for _ in 0..calls {
        f();
    }
    let (count_after, bytes_after) = allocations();
    print_allocations(
        id,
        (count_after - count_before) as f64 / calls as f64,
        (bytes_after - bytes_before) as f64 / calls as f64,
    );
}

/// Prints an allocation result measured by the caller.
pub fn print_allocations(id: &str, per_call: f64, bytes_per_call: f64) {
    println!("ALLOCS\t{id}\t{per_call:.2}\t{bytes_per_call:.0}");
}

/// Short measurements: the whole suite reruns in a few minutes on a shared 2-core machine.
pub fn criterion() -> Criterion {
    // Beside every run, so a figure taken on a loaded machine says so.
    print_machine_load();
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .without_plots()
        .configure_from_args()
}

pub const CLIENT_ID: &str = "ea9ea94e-a0c2-4b87-9834-26b218ed26a0";
pub const CLIENT_SECRET: &str = "MoQSElJG5MoLkVhRJCJ7jdQZVwfbrtwKKepwOsXO";
pub const USERNAME: &str = "test@example.com";
pub const PASSWORD: &str = "xxxxxxx";
pub const TOKEN_URL: &str = "https://apiv2.keliweb.it/oauth/token";

/// A Passport-shaped RS256 JWT (the length of the emulator's and Keliweb's: ~720 bytes).
pub fn access_token(seed: u8) -> String {
    static TOKENS: LazyLock<Vec<String>> =
        LazyLock::new(|| (0..4).map(make_access_token).collect());
    TOKENS[usize::from(seed % 4)].clone()
}

fn make_access_token(seed: u8) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let part = |len: usize, salt: usize| -> String {
        (0..len)
            .map(|i| ALPHABET[(i * 7 + salt + usize::from(seed)) % 64] as char)
            .collect()
    };
    format!(
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.{}.{}",
        part(340, 3),
        part(342, 11)
    )
}

/// A Passport-shaped refresh token: `def50200` and hex.
pub fn refresh_token(seed: u8) -> String {
    static TOKENS: LazyLock<Vec<String>> =
        LazyLock::new(|| (0..4).map(make_refresh_token).collect());
    TOKENS[usize::from(seed % 4)].clone()
}

fn make_refresh_token(seed: u8) -> String {
    let hex: String = (0..256)
        .map(|i| char::from(b"0123456789abcdef"[(i * 5 + usize::from(seed)) % 16]))
        .collect();
    format!("def50200{hex}")
}

/// Keliweb's success body for a password or refresh grant.
pub fn success_body(seed: u8) -> Vec<u8> {
    format!(
        r#"{{"token_type":"Bearer","expires_in":3600,"access_token":"{}","refresh_token":"{}"}}"#,
        access_token(seed),
        refresh_token(seed)
    )
    .into_bytes()
}

/// Passport's answer to a wrong password (league/oauth2-server 8.x shape:
/// `docs/passport.md#token-endpoint-errors`).
pub const INVALID_GRANT_BODY: &str = r#"{"error":"invalid_grant","error_description":"The user credentials were incorrect.","message":"The user credentials were incorrect."}"#;

/// A canned token-endpoint response with Laravel's headers.
pub fn canned_response(status: u16, body: Vec<u8>) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store, private")
        .header("pragma", "no-cache")
        .body(body)
        .expect("a valid canned response")
}

/// A config for the canned Keliweb values (no request leaves the process).
pub fn keliweb_config() -> keliweb_oauth::Config {
    keliweb_oauth::Config::builder(TOKEN_URL, CLIENT_ID, CLIENT_SECRET)
        .credentials(USERNAME, PASSWORD)
        .build()
        .expect("a valid config")
}

/// A config for an emulator on loopback, with its default account.
pub fn emulator_config(emulator: &keliweb_emulator::Emulator) -> keliweb_oauth::Config {
    let defaults = keliweb_emulator::EmulatorConfig::default();
    keliweb_oauth::Config::builder(
        emulator.token_url(),
        &defaults.client_id,
        defaults.client_secret.as_str(),
    )
    .credentials(&defaults.username, defaults.password.as_str())
    .build()
    .expect("a valid config")
}

/// A blocking transport that answers every token request with the same canned response.
#[cfg(feature = "blocking")]
pub struct Canned(pub http::Response<Vec<u8>>);

#[cfg(feature = "blocking")]
impl keliweb_oauth::blocking::HttpClient for Canned {
    fn execute(
        &self,
        _request: http::Request<Vec<u8>>,
        _limits: keliweb_oauth::client::RequestLimits,
    ) -> Result<http::Response<Vec<u8>>, keliweb_oauth::error::TransportError> {
        Ok(self.0.clone())
    }
}

/// Prints the machine's load averages beside a run (Linux; nothing elsewhere): a loaded
/// machine slows both sides of a ratio, but not always alike.
pub fn print_machine_load() {
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let averages: Vec<&str> = load.split_whitespace().take(3).collect();
        println!("machine load (1, 5, 15 min): {}", averages.join(" "));
    }
}
