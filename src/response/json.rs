//! Reading a JSON object's members without copies nobody wipes.
//!
//! serde_json decodes a string with escapes into a scratch buffer it frees unwiped, and serde
//! never borrows into `Option<Cow<str>>` (it always copies), so a derived struct would leave
//! copies of an escaped token or an echoed password behind. Instead one pass (`scan`) checks
//! the body and finds its members at once, copying nothing, and each string the crate reads is
//! decoded into one buffer, sized up front and wiped on drop (the two tokens, checked as the scan
//! passes them, into one buffer together: `token_text`). Nothing is borrowed past the read: the
//! crate owns every string it keeps, and wipes it.

use serde::de::IgnoredAny;
use zeroize::Zeroizing;

use super::scan::{self, Member, Shape};

/// Why a body is not the JSON object it should be.
pub(super) enum Malformed {
    /// Not JSON. serde_json's error names a position, never a value.
    Syntax(serde_json::Error),
    /// JSON of the wrong shape: what is wrong, naming fields, never values.
    Shape(String),
}

/// Hands each member of the JSON object `json` to `member`, in order, duplicates included, as
/// the one validating pass finds it. When `json` turns out not to be JSON, members may have been
/// handed over already: the caller drops what it read of them.
pub(super) fn members<'a>(json: &'a [u8], member: impl FnMut(Member<'a>)) -> Result<(), Malformed> {
    match scan::scan(json, member) {
        Some(Shape::Object) => Ok(()),
        Some(Shape::Other) => Err(Malformed::Shape("the body is not a JSON object".to_owned())),
        None => Err(Malformed::Syntax(syntax_error(json))),
    }
}

/// serde_json's account of why `json` is not JSON (its kind, line and column), asked only once
/// the scan has refused the body, so an error says what it always said.
fn syntax_error(json: &[u8]) -> serde_json::Error {
    match serde_json::from_slice::<IgnoredAny>(json) {
        Err(error) => error,
        // The scan refuses exactly what serde_json refuses (tested against it); were they ever
        // to differ, the body is still refused.
        Ok(_) => serde::de::Error::custom("the body is not valid JSON"),
    }
}

/// Whether a member's key, escapes decoded, is `name`.
pub(super) fn key_is(key: &[u8], name: &str) -> bool {
    if !key.contains(&b'\\') {
        return key == name.as_bytes();
    }
    // An escape takes at most 6 bytes per byte it decodes to: a longer key is another name.
    key.len() <= name.len() * 6 && unescape(key).is_ok_and(|decoded| *decoded == name)
}

/// A string value decoded into a wiped buffer; `None` for `null`.
pub(super) fn string(value: &[u8]) -> Result<Option<Zeroizing<String>>, &'static str> {
    match value {
        b"null" => Ok(None),
        [b'"', content @ .., b'"'] => unescape(content).map(Some),
        _ => Err("is not a string"),
    }
}

/// A string value, checked as [`string`] checks it but not decoded yet, so that the tokens of a
/// body can be decoded into one buffer once the scan knows them all; `None` for `null`.
/// `graphic` is the scan's [`Member::graphic`](super::scan::Member::graphic): such a string
/// has nothing left to check.
pub(super) fn raw_string(
    value: &[u8],
    graphic: bool,
) -> Result<Option<RawString<'_>>, &'static str> {
    match value {
        b"null" => Ok(None),
        [b'"', content @ .., b'"'] if graphic => Ok(Some(RawString {
            content,
            escaped: false,
            graphic: true,
        })),
        [b'"', content @ .., b'"'] => {
            let text = std::str::from_utf8(content).map_err(|_| "is not UTF-8")?;
            let escaped = memchr::memchr(b'\\', content).is_some();
            if escaped {
                unescape_each(text, |_, _| {})?;
            }
            Ok(Some(RawString {
                content,
                escaped,
                graphic: false,
            }))
        }
        _ => Err("is not a string"),
    }
}

