//! A store that panics while the client logs out must not leave the revoked token on the
//! lock-free path.
#![cfg(feature = "blocking")]

use std::panic::{AssertUnwindSafe, catch_unwind};

use http::{Request, Response};
use keliweb_oauth::blocking::{Client, HttpClient};
use keliweb_oauth::client::RequestLimits;
use keliweb_oauth::{Config, ErrorKind, TokenSet, TransportError};

/// Answers every token request with the same success; no socket involved.
struct Canned;

impl HttpClient for Canned {
    fn execute(
        &self,
        _request: Request<Vec<u8>>,
        _limits: RequestLimits,
    ) -> Result<Response<Vec<u8>>, TransportError> {
        let body = r#"{"token_type":"Bearer","expires_in":3600,"access_token":"a.b.c","refresh_token":"r1"}"#;
        Ok(Response::new(body.as_bytes().to_vec()))
    }
}

#[test]
fn a_panicking_store_on_logout_cannot_keep_the_revoked_token_in_use() {
    let config = Config::keliweb("client", "secret")
        .credentials("user@example.com", "password")
        .build()
        .expect("valid config");
    let client = Client::builder(config, Canned)
        .store(|tokens: Option<&TokenSet>| {
            assert!(tokens.is_some(), "the disk is full");
        })
        .build();
    client.authorization().expect("a login");

    let revoked = catch_unwind(AssertUnwindSafe(|| client.revoke()));
    assert!(revoked.is_err(), "the store panicked during the logout");

    let after = client.authorization().expect_err("logged out");
    assert_eq!(after.kind(), ErrorKind::LoginRequired);
}
