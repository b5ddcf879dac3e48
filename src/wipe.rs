//! Wiping a buffer before its memory goes back to the allocator, in bulk.
//!
//! `zeroize` wipes a `String` or a `Vec<u8>` one volatile store per byte (its `Vec` impl
//! zeroizes element by element: ~2 instructions a byte, a few thousand per token set), but a
//! byte slice in bulk: a plain fill, then an optimisation barrier the compiler cannot see
//! through, so the fill is not removed as a dead store. These wipe a buffer's bytes that way.
//! Not its spare capacity: the buffers these wipe are sized up front and only ever appended to,
//! so no secret is ever written past their length (`tests/core/wiped_on_drop.rs` scans every
//! freed block whole, spare room included).
//!
//! In blocks of [`BLOCK`] bytes, each filled by stores the compiler writes in place: left to
//! glibc's `memset`, a token-sized fill takes 512-bit stores, and on CPUs that slow down for
//! those (this project's benchmark machine) the one wipe of a replaced token set cost about a
//! quarter of a token exchange's time (BENCHMARKS.md, table 2).

use zeroize::Zeroize;

/// Bytes wiped at a time: a fill of a size known when compiling is written in place.
const BLOCK: usize = 64;

/// Wipes `buffer`'s bytes and leaves it empty, its capacity kept.
pub(crate) fn bytes(buffer: &mut Vec<u8>) {
    let mut blocks = buffer.chunks_exact_mut(BLOCK);
    blocks.by_ref().for_each(Zeroize::zeroize);
    blocks.into_remainder().iter_mut().zeroize();
    buffer.clear();
}

/// Wipes `text`'s bytes and frees it, leaving an empty string.
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
