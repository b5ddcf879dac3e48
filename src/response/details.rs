//! What an error shows of a response: its fields and an excerpt of its body, every text
//! scrubbed of every secret, and the excerpt withheld whole when the body carries tokens.

use zeroize::Zeroizing;

use super::body::Body;
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
    fields.tokens().next().is_some()
        || NAMES.iter().any(|name| contains(body, name.as_bytes()))
        || scrub::with_text(scrub::window(body, BODY_EXCERPT_LIMIT), |text| {
            scrub::mentions(text, &NAMES)
        })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// A server-sent value quoted in an error message: scrubbed, then cut short.
pub(super) fn quote(value: &str, scrubber: &Scrubber<'_>) -> String {
    format!("{:?}", scrubber.scrub(value, QUOTE_LIMIT, false))
}
