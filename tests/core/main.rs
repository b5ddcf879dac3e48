//! The core's room: the sans-IO session with plain values, no socket and no clock. Its phases,
//! login and expiry, refresh and rotation, the API `401` rule, revocation, the inputs of a shared
//! store; Passport's answers parsed strictly, tolerantly and under attack; errors and what they
//! carry; secrets that never show and are wiped on drop; the property tests and the test kit.
//!
//! One test binary, with the one support module of the rooms (`tests/support/`). `wiped_on_drop`
//! installs this binary's global allocator, which scans freed blocks only while one of its tests
//! runs. Proptest keeps the failures it finds in `tests/proptest-regressions/<module>.txt`, and
//! replays them first.

#[path = "../support/mod.rs"]
mod support;

mod api_unauthorized;
mod client_auth_and_scope;
mod downstream_test_kit;
mod error_details;
mod error_messages;
mod escaped_echoes;
mod fatal_responses;
mod force_refresh_and_login;
mod hostile_responses;
mod login_and_expiry;
mod no_secret_leaks;
mod persistence;
mod phases;
mod prop_form_encoding;
mod prop_no_panic;
mod prop_session_model;
mod refresh_rejected;
mod refusal_classification;
mod response_matching;
mod revocation;
mod shared_store_inputs;
mod strict_parsing;
mod tolerant_parsing;
mod transient_failures;
mod wiped_on_drop;
