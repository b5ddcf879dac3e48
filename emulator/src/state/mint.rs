//! Making token strings that look like Passport's.

use crate::rng::{Rng, base64url, hex};

/// `{"typ":"JWT","alg":"RS256"}`, base64url-encoded.
const JWT_HEADER: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9";

/// A JWT-looking access token: three base64url parts, with `aud`, `jti`, `iat`, `nbf`, `exp`,
/// `sub` and `scopes` claims and a random 256-byte "signature". `seq` makes it unique.
pub(crate) fn access_token(
    rng: &mut Rng,
    seq: u64,
    client_id: &str,
    now_unix: u64,
    lifetime_secs: u64,
) -> String {
    let jti = format!("{seq:016x}{}", hex(&rng.bytes(32)));
    let claims = serde_json::json!({
        "aud": client_id,
        "jti": jti,
        "iat": now_unix,
        "nbf": now_unix,
        "exp": now_unix + lifetime_secs,
        "sub": "1",
        "scopes": [],
    });
    let payload = base64url(claims.to_string().as_bytes());
    let signature = base64url(&rng.bytes(256));
    format!("{JWT_HEADER}.{payload}.{signature}")
}

/// A Passport-looking refresh token: `def50200` and random hex. `seq` makes it unique.
pub(crate) fn refresh_token(rng: &mut Rng, seq: u64) -> String {
    format!("def50200{}{seq:016x}", hex(&rng.bytes(120)))
}
