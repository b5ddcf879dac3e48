//! What the proxy forwards, seen by an upstream of the test's own that records each request:
//! the token added, the agent's secret and hop-by-hop headers dropped both ways, a large body
//! streamed whole, a redirect passed back and not followed, a small body sent again after a
//! `401` with the next token and a chunked one's `401` passed back, an answer streamed as it
//! arrives, and a call in flight finished after SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::Agent;
use crate::Setup;

/// A request the upstream received: its head (lowercased) and its body's length.
type Seen = Arc<Mutex<Vec<(String, usize)>>>;

/// An upstream on a free loopback port; returns its origin.
fn recorder(seen: Seen) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let origin = format!("http://{}", listener.local_addr().expect("an address"));
    #[allow(
        clippy::disallowed_methods,
        reason = "a test's upstream server runs on a thread of its own"
    )]
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            let (head, length) = read_request(&mut reader);
            let redirect = head.starts_with("get /redirect");
            if head.starts_with("get /stream") {
                stream_in_two_parts(reader.get_mut());
                continue;
            }
            if head.starts_with("get /slow") {
                std::thread::sleep(std::time::Duration::from_secs(2));
            }
            let mut seen = seen.lock().expect("no panic");
            // The first request to each /retry… path is refused, as a revoked token would be.
            let line = head.lines().next().unwrap_or_default();
            let first_retry = line.starts_with("post /retry")
                && !seen
                    .iter()
                    .any(|(earlier, _)| earlier.lines().next() == Some(line));
            seen.push((head, length));
            drop(seen);
            let answer = if first_retry {
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_owned()
            } else if redirect {
                "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-Upstream: yes\r\nContent-Length: {}\r\n\r\n{length}",
                    length.to_string().len()
                )
            };
            let _ = reader.get_mut().write_all(answer.as_bytes());
        }
    });
    origin
}

/// Set by `an_answer_is_streamed_to_the_caller_as_it_arrives` once its caller has the first
/// part: the upstream sends the rest only then.
static SECOND_PART_RELEASED: AtomicBool = AtomicBool::new(false);

/// A chunked answer whose second part waits (20 s at most) until the caller got the first.
#[allow(
    clippy::disallowed_methods,
    reason = "a test's upstream waits in real time"
)]
fn stream_in_two_parts(stream: &mut std::net::TcpStream) {
    let first =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nfirst\r\n";
    if stream
        .write_all(first)
        .and_then(|()| stream.flush())
        .is_err()
    {
        return;
    }
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !SECOND_PART_RELEASED.load(Ordering::SeqCst) && std::time::Instant::now() < give_up {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = stream.write_all(b"4\r\nrest\r\n0\r\n\r\n");
}

/// The head, and the body's length (`Content-Length` or chunked).
fn read_request(reader: &mut impl BufRead) -> (String, usize) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line.to_ascii_lowercase());
    }
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map(|value| value.trim().parse().expect("a length"));
    if let Some(length) = length {
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("the body");
        return (head, length);
    }
    let mut total = 0;
    if head.contains("transfer-encoding: chunked") {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).expect("a chunk size");
            let size = usize::from_str_radix(size.trim(), 16).expect("hex");
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).expect("a chunk");
            total += size;
            if size == 0 {
                break;
            }
        }
    }
    (head, total)
}

fn send(socket: &std::path::Path, request: &[u8]) -> String {
    let mut stream = UnixStream::connect(socket).expect("connects");
    // A refusal may come before the whole request is written: read it all the same.
    let written = stream.write_all(request);
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    assert!(written.is_ok() || !answer.is_empty(), "{written:?}");
    answer
}

#[test]
fn the_proxy_forwards_only_what_belongs_to_the_api() {
    let setup = Setup::new();
    let (agent, socket, seen, _directory) = recorded_proxy(&setup);

    let answer = send(
        &socket,
        b"GET /api/thing?page=2 HTTP/1.1\r\nHost: keliweb\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 1\r\nTE: trailers\r\nX-Keliweb-Agent-Secret: not-for-the-api\r\nX-Kept: yes\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("x-upstream: yes"), "{answer}");
    assert!(
        !lower.contains("x-hop") && !lower.contains("keep-alive"),
        "hop-by-hop dropped: {answer}"
    );
    let (head, _) = seen.lock().expect("no panic")[0].clone();
    assert!(head.starts_with("get /api/thing?page=2 http/1.1"), "{head}");
    assert!(
        head.contains("authorization: bearer "),
        "the token added: {head}"
    );
    assert!(head.contains("x-kept: yes"), "{head}");
    for dropped in [
        "x-hop",
        "keep-alive",
        "te:",
        "x-keliweb-agent-secret",
        "not-for-the-api",
    ] {
        assert!(!head.contains(dropped), "{dropped} forwarded: {head}");
    }

    // 2 MiB, chunked: streamed through whole, not buffered for a retry.
    let mut upload = b"POST /api/upload HTTP/1.1\r\nHost: keliweb\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..32 {
        upload.extend_from_slice(b"10000\r\n");
        upload.extend(std::iter::repeat_n(b'x', 0x10000));
        upload.extend_from_slice(b"\r\n");
    }
    upload.extend_from_slice(b"0\r\n\r\n");
    let answer = send(&socket, &upload);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(&(2 << 20).to_string()), "{answer}");

    let answer = send(
        &socket,
        b"GET /redirect HTTP/1.1\r\nHost: keliweb\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 302"), "passed back: {answer}");
    assert!(answer.contains("http://127.0.0.1:1/elsewhere"), "{answer}");
    assert_eq!(
        seen.lock().expect("no panic").len(),
        3,
        "the redirect was not followed"
    );

    // A body with a Content-Length (up to 1 MiB) is kept: after the 401 it goes again, whole,
    // with the next token.
    let answer = send(
        &socket,
        b"POST /retry-small HTTP/1.1\r\nHost: keliweb\r\nConnection: close\r\nContent-Length: 10\r\n\r\n0123456789",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let tried: Vec<_> = seen.lock().expect("no panic")[3..].to_vec();
    assert_eq!(tried.len(), 2, "sent twice: {tried:?}");
    assert!(
        tried
            .iter()
            .all(|(head, length)| head.starts_with("post /retry-small") && *length == 10)
    );
    assert_ne!(bearer(&tried[0].0), bearer(&tried[1].0), "the next token");
    assert_eq!(agent.stop(), 0);
}

