//! `application/x-www-form-urlencoded` bodies (UTF-8, space as `+`, as Laravel decodes them;
//! `docs/passport.md#token-endpoint`), written into one buffer of their exact size: a buffer
//! that grows leaves a copy of the secrets it holds in the block it outgrew.

/// A piece of a form body.
#[derive(Clone, Copy)]
pub(crate) enum Piece<'a> {
    /// A field: its name (the crate's own, written as it is), then its value, encoded.
    Field(&'static str, &'a str),
    /// Fields encoded beforehand (the client's own, encoded once per config); empty for none.
    Encoded(&'a [u8]),
}

impl Piece<'_> {
    /// Its length in the body, and whether it is written as it is (no byte to encode).
    fn sized(self) -> (usize, bool) {
        match self {
            Self::Field(name, value) => {
                debug_assert!(all_unchanged(name.as_bytes()), "{name} needs encoding");
                let plain = all_unchanged(value.as_bytes());
                let len = if plain {
                    value.len()
                } else {
                    encoded_len(value)
                };
                (name.len() + 1 + len, plain)
            }
            Self::Encoded(fields) => (fields.len(), true),
        }
    }

    fn is_empty(self) -> bool {
        matches!(self, Self::Encoded([]))
    }
}

/// How many pieces' plainness [`body`] remembers between sizing and writing: more than any
/// request has.
const REMEMBERED: usize = 8;

/// The body of `pieces`, joined by `&`, in a buffer exactly its size.
pub(crate) fn body<'a>(pieces: impl Iterator<Item = Piece<'a>> + Clone) -> Vec<u8> {
    let pieces = pieces.filter(|piece| !piece.is_empty());
    // Each piece is sized once, and whether it needs encoding remembered, so that a token is
    // read once to size it, then copied.
    let (mut len, mut plain) = (0, [false; REMEMBERED]);
    for (index, piece) in pieces.clone().enumerate() {
        let (piece_len, piece_plain) = piece.sized();
        len += piece_len + usize::from(index > 0);
        if let Some(slot) = plain.get_mut(index) {
            *slot = piece_plain;
        }
    }
    let mut body = Vec::with_capacity(len);
    for (index, piece) in pieces.enumerate() {
        if index > 0 {
            body.push(b'&');
        }
        match piece {
            Piece::Field(name, value) => {
                body.extend_from_slice(name.as_bytes());
                body.push(b'=');
                if plain.get(index) == Some(&true) {
                    body.extend_from_slice(value.as_bytes());
                } else {
                    encode_into(&mut body, value);
                }
            }
            Piece::Encoded(fields) => body.extend_from_slice(fields),
        }
    }
    body
}

/// Whether `byte` is written as it is (the set of `form_urlencoded::byte_serialize`, which
/// Laravel's decoding mirrors); a space is `+`, any other byte `%XX`.
fn unchanged(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'*' | b'-' | b'.' | b'_')
}

/// Whether every byte of `bytes` is written as it is: one pass with no early exit, which the
/// compiler vectorizes. Tokens and secrets usually are.
fn all_unchanged(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(true, |plain, &byte| plain & unchanged(byte))
}

/// How many bytes of `text` are written `%XX`.
fn escaped(text: &str) -> usize {
    text.bytes()
        .filter(|&byte| !unchanged(byte) && byte != b' ')
        .count()
}

/// The length of `text` form-encoded.
pub(crate) fn encoded_len(text: &str) -> usize {
    text.len() + 2 * escaped(text)
}

/// Appends `text` form-encoded; `out` is sized for it beforehand. A text made only of bytes
/// written as they are (a token) is copied at once, and so is each run of them in another.
pub(crate) fn encode_into(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    if all_unchanged(text.as_bytes()) {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    // Each piece is a run written as it is, then (but for the last) the byte that ends it.
    for piece in text.as_bytes().split_inclusive(|&byte| !unchanged(byte)) {
        match piece.split_last() {
            Some((&b' ', run)) => {
                out.extend_from_slice(run);
                out.push(b'+');
            }
            Some((&byte, run)) if !unchanged(byte) => {
                out.extend_from_slice(run);
                let hex = |nibble: u8| HEX.get(usize::from(nibble)).copied().unwrap_or(b'0');
                out.extend_from_slice(&[b'%', hex(byte >> 4), hex(byte & 0xF)]);
            }
            _ => out.extend_from_slice(piece),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn encoding_is_form_urlencoded_and_sized_exactly(text in any::<String>()) {
            let expected: String = form_urlencoded::byte_serialize(text.as_bytes()).collect();
            prop_assert_eq!(encoded_len(&text), expected.len());
            let mut out = Vec::with_capacity(encoded_len(&text));
            encode_into(&mut out, &text);
            prop_assert_eq!(out.capacity(), expected.len());
            prop_assert_eq!(out, expected.into_bytes());
        }

        /// Any fields, plain or not, more than [`REMEMBERED`] of them, with empty pieces among
        /// them: the body is exactly its size and reads as serde_urlencoded writes it.
        #[test]
        fn any_body_is_its_exact_size_and_reads_as_serde_urlencoded_writes_it(
            fields in prop::collection::vec(
                (prop::sample::select(vec!["token", "scope", "a_b"]), "[a-z0-9._*-]{0,8}|\\PC{0,8}"),
                0..12,
            ),
            empty_every in 1_usize..5,
        ) {
            let pieces = fields.iter().enumerate().flat_map(|(index, (name, value))| {
                let empty = (index % empty_every == 0).then_some(Piece::Encoded(b""));
                empty.into_iter().chain([Piece::Field(name, value)])
            });
            let written = body(pieces);
            prop_assert_eq!(written.len(), written.capacity());
            let expected = serde_urlencoded::to_string(&fields).expect("encodable");
            prop_assert_eq!(written, expected.into_bytes());
        }
    }

    #[test]
    fn a_body_is_its_exact_size_and_reads_as_serde_urlencoded_writes_it() {
        let client = body([Piece::Field("client_id", "a b"), Piece::Field("s", "€&=")].into_iter());
        let pieces = [
            Piece::Field("grant_type", "password"),
            Piece::Encoded(&client),
            Piece::Encoded(b""),
            Piece::Field("password", "&&&&&&&&&&"),
        ];
        let written = body(pieces.into_iter());
        assert_eq!(written.len(), written.capacity());
        let expected = serde_urlencoded::to_string([
            ("grant_type", "password"),
            ("client_id", "a b"),
            ("s", "€&="),
            ("password", "&&&&&&&&&&"),
        ])
        .expect("encodable");
        assert_eq!(written, expected.as_bytes());
        assert!(body([Piece::Encoded(b"")].into_iter()).is_empty());
    }
}
