//! What an error shows of a response: its fields and an excerpt of its body, every text
//! scrubbed of every secret, and the excerpt withheld whole when the body carries tokens.

use std::sync::LazyLock;

use memchr::memmem::Finder;
use zeroize::Zeroizing;

use super::body::Body;
use super::escapes;
use super::scrub::{self, Scrubber};
use super::{Answer, retry_after};
use crate::error::{BODY_EXCERPT_LIMIT, ResponseDetails};

/// How much of a field (`error_description`, `hint`, …) an error quotes.
const FIELD_LIMIT: usize = 512;
/// How much of a value an error's detail quotes (a token type, an `expires_in`).
const QUOTE_LIMIT: usize = 32;

impl Answer<'_> {
    /// What an error shows of the response: every field and the excerpt scrubbed, the excerpt
    /// withheld whole when the body carries tokens. Only a token response's fields are shown.
    pub(super) fn details(&self, scrubber: &Scrubber<'_>) -> ResponseDetails {
        let text = |field: &Option<Zeroizing<String>>| {
            field
                .as_ref()
                .map(|value| scrubber.scrub(value, FIELD_LIMIT, false))
                .filter(|value| !value.trim().is_empty())
        };
        let parsed = self.parsed;
        let description =
            parsed.and_then(|body| text(&body.error_description).or_else(|| text(&body.message)));
        let body = self.body;
        ResponseDetails {
            status: self.status,
            error: parsed.and_then(|body| text(&body.error)),
            description,
            hint: parsed.and_then(|body| text(&body.hint)),
            retry_after: retry_after(self.headers),
            body_excerpt: if carries_tokens(body, self.fields) {
                format!("[{} bytes withheld: the body carries tokens]", body.len())
            } else {
                scrubber.scrub_bytes(body, BODY_EXCERPT_LIMIT)
            },
            body_len: body.len(),
        }
    }
}

/// Whether a body holds a token: read as one, named plainly anywhere, or named through escapes
/// where an excerpt would show it (`"access\u005ftoken"` is the same key to a JSON parser).
fn carries_tokens(body: &[u8], fields: &Body) -> bool {
    const NAMES: [&str; 2] = ["access_token", "refresh_token"];
    // Set up once: a search's set-up costs more than a short body's search.
    static WRITTEN: LazyLock<[Finder<'static>; 2]> = LazyLock::new(|| NAMES.map(Finder::new));
    if fields.tokens().next().is_some() || WRITTEN.iter().any(|name| name.find(body).is_some()) {
        return true;
    }
    // Where nothing reads as an escape, a name is spelled only where it is written.
    let window = scrub::window(body, BODY_EXCERPT_LIMIT);
    !escapes::plain(window) && scrub::with_text(window, |text| scrub::mentions(text, &NAMES))
}

/// A server-sent value quoted in an error message: scrubbed, then cut short.
pub(super) fn quote(value: &str, scrubber: &Scrubber<'_>) -> String {
    format!("{:?}", scrubber.scrub(value, QUOTE_LIMIT, false))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// `carries_tokens` as it was before plain windows were passed over: the window always
    /// read through its escapes.
    fn carries_tokens_read_through(body: &[u8], fields: &Body) -> bool {
        const NAMES: [&str; 2] = ["access_token", "refresh_token"];
        fields.tokens().next().is_some()
            || NAMES.iter().any(|name| {
                body.windows(name.len())
                    .any(|window| window == name.as_bytes())
            })
            || scrub::with_text(scrub::window(body, BODY_EXCERPT_LIMIT), |text| {
                scrub::mentions(text, &NAMES)
            })
    }

    /// Pieces of bodies: the names, written or escaped, parts of them, and filler.
    const PIECES: &[&str] = &[
        "access_token",
        "refresh_token",
        "access",
        "_token",
        "refresh",
        r"access\u005ftoken",
        "refresh%5Ftoken",
        "refresh&#95;token",
        r#"{"error":"invalid_grant","#,
        r#""access_token":"a.b.c"}"#,
        "%",
        "&",
        "+",
        "ä",
        "token ",
        "\u{FFFD}",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn a_body_carries_tokens_as_reading_it_through_says(
            pieces in prop::collection::vec(prop::sample::select(PIECES), 0..80),
            bad in prop::collection::vec((any::<prop::sample::Index>(), 0x80..=0xffu8), 0..3),
        ) {
            let mut body = pieces.concat().into_bytes();
            for (at, byte) in bad {
                let at = at.index(body.len() + 1);
                body.insert(at, byte);
            }
            let fields = Body::read(&body).0;
            prop_assert_eq!(
                carries_tokens(&body, &fields),
                carries_tokens_read_through(&body, &fields)
            );
        }
    }
}
