//! Transport errors a user can act on, from both shipped HTTP clients against 127.0.0.1: the
//! whole cause chain of a refused connection, a response head over the library's limits typed
//! as `HeaderTooLarge`, and never the URL's query or a token in a message.
#![cfg(any(feature = "ureq", feature = "reqwest"))]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;

use http::Request;
use keliweb_oauth::client::{Limits, RequestLimits};
use keliweb_oauth::error::{TransportError, TransportErrorKind};

const QUERY_SECRET: &str = "query-s3cret";
const TOKEN_SECRET: &str = "t0ken-s3cret";

/// A loopback port nothing listens on: bound, then released.
fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    listener.local_addr().expect("a local address")
}

/// An API call to `addr` with a secret in its query and its `Authorization` header.
fn api_request(addr: SocketAddr) -> Request<Vec<u8>> {
    Request::get(format!("http://{addr}/api/user?api_key={QUERY_SECRET}"))
        .header("authorization", format!("Bearer {TOKEN_SECRET}"))
        .body(Vec::new())
        .expect("a valid request")
}

fn limits() -> RequestLimits {
    Limits::default().api_request()
}

fn assert_no_secret(error: &TransportError) {
    for secret in [QUERY_SECRET, TOKEN_SECRET] {
        assert!(
            !error.to_string().contains(secret),
            "leaks {secret}: {error}"
        );
    }
}

/// A server on 127.0.0.1 that answers one request with `head` (a status line and headers,
/// without the blank line that ends them) and an empty body.
fn answer_once(head: String) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("a local address");
    #[allow(clippy::disallowed_methods)] // a plain server thread, outside the crate
    thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        // The request head ends with an empty line.
        while reader.read_line(&mut line).is_ok_and(|read| read > 2) {
            line.clear();
        }
        // The client hangs up once the head is over its limit: a failed write is expected.
        let _ = write!(reader.get_mut(), "{head}\r\ncontent-length: 0\r\n\r\n");
    });
    addr
}

/// One header line longer than ureq (64 KiB) and hyper (about 400 KiB) accept.
fn long_header() -> String {
    format!("HTTP/1.1 200 OK\r\nx-long: {}", "a".repeat(1024 * 1024))
}

/// More header lines than ureq (128) and hyper (100) accept.
fn many_headers() -> String {
    let lines: Vec<String> = (0..200).map(|n| format!("x-h{n}: {n}")).collect();
    format!("HTTP/1.1 200 OK\r\n{}", lines.join("\r\n"))
}

#[cfg(feature = "ureq")]
mod ureq {
    use keliweb_oauth::blocking::{HttpClient, UreqClient};

    use super::*;

    fn execute(client: &UreqClient, addr: SocketAddr) -> TransportError {
        client
            .execute(api_request(addr), limits())
            .expect_err("the request fails")
    }

    #[test]
    fn a_refused_connection_is_a_connect_error_without_secrets() {
        let error = execute(&UreqClient::default(), refused_addr());
        assert_eq!(error.kind(), TransportErrorKind::Connect, "{error}");
        assert!(error.message().contains("Connection refused"), "{error}");
        assert_no_secret(&error);
    }

    #[test]
    fn an_error_quoting_the_url_leaves_its_query_out() {
        // ureq quotes the whole URL when it refuses plain http.
        let client = UreqClient::with_config(|config| config.https_only(true));
        let error = execute(&client, refused_addr());
        assert!(error.message().contains("/api/user?[query]"), "{error}");
        assert_no_secret(&error);
    }

    #[test]
    fn a_header_too_long_is_header_too_large() {
        let error = execute(&UreqClient::default(), answer_once(long_header()));
        assert_eq!(error.kind(), TransportErrorKind::HeaderTooLarge, "{error}");
        assert!(error.message().contains("header is too big"), "{error}");
    }

    #[test]
    fn too_many_headers_is_header_too_large() {
        let error = execute(&UreqClient::default(), answer_once(many_headers()));
        assert_eq!(error.kind(), TransportErrorKind::HeaderTooLarge, "{error}");
    }
}

#[cfg(feature = "reqwest")]
mod reqwest {
    use keliweb_oauth::nonblocking::{AsyncHttpClient, Client, ReqwestClient};
    use keliweb_oauth::{Config, ErrorKind};

    use super::*;

    async fn execute(client: &ReqwestClient, addr: SocketAddr) -> TransportError {
        client
            .execute(api_request(addr), limits())
            .await
            .expect_err("the request fails")
    }

    #[tokio::test]
    async fn a_refused_connection_says_every_cause() {
        let error = execute(&ReqwestClient::default(), refused_addr()).await;
        assert_eq!(error.kind(), TransportErrorKind::Connect, "{error}");
        // reqwest's own message, then hyper's, then the connector's, then the OS's.
        let expected = "error sending request: client error (Connect): tcp connect error: ";
        assert!(error.message().starts_with(expected), "{error}");
        assert!(error.message().contains("Connection refused"), "{error}");
        assert_no_secret(&error);
    }

    #[tokio::test]
    async fn the_client_error_carries_the_cause_chain() {
        let token_url = format!("http://{}/oauth/token", refused_addr());
        let config = Config::builder(token_url, "id", "secret")
            .credentials("user", "password")
            .build()
            .expect("a valid config");
        let client = Client::new(config, ReqwestClient::default());
        let error = client.authorization().await.expect_err("nothing listens");
        assert_eq!(error.kind(), ErrorKind::Transport);
        assert!(error.to_string().contains("tcp connect error"), "{error}");
        assert!(error.to_string().contains("Connection refused"), "{error}");
    }

    #[tokio::test]
    async fn an_error_about_the_url_leaves_it_out() {
        let client = ReqwestClient::with_builder(|builder| builder.https_only(true));
        let error = execute(&client, refused_addr()).await;
        assert!(!error.message().contains("127.0.0.1"), "{error}");
        assert_no_secret(&error);
    }

    #[tokio::test]
    async fn a_header_too_long_is_header_too_large() {
        let error = execute(&ReqwestClient::default(), answer_once(long_header())).await;
        assert_eq!(error.kind(), TransportErrorKind::HeaderTooLarge, "{error}");
        assert!(error.message().contains("too large"), "{error}");
    }

    #[tokio::test]
    async fn too_many_headers_is_header_too_large() {
        let error = execute(&ReqwestClient::default(), answer_once(many_headers())).await;
        assert_eq!(error.kind(), TransportErrorKind::HeaderTooLarge, "{error}");
    }
}
