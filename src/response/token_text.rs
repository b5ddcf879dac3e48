//! The tokens of a body, decoded into one buffer once the scan has found them both:
//! `Bearer `, the access token, then the refresh token. The set made from them keeps that buffer
//! (`shared_secret`): the header that sends the access token is a slice of it, the refresh
//! token another, so a successful exchange allocates for its tokens twice: the buffer, and the
//! block through which its slices share it.

use bytes::Bytes;

use super::json::RawString;
use crate::shared_secret::{self, SharedText};
use crate::token_set::{BEARER_SCHEME, InvalidToken, check_access_token, check_access_token_len};
use crate::wipe;

/// The token members as the scan found them: checked, not decoded yet.
#[derive(Default)]
pub(super) struct RawTokens<'a> {
    pub(super) access: Option<RawString<'a>>,
    pub(super) refresh: Option<RawString<'a>>,
}

impl RawTokens<'_> {
    /// Both tokens decoded into one buffer, sized up front so that it never grows (which would
    /// leave a copy in the block it outgrew).
    pub(super) fn decode(&self) -> TokenText {
        if self.access.is_none() && self.refresh.is_none() {
            return TokenText::default();
        }
        let header = self
            .access
            .map_or(0, |access| BEARER_SCHEME.len() + access.max_len());
        let refresh = self.refresh.map_or(0, |refresh| refresh.max_len());
        let mut text = Vec::with_capacity(header + refresh);
        let header_end = self.access.map(|access| {
            text.extend_from_slice(BEARER_SCHEME.as_bytes());
            access.decode_into(&mut text);
            text.len()
        });
        let refresh_start = self.refresh.map(|refresh| {
            let start = text.len();
            refresh.decode_into(&mut text);
            start
        });
        TokenText {
            text,
            header_end,
            refresh_start,
            access_graphic: self.access.is_some_and(|access| access.is_graphic()),
        }
    }
}

/// A body's tokens, decoded: wiped on drop, unless shared out to a token set first.
#[derive(Default)]
pub(super) struct TokenText {
    /// UTF-8: decoded from checked strings.
    text: Vec<u8>,
    /// The end of `Bearer <access token>`, when the body has an access token.
    header_end: Option<usize>,
    /// Where the refresh token starts, when the body has one; it runs to the end.
    refresh_start: Option<usize>,
    /// Whether the access token was sent as printable ASCII other than space, with no escape:
    /// only its length is left to check.
    access_graphic: bool,
}

impl TokenText {
    pub(super) fn access_token(&self) -> Option<&str> {
        let end = self.header_end?;
        Some(text(self.text.get(BEARER_SCHEME.len()..end)))
    }

    pub(super) fn refresh_token(&self) -> Option<&str> {
        let start = self.refresh_start?;
        Some(text(self.text.get(start..)))
    }

    /// Whether the access token can go into a header (`check_access_token`); `None` without
    /// one. A token the scan found graphic has only its length checked.
    pub(super) fn check_access_token(&self) -> Option<Result<(), InvalidToken>> {
        if self.access_graphic {
            let end = self.header_end?;
            return Some(check_access_token_len(
                end.saturating_sub(BEARER_SCHEME.len()),
            ));
        }
        self.access_token().map(check_access_token)
    }

    /// The buffer, handed over without a copy: `Bearer <access token>` and the refresh token,
    /// each a slice of it, which is wiped when the last slice drops. Leaves this empty.
    pub(super) fn share(&mut self) -> (Option<Bytes>, Option<SharedText>) {
        let (header_end, refresh_start) = (self.header_end.take(), self.refresh_start.take());
        if header_end.is_none() && refresh_start.is_none() {
            return (None, None);
        }
        shared_secret::split_tokens(std::mem::take(&mut self.text), header_end, refresh_start)
    }
}

impl Drop for TokenText {
    fn drop(&mut self) {
        wipe::bytes(&mut self.text);
    }
}

/// The text in `bytes` (decoded from checked strings, so always UTF-8).
fn text(bytes: Option<&[u8]>) -> &str {
    std::str::from_utf8(bytes.unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::json;
    use super::*;

    fn raw(value: &[u8]) -> Option<RawString<'_>> {
        json::raw_string(value, false).ok().flatten()
    }

    #[test]
    fn both_tokens_share_one_buffer_sized_for_them() {
        let tokens = RawTokens {
            access: raw(br#""eyJ\/a""#),
            refresh: raw(br#""def\u0035""#),
        };
        let mut text = tokens.decode();
        assert_eq!(text.access_token(), Some("eyJ/a"));
        assert_eq!(text.refresh_token(), Some("def5"));
        // Room for both as sent: escapes only shrink.
        assert_eq!(
            text.text.capacity(),
            "Bearer ".len() + r"eyJ\/a".len() + r"def\u0035".len()
        );
        let (header, refresh) = text.share();
        let header = header.unwrap_or_default();
        assert_eq!(&header[..], b"Bearer eyJ/a");
        let refresh = refresh.map(|token| token.as_str().to_owned());
        assert_eq!(refresh.as_deref(), Some("def5"));
        assert_eq!(text.access_token(), None);
    }

    #[test]
    fn either_token_may_be_missing() {
        let refresh_only = RawTokens {
            access: None,
            refresh: raw(br#""def""#),
        };
        let mut text = refresh_only.decode();
        assert_eq!(text.access_token(), None);
        assert_eq!(text.refresh_token(), Some("def"));
        let (header, refresh) = text.share();
        assert!(header.is_none());
        assert_eq!(
            refresh.map(|token| token.as_str().to_owned()).as_deref(),
            Some("def")
        );
        let mut none = RawTokens::default().decode();
        assert_eq!(none.text.capacity(), 0);
        assert!(matches!(none.share(), (None, None)));
    }
}
