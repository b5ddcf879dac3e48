//! `application/x-www-form-urlencoded` bodies (UTF-8, space as `+`, as Laravel decodes them;
//! `docs/passport.md#token-endpoint`), written into one buffer of their exact size: a buffer
//! that grows leaves a copy of the secrets it holds in the block it outgrew.

/// A piece of a form body.
#[derive(Clone, Copy)]
pub(crate) enum Piece<'a> {
    /// A field, encoded as it is written.
    Field(&'a str, &'a str),
    /// Fields encoded beforehand (the client's own, encoded once per config); empty for none.
    Encoded(&'a [u8]),
}

impl Piece<'_> {
    fn len(self) -> usize {
        match self {
            Self::Field(name, value) => encoded_len(name) + 1 + encoded_len(value),
            Self::Encoded(fields) => fields.len(),
        }
    }

    fn is_empty(self) -> bool {
        matches!(self, Self::Encoded([]))
    }
}

/// The body of `pieces`, joined by `&`, in a buffer exactly its size.
pub(crate) fn body<'a>(pieces: impl Iterator<Item = Piece<'a>> + Clone) -> Vec<u8> {
    let pieces = pieces.filter(|piece| !piece.is_empty());
    let separators = pieces.clone().count().saturating_sub(1);
    let mut body = Vec::with_capacity(pieces.clone().map(Piece::len).sum::<usize>() + separators);
    for (index, piece) in pieces.enumerate() {
        if index > 0 {
            body.push(b'&');
        }
        match piece {
            Piece::Field(name, value) => {
                encode_into(&mut body, name);
                body.push(b'=');
                encode_into(&mut body, value);
            }
            Piece::Encoded(fields) => body.extend_from_slice(fields),
        }
    }
    body
}

/// The length of `text` form-encoded.
pub(crate) fn encoded_len(text: &str) -> usize {
    form_urlencoded::byte_serialize(text.as_bytes())
        .map(str::len)
        .sum()
}

/// Appends `text` form-encoded; `out` is sized for it beforehand. Runs of bytes that need no
/// escape are copied at once.
pub(crate) fn encode_into(out: &mut Vec<u8>, text: &str) {
    for run in form_urlencoded::byte_serialize(text.as_bytes()) {
        out.extend_from_slice(run.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
