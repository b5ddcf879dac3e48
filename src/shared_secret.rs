//! Secrets kept in a buffer that several values share as slices (`bytes::Bytes`): the
//! `Authorization` header of an access token and every clone of it, and a token set's refresh
//! token, which lives in the same buffer as the access token it came with. The buffer is wiped
//! when the last slice of it drops, and cloning a slice copies nothing.

use std::fmt;

use bytes::Bytes;

use crate::wipe;

/// `buffer` as shared bytes, wiped when the last slice of them drops.
pub(crate) fn wiped_when_dropped(buffer: Vec<u8>) -> Bytes {
    Bytes::from_owner(WipedOnDrop(buffer))
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
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SharedText(Bytes);

impl fmt::Debug for SharedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedText([redacted])")
    }
}

impl SharedText {
    /// The text in `bytes`; `None` if they are not UTF-8.
    pub(crate) fn new(bytes: Bytes) -> Option<Self> {
        std::str::from_utf8(&bytes).ok()?;
        Some(Self(bytes))
    }

    /// `text` in a buffer of its own: its bytes are moved there, not copied.
    pub(crate) fn from_string(text: String) -> Self {
        Self(wiped_when_dropped(text.into_bytes()))
    }

    pub(crate) fn as_str(&self) -> &str {
        // Checked by `new`; `from_string` takes a `String`.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_share_one_buffer_and_read_as_text() {
        let shared = wiped_when_dropped(b"Bearer access.tokenrefresh-token".to_vec());
        let refresh = SharedText::new(shared.slice(19..)).map(|text| text.as_str().to_owned());
        assert_eq!(refresh.as_deref(), Some("refresh-token"));
        // A slice points into the buffer: nothing was copied.
        let start = shared.as_ptr() as usize;
        assert_eq!(shared.slice(19..).as_ptr() as usize, start + 19);
        assert!(SharedText::new(Bytes::from_static(b"\xff")).is_none());
        let own = SharedText::from_string("def502".to_owned());
        assert_eq!(own.as_str(), "def502");
        assert!(!own.is_empty());
        assert!(SharedText::from_string(String::new()).is_empty());
        assert_eq!(format!("{own:?}"), "SharedText([redacted])");
    }
}
