//! The fields of a token endpoint's answer, success or error: each read into a buffer of its
//! own, owned and wiped on drop (see `json` for why nothing is borrowed), as the one pass over
//! the body finds them; the two tokens are checked as it passes them and decoded together
//! into one buffer after it (`token_text`).

use zeroize::Zeroizing;

use super::json::{self, Malformed};
use super::scan::Member;
use super::token_text::{RawTokens, TokenText};

/// How many of [`FIELDS`] are strings (all but `expires_in`).
const STRINGS: usize = 8;

/// Every field read: the strings, then `expires_in`.
const FIELDS: [&str; STRINGS + 1] = [
    "access_token",
    "token_type",
    "refresh_token",
    "error",
    "error_description",
    "message",
    "hint",
    "scope",
    "expires_in",
];

/// The index in [`FIELDS`] of the field `key` names (escapes decoded), if the crate reads it.
fn field(key: &[u8]) -> Option<usize> {
    if memchr::memchr(b'\\', key).is_none() {
        // The usual key, written plainly: compared as bytes, no decoding.
        return FIELDS.iter().position(|name| name.as_bytes() == key);
    }
    FIELDS.iter().position(|name| json::key_is(key, name))
}

/// The fields of either a success or an error body.
#[derive(Default)]
pub(super) struct Body {
    /// The access and refresh tokens, in the buffer the header that sends the access token
    /// will be made of.
    pub(super) tokens: TokenText,
    pub(super) token_type: Option<TokenType>,
    pub(super) expires_in: Option<ExpiresIn>,
    pub(super) error: Option<Zeroizing<String>>,
    pub(super) error_description: Option<Zeroizing<String>>,
    pub(super) message: Option<Zeroizing<String>>,
    pub(super) hint: Option<Zeroizing<String>>,
    pub(super) scope: Option<Zeroizing<String>>,
}

/// `token_type` as sent.
pub(super) enum TokenType {
    /// `Bearer`, in any case.
    Bearer,
    /// Another type, as the server wrote it, to quote once scrubbed.
    Other(Zeroizing<String>),
}

/// `expires_in` as sent: a number (integer or not) or a string holding one.
pub(super) enum ExpiresIn {
    Seconds(u64),
    /// Not a positive number; the value as the server wrote it, to quote once scrubbed.
    Invalid(Zeroizing<String>),
}

impl Body {
    /// Reads `json`. When it is JSON but not a token response's object, says why, and still
    /// hands back the fields read (a token among them must still be scrubbed from what is
    /// shown); when it is not JSON, says so and hands back nothing.
    pub(super) fn read(json: &[u8]) -> (Self, Option<Malformed>) {
        let mut body = Self::default();
        let mut seen = [false; STRINGS + 1];
        let mut malformed = None;
        let mut tokens = RawTokens::default();
        // Each member is taken as the scan passes it: one pass over the body.
        let read = json::members(json, |member| {
            if let Err(problem) = body.take(&member, &mut seen, &mut tokens) {
                malformed.get_or_insert(Malformed::Shape(problem));
            }
        });
        match read {
            Ok(()) => {
                body.tokens = tokens.decode();
                (body, malformed)
            }
            // Not JSON after all: what was read of it is dropped (and wiped), as if never read.
            Err(refused) => (Self::default(), Some(refused)),
        }
    }

    /// The access token, if the body has one.
    pub(super) fn access_token(&self) -> Option<&str> {
        self.tokens.access_token()
    }

    /// The tokens this body carries, to scrub from what is shown of it.
    pub(super) fn tokens(&self) -> impl Iterator<Item = &str> {
        self.access_token()
            .into_iter()
            .chain(self.tokens.refresh_token())
    }

    /// The buffer of the string field at `index` in [`FIELDS`] (the tokens are decoded apart,
    /// `token_type` has its own type, and `scope`, which is never a reason to refuse, is read
    /// apart in [`Self::take`]).
    fn string_slot(&mut self, index: usize) -> Option<&mut Option<Zeroizing<String>>> {
        match index {
            3 => Some(&mut self.error),
            4 => Some(&mut self.error_description),
            5 => Some(&mut self.message),
            6 => Some(&mut self.hint),
            _ => None,
        }
    }

