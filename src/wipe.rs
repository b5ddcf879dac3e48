//! Wiping a buffer before its memory goes back to the allocator, in bulk.
//!
//! `zeroize` wipes a `String` or a `Vec<u8>` one volatile store per byte (its `Vec` impl
//! zeroizes element by element: ~2 instructions a byte, a few thousand per token set), but a
//! byte slice or its spare capacity in bulk: a plain fill, then an optimisation barrier the
//! compiler cannot see through, so the fill is not removed as a dead store. These wipe the
//! whole buffer that way: its bytes and its spare capacity.

use zeroize::Zeroize;

/// Wipes `buffer` (its bytes and spare capacity) and leaves it empty, its capacity kept.
pub(crate) fn bytes(buffer: &mut Vec<u8>) {
    buffer.as_mut_slice().zeroize();
    buffer.spare_capacity_mut().zeroize();
    buffer.clear();
}

/// Wipes `text` (its bytes and spare capacity) and frees it, leaving an empty string.
pub(crate) fn string(text: &mut String) {
    bytes(&mut std::mem::take(text).into_bytes());
}

/// [`string`] for an optional string, left `None`.
pub(crate) fn optional(text: &mut Option<String>) {
    if let Some(mut text) = text.take() {
        string(&mut text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // That the bytes are zeroes before they are freed is checked from outside the crate, by an
    // allocator that reads every freed block (`tests/core/wiped_on_drop.rs`).
    #[test]
    fn a_buffer_is_left_empty_and_a_string_freed() {
        let mut buffer = Vec::with_capacity(64);
        buffer.extend_from_slice(b"secret-token");
        bytes(&mut buffer);
        assert!(buffer.is_empty());
        assert_eq!(buffer.capacity(), 64);
        let mut text = String::from("password");
        string(&mut text);
        assert_eq!(text.capacity(), 0);
        let mut token = Some(String::from("refresh"));
        optional(&mut token);
        assert_eq!(token, None);
    }
}
