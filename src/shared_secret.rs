//! Secrets kept in a buffer that several values share as slices (`bytes::Bytes`): the
//! `Authorization` header of an access token and every clone of it, and the refresh token that
//! came in the same answer, decoded right after the access token into the same buffer. The
//! buffer is wiped when the last slice of it drops, and cloning a slice copies nothing.

use std::fmt;

use bytes::Bytes;

use crate::wipe;

/// `buffer` as shared bytes, wiped when the last slice of them drops.
pub(crate) fn wiped_when_dropped(buffer: Vec<u8>) -> Bytes {
    Bytes::from_owner(WipedOnDrop(buffer))
}

/// A token buffer (`Bearer <access token>` then the refresh token, either may be missing)
/// shared out as its two secrets: the header up to `header_end` and the refresh token from
/// `refresh_start` to the end, each a slice of the one buffer. Both offsets are within it.
pub(crate) fn split_tokens(
    buffer: Vec<u8>,
    header_end: Option<usize>,
    refresh_start: Option<usize>,
) -> (Option<Bytes>, Option<SharedText>) {
    let shared = wiped_when_dropped(buffer);
    let header = header_end.map(|end| shared.slice(..end));
    let refresh = refresh_start.map(|start| SharedText::new(shared.slice(start..)));
    (header, refresh)
}

/// Owns a shared buffer and zeroes it when the last slice of it is dropped.
struct WipedOnDrop(Vec<u8>);

impl AsRef<[u8]> for WipedOnDrop {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for WipedOnDrop {
    fn drop(&mut self) {
        wipe::bytes(&mut self.0);
    }
}

/// A secret text in a shared buffer that is wiped when its last slice drops.
#[derive(Clone)]
pub(crate) struct SharedText {
    bytes: Bytes,
    /// Whether the buffer holds this text alone (no access token beside it).
    alone: bool,
}

impl PartialEq for SharedText {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for SharedText {}

impl fmt::Debug for SharedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedText([redacted])")
    }
}

impl SharedText {
    /// The text in `bytes`, a slice of a buffer that may hold other secrets. The callers hand
    /// over text they decoded or copied from a `str` (UTF-8), so it is not checked again here;
    /// [`Self::as_str`] would show anything else as empty.
    pub(crate) fn new(bytes: Bytes) -> Self {
        Self {
            bytes,
            alone: false,
        }
    }

    /// `text` in a buffer of its own: its bytes are moved there, not copied.
    pub(crate) fn from_string(text: String) -> Self {
        Self {
            bytes: wiped_when_dropped(text.into_bytes()),
            alone: true,
        }
    }

    /// The same text, in a buffer that holds nothing else: this one shared when it is already
    /// alone in its buffer, a copy otherwise, so that keeping the text does not keep its
    /// neighbours alive.
    pub(crate) fn detached(&self) -> Self {
        if self.alone {
            self.clone()
        } else {
            Self::from_string(self.as_str().to_owned())
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes).unwrap_or_default()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_share_one_buffer_and_read_as_text() {
        let shared = wiped_when_dropped(b"Bearer access.tokenrefresh-token".to_vec());
        let refresh = SharedText::new(shared.slice(19..));
        assert_eq!(refresh.as_str(), "refresh-token");
        // A slice points into the buffer: nothing was copied.
        let start = shared.as_ptr() as usize;
        assert_eq!(shared.slice(19..).as_ptr() as usize, start + 19);
        assert_eq!(SharedText::new(Bytes::from_static(b"\xff")).as_str(), "");
        let own = SharedText::from_string("def502".to_owned());
        assert_eq!(own.as_str(), "def502");
        assert!(!own.is_empty());
        assert!(SharedText::from_string(String::new()).is_empty());
        // Detached: a slice is copied out of its buffer, a text alone in its buffer shared.
        let detached = refresh.detached();
        assert_ne!(detached.bytes.as_ptr() as usize, start + 19);
        assert!(detached == refresh);
        assert_eq!(own.detached().bytes.as_ptr(), own.bytes.as_ptr());
        assert_eq!(format!("{own:?}"), "SharedText([redacted])");
    }
}
