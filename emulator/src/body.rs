//! Response bodies that misbehave: one that breaks the connection after a first chunk, one that
//! streams a large filler.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// How long a [`BrokenBody`] waits after its chunk before failing, so the chunk is flushed to
/// the socket before hyper aborts the connection.
const FLUSH_PAUSE: Duration = Duration::from_millis(30);

/// Yields one chunk, pauses, then fails, which makes hyper abort the connection mid-response.
pub(crate) struct BrokenBody {
    chunk: Option<Bytes>,
    pause: Option<Pin<Box<Sleep>>>,
}

impl BrokenBody {
    /// A body that sends `chunk` and then breaks.
    pub(crate) fn new(chunk: Bytes) -> BrokenBody {
        BrokenBody {
            chunk: Some(chunk).filter(|c| !c.is_empty()),
            pause: None,
        }
    }
}

impl Body for BrokenBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(chunk) = self.chunk.take() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        let pause = self
            .pause
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(FLUSH_PAUSE)));
        match pause.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "keliweb-emulator: injected connection drop",
            )))),
        }
    }
}

/// Chunk size of [`FillBody`].
const FILL_CHUNK: usize = 64 * 1024;
static FILLER: [u8; FILL_CHUNK] = [b'x'; FILL_CHUNK];

/// Exactly `len` bytes: `{"data":"` + filler + `"}` (or only filler when shorter than 11 bytes),
/// produced chunk by chunk.
pub(crate) struct FillBody {
    prefix: Option<Bytes>,
    fill_left: usize,
    suffix: Option<Bytes>,
}

impl FillBody {
    /// A body of exactly `len` bytes.
    pub(crate) fn new(len: usize) -> FillBody {
        const PREFIX: &[u8] = br#"{"data":""#;
        const SUFFIX: &[u8] = br#""}"#;
        if len >= PREFIX.len() + SUFFIX.len() {
            FillBody {
                prefix: Some(Bytes::from_static(PREFIX)),
                fill_left: len - PREFIX.len() - SUFFIX.len(),
                suffix: Some(Bytes::from_static(SUFFIX)),
            }
        } else {
            FillBody {
                prefix: None,
                fill_left: len,
                suffix: None,
            }
        }
    }

    fn remaining(&self) -> usize {
        self.prefix.as_ref().map_or(0, Bytes::len)
            + self.fill_left
            + self.suffix.as_ref().map_or(0, Bytes::len)
    }
}

impl Body for FillBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(prefix) = self.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        if self.fill_left > 0 {
            let n = self.fill_left.min(FILL_CHUNK);
            self.fill_left -= n;
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&FILLER[..n])))));
        }
        Poll::Ready(self.suffix.take().map(|s| Ok(Frame::data(s))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining() as u64)
    }
}