/// A JSON string's content (between its quotes), checked: UTF-8, every escape valid.
#[derive(Clone, Copy)]
pub(super) struct RawString<'a> {
    content: &'a [u8],
    escaped: bool,
    /// Printable ASCII other than space, with no escape ([`Member::graphic`](super::scan::Member::graphic)).
    graphic: bool,
}

impl RawString<'_> {
    /// The most bytes it decodes to: an escape is never shorter than what it stands for.
    pub(super) fn max_len(&self) -> usize {
        self.content.len()
    }

    /// Whether it is printable ASCII other than space, with no escape.
    pub(super) fn is_graphic(&self) -> bool {
        self.graphic
    }

    /// Appends the decoded string (UTF-8) to `out`, which needs no more room than
    /// [`Self::max_len`].
    pub(super) fn decode_into(&self, out: &mut Vec<u8>) {
        if !self.escaped {
            out.extend_from_slice(self.content);
            return;
        }
        // Checked when made (UTF-8, escapes): neither can fail.
        let text = std::str::from_utf8(self.content).unwrap_or_default();
        let _ = unescape_each(text, |plain, escaped| {
            out.extend_from_slice(plain.as_bytes());
            if let Some(character) = escaped {
                out.extend_from_slice(character.encode_utf8(&mut [0; 4]).as_bytes());
            }
        });
    }
}

/// The content of a JSON string (between its quotes) with its escapes decoded, into a buffer
/// sized up front: every escape is at least as long as what it decodes to, so the buffer never
/// grows (which would leave a copy in the block it outgrew).
pub(super) fn unescape(content: &[u8]) -> Result<Zeroizing<String>, &'static str> {
    let text = std::str::from_utf8(content).map_err(|_| "is not UTF-8")?;
    let mut out = Zeroizing::new(String::with_capacity(text.len()));
    unescape_each(text, |plain, escaped| {
        out.push_str(plain);
        out.extend(escaped);
    })?;
    Ok(out)
}

/// Walks `text` (a JSON string's content), handing `piece` each stretch without escapes and
/// the character of the escape that ends it (`None` after the last stretch).
fn unescape_each(
    text: &str,
    mut piece: impl FnMut(&str, Option<char>),
) -> Result<(), &'static str> {
    let mut rest = text;
    while let Some(backslash) = memchr::memchr(b'\\', rest.as_bytes()) {
        let escape = rest.get(backslash + 1..).unwrap_or_default();
        let (character, length) = decode_escape(escape).ok_or("has a broken escape")?;
        piece(rest.get(..backslash).unwrap_or_default(), Some(character));
        rest = escape.get(length..).unwrap_or_default();
    }
    piece(rest, None);
    Ok(())
}

/// The character an escape (after its `\`) stands for, and how many bytes it takes.
fn decode_escape(escape: &str) -> Option<(char, usize)> {
    let simple = match escape.as_bytes().first()? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let unit = hex4(escape.get(1..5)?)?;
            if !(0xD800..=0xDBFF).contains(&unit) {
                return Some((char::from_u32(unit)?, 5));
            }
            // A high surrogate: its low half must follow as `\uXXXX`.
            let low = hex4(escape.get(5..11)?.strip_prefix("\\u")?)?;
            if !(0xDC00..=0xDFFF).contains(&low) {
                return None;
            }
            let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
            return Some((char::from_u32(code)?, 11));
        }
        _ => return None,
    };
    Some((simple, 1))
}