/// A chunked body is streamed, not kept: its `401` comes back, and the next call has the next
/// token. (A proxy of its own: after the retry above, a second refusal at once would be the
/// client's "refused again", which is not replaced.)
#[test]
fn a_chunked_bodys_401_is_passed_back_and_the_next_call_has_the_next_token() {
    let setup = Setup::new();
    let (agent, socket, seen, _directory) = recorded_proxy(&setup);
    let answer = send(
        &socket,
        b"POST /retry-chunked HTTP/1.1\r\nHost: keliweb\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let answer = send(
        &socket,
        b"GET /api/after HTTP/1.1\r\nHost: keliweb\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = seen.lock().expect("no panic").clone();
    assert_eq!(seen.len(), 2, "the chunked call sent once: {seen:?}");
    assert_ne!(bearer(&seen[0].0), bearer(&seen[1].0), "the next token");
    assert_eq!(agent.stop(), 0);
}

/// An answer is not buffered: the caller reads its first part while the upstream still holds
/// back the rest (which it sends only once the caller has the first).
#[test]
fn an_answer_is_streamed_to_the_caller_as_it_arrives() {
    let setup = Setup::new();
    let (agent, socket, _seen, _directory) = recorded_proxy(&setup);
    let mut stream = UnixStream::connect(&socket).expect("connects");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .expect("a timeout");
    stream
        .write_all(b"GET /stream HTTP/1.1\r\nHost: keliweb\r\nConnection: close\r\n\r\n")
        .expect("sent");
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    while !String::from_utf8_lossy(&received).contains("first") {
        match stream.read(&mut buffer) {
            Ok(0) => panic!(
                "closed before the first part: {:?}",
                String::from_utf8_lossy(&received)
            ),
            Ok(read) => received.extend_from_slice(&buffer[..read]),
            Err(error) => panic!("no first part while the upstream held the rest: {error}"),
        }
    }
    SECOND_PART_RELEASED.store(true, Ordering::SeqCst);
    stream.read_to_end(&mut received).expect("the rest");
    let answer = String::from_utf8_lossy(&received);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("rest"), "{answer}");
    assert_eq!(agent.stop(), 0);
}

/// The `Authorization` line of a recorded head.
fn bearer(head: &str) -> String {
    head.lines()
        .find(|line| line.starts_with("authorization: bearer "))
        .expect("a token")
        .to_owned()
}

/// SIGTERM while a proxied call waits on the API (2 s): the call gets its answer, then the
/// proxy exits 0.
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "a test's caller runs on a thread of its own, in real time"
)]
fn sigterm_lets_a_call_in_flight_finish() {
    let setup = Setup::new();
    let (agent, socket, _seen, _directory) = recorded_proxy(&setup);
    let caller_socket = socket.clone();
    let caller = std::thread::spawn(move || {
        send(
            &caller_socket,
            b"GET /slow HTTP/1.1\r\nHost: keliweb\r\nConnection: close\r\n\r\n",
        )
    });
    // Time for the call to reach the API, well within its 2 s there.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(!caller.is_finished(), "still waiting on the API");
    assert_eq!(agent.stop(), 0, "exits once the call is answered");
    let answer = caller.join().expect("no panic");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// A proxy to a new recorder, ready: the proxy, its socket, what the recorder sees, and the
/// directory the socket is in.
fn recorded_proxy(setup: &Setup) -> (Agent, std::path::PathBuf, Seen, tempfile::TempDir) {
    let seen = Seen::default();
    let upstream = &recorder(seen.clone());
    let directory = tempfile::tempdir().expect("a directory");
    let socket = directory.path().join("run").join("proxy.sock");
    let agent = Agent::start(
        setup,
        &[
            "proxy",
            "--upstream",
            upstream,
            "--api-origin",
            upstream,
            "--socket",
            socket.to_str().expect("UTF-8"),
        ],
        &socket,
        &directory.path().join("proxy.log"),
    );
    agent.wait_ready();
    (agent, socket, seen, directory)
}
