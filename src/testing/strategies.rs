//! [proptest](https://docs.rs/proptest) strategies for every answer a Passport token endpoint
//! gives: successes, refusals by Passport version, and transient failures with and without
//! `Retry-After`. Each yields a [`PassportAnswer`] (shrinks and prints well); call
//! [`PassportAnswer::response`] for the HTTP response.

use proptest::prelude::*;

use super::{PassportAnswer, PassportVersion};

/// Either Passport generation.
pub fn passport_version() -> impl Strategy<Value = PassportVersion> {
    prop_oneof![Just(PassportVersion::V8), Just(PassportVersion::V9)]
}

/// A `200` with tokens: `expires_in` as a number, a string, or absent; with or without a
/// refresh token.
pub fn tokens() -> impl Strategy<Value = PassportAnswer> {
    (
        any::<u16>(),
        proptest::option::weighted(0.9, 60_u32..=7 * 24 * 3600),
        any::<bool>(),
        proptest::bool::weighted(0.9),
    )
        .prop_map(
            |(number, expires_in, quoted, with_refresh_token)| PassportAnswer::Tokens {
                number,
                expires_in,
                quoted,
                with_refresh_token,
            },
        )
}

/// A refusal no retry fixes, in either version's shape: a dead refresh token, wrong
/// credentials, a wrong client, a missing parameter.
pub fn refusal() -> impl Strategy<Value = PassportAnswer> {
    passport_version().prop_flat_map(|version| {
        prop_oneof![
            Just(PassportAnswer::DeadRefreshToken(version)),
            Just(PassportAnswer::InvalidCredentials(version)),
            Just(PassportAnswer::InvalidClient(version)),
            Just(PassportAnswer::MissingParameter(version)),
        ]
    })
}

/// A failure worth retrying later: `429`, `500`, a proxy's `502`, `503`, each with and without
/// `Retry-After` where the server sends one.
pub fn transient() -> impl Strategy<Value = PassportAnswer> {
    let retry_after = proptest::option::of(0_u16..=120);
    prop_oneof![
        retry_after
            .clone()
            .prop_map(|retry_after| PassportAnswer::TooManyAttempts { retry_after }),
        Just(PassportAnswer::ServerError),
        Just(PassportAnswer::BadGateway),
        retry_after.prop_map(|retry_after| PassportAnswer::Unavailable { retry_after }),
    ]
}

/// Any answer: mostly tokens, then refusals, transient failures and a login page.
pub fn answer() -> impl Strategy<Value = PassportAnswer> {
    prop_oneof![
        4 => tokens(),
        2 => refusal(),
        2 => transient(),
        1 => Just(PassportAnswer::LoginPage),
    ]
}