    fn take<'a>(
        &mut self,
        member: &Member<'a>,
        seen: &mut [bool],
        tokens: &mut RawTokens<'a>,
    ) -> Result<(), String> {
        let (index, name) = match field(member.key) {
            Some(index) => (index, FIELDS.get(index).copied().unwrap_or_default()),
            None => return Ok(()), // a field the crate does not read
        };
        if name == "scope" {
            // Informational: a scope that is not one string (sent twice, a list, a number) is
            // ignored, never a reason to refuse tokens the server has already issued.
            self.scope = match (seen.get(index), json::string(member.value)) {
                (Some(false), Ok(scope)) => scope,
                _ => None,
            };
            if let Some(seen) = seen.get_mut(index) {
                *seen = true;
            }
            return Ok(());
        }
        if let Some(seen) = seen.get_mut(index) {
            if *seen {
                return Err(format!("{name} is sent twice"));
            }
            *seen = true;
        }
        let problem = |problem: &str| format!("{name} {problem}");
        if index == STRINGS {
            self.expires_in = expires_in(member.value).map_err(problem)?;
        } else if name == "token_type" {
            self.token_type = token_type(member.value).map_err(problem)?;
        } else if name == "access_token" {
            tokens.access = json::raw_string(member.value, member.graphic).map_err(problem)?;
        } else if name == "refresh_token" {
            tokens.refresh = json::raw_string(member.value, member.graphic).map_err(problem)?;
        } else if let Some(slot) = self.string_slot(index) {
            *slot = json::string(member.value).map_err(problem)?;
        }
        Ok(())
    }
}

fn token_type(value: &[u8]) -> Result<Option<TokenType>, &'static str> {
    // `"Bearer"` as servers write it is recognised in place: no buffer to fill and wipe.
    if let [b'"', written @ .., b'"'] = value
        && written.eq_ignore_ascii_case(b"bearer")
    {
        return Ok(Some(TokenType::Bearer));
    }
    Ok(json::string(value)?.map(|text| {
        if text.eq_ignore_ascii_case("bearer") {
            TokenType::Bearer
        } else {
            TokenType::Other(text)
        }
    }))
}

fn expires_in(value: &[u8]) -> Result<Option<ExpiresIn>, &'static str> {
    match value.first() {
        Some(b'"') => Ok(json::string(value)?.map(from_text)),
        Some(b'-' | b'0'..=b'9') => Ok(Some(from_number(value))),
        _ if value == b"null" => Ok(None),
        _ => Err("is not a number"),
    }
}

fn from_number(number: &[u8]) -> ExpiresIn {
    // A JSON number is ASCII: the conversion cannot fail on a checked body.
    let text = std::str::from_utf8(number).unwrap_or_default();
    let shown = || Zeroizing::new(text.to_owned());
    if let Ok(seconds) = text.parse::<u64>() {
        positive(seconds, shown)
    } else if text.bytes().all(|byte| byte.is_ascii_digit()) {
        ExpiresIn::Seconds(u64::MAX) // beyond u64: as good as never expiring
    } else {
        match text.parse::<f64>() {
            Ok(seconds) => from_float(seconds),
            Err(_) => ExpiresIn::Invalid(shown()),
        }
    }
}

fn from_text(text: Zeroizing<String>) -> ExpiresIn {
    let trimmed = text.trim();
    if let Ok(seconds) = trimmed.parse::<u64>() {
        return positive(seconds, || text);
    }
    match trimmed.parse::<f64>() {
        Ok(seconds) if trimmed.bytes().all(|b| b.is_ascii_digit() || b == b'.') => {
            from_float(seconds)
        }
        _ => ExpiresIn::Invalid(text),
    }
}

fn positive(seconds: u64, shown: impl FnOnce() -> Zeroizing<String>) -> ExpiresIn {
    if seconds == 0 {
        ExpiresIn::Invalid(shown())
    } else {
        ExpiresIn::Seconds(seconds)
    }
}

fn from_float(seconds: f64) -> ExpiresIn {
    if seconds.is_finite() && seconds >= 1.0 {
        // Float-to-int casts saturate, so a huge value becomes u64::MAX rather than wrapping.
        ExpiresIn::Seconds(seconds as u64)
    } else {
        ExpiresIn::Invalid(Zeroizing::new(seconds.to_string()))
    }
}