fn hex4(digits: &str) -> Option<u32> {
    if digits.len() == 4 && digits.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        u32::from_str_radix(digits, 16).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(json: &str) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        let read = members(json.as_bytes(), |member| {
            pairs.push((
                String::from_utf8_lossy(member.key).into_owned(),
                String::from_utf8_lossy(member.value).into_owned(),
            ));
        });
        assert!(read.is_ok(), "{json} not read");
        pairs
    }

    fn refused(json: &[u8]) -> Option<Malformed> {
        members(json, |_| {}).err()
    }

    #[test]
    fn members_are_found_with_nested_values_and_escapes() {
        assert_eq!(
            pairs(r#" { "a" : "x\"}" , "b\"":[1,{"c":"]"}], "d":-1.5e3,"e":null } "#),
            [
                ("a".into(), r#""x\"}""#.into()),
                (r#"b\""#.into(), r#"[1,{"c":"]"}]"#.into()),
                ("d".into(), "-1.5e3".into()),
                ("e".into(), "null".into()),
            ]
        );
        assert!(pairs("{}").is_empty());
        assert!(matches!(refused(b"[1]"), Some(Malformed::Shape(_))));
        assert!(matches!(refused(b"{\"a\":}"), Some(Malformed::Syntax(_))));
    }

    #[test]
    fn strings_decode_every_escape_and_refuse_broken_ones() {
        let decoded = string(br#""a\"\\\/\b\f\n\r\t\u00e4\u00C4\ud83d\ude00""#);
        assert_eq!(
            decoded.ok().flatten().as_deref().map(String::as_str),
            Some("a\"\\/\u{8}\u{c}\n\r\täÄ😀")
        );
        assert!(matches!(string(b"null"), Ok(None)));
        for broken in [
            &br#""\ud83d""#[..],
            br#""\ude00""#,
            br#""\x""#,
            b"\"\xff\"",
            b"1",
        ] {
            assert!(string(broken).is_err());
            // A token not found graphic is checked as `string` checks it, without decoding.
            assert!(raw_string(broken, false).is_err());
        }
        let mut decoded = Vec::new();
        if let Ok(Some(raw)) = raw_string(br#""a\/\u00e4\ud83d\ude00""#, false) {
            raw.decode_into(&mut decoded);
        }
        assert_eq!(decoded, "a/\u{e4}😀".as_bytes());
        assert!(matches!(raw_string(b"null", false), Ok(None)));
    }

    /// A string the scan found graphic is taken as it is (nothing checked again); any other
    /// is checked here, and is not taken for graphic.
    #[test]
    fn a_graphic_string_is_taken_as_it_is() {
        let graphic = raw_string(br#""eyJ.a-b""#, true).ok().flatten();
        assert!(graphic.is_some_and(|raw| raw.is_graphic()));
        let checked = raw_string(br#""eyJ.a-b""#, false).ok().flatten();
        assert!(checked.is_some_and(|raw| !raw.is_graphic()));
        let mut decoded = Vec::new();
        if let Some(raw) = graphic {
            raw.decode_into(&mut decoded);
        }
        assert_eq!(decoded, b"eyJ.a-b");
    }

    #[test]
    fn a_unicode_escape_is_four_hex_digits_exactly() {
        assert_eq!(hex4("00e4"), Some(0xe4));
        assert_eq!(hex4("00E4"), Some(0xe4));
        // `from_str_radix` would take a sign: the escape must not.
        assert_eq!(hex4("+123"), None);
        assert_eq!(hex4("0e4"), None);
        assert_eq!(hex4("zzzz"), None);
    }

    #[test]
    fn keys_match_through_escapes() {
        assert!(key_is(b"access_token", "access_token"));
        assert!(key_is(br"access\u005ftoken", "access_token"));
        assert!(key_is(br"\u0061ccess_token", "access_token"));
        assert!(!key_is(b"access_tokens", "access_token"));
        // A short key with an escape is compared, not taken on its length.
        assert!(!key_is(br"x\u0041", "access_token"));
        // Every byte escaped is still the name: six bytes per byte are allowed.
        assert!(key_is(
            br"\u0061\u0063\u0063\u0065\u0073\u0073\u005f\u0074\u006f\u006b\u0065\u006e",
            "access_token"
        ));
    }
}
