//! Reading a JSON object's members without copies nobody wipes.
//!
//! serde_json decodes a string with escapes into a scratch buffer it frees unwiped, and serde
//! never borrows into `Option<Cow<str>>` (it always copies), so a derived struct would leave
//! copies of an escaped token or an echoed password behind. Instead serde_json only checks the
//! body (`IgnoredAny` copies nothing, not even escaped strings), the members are found here,
//! and each string the crate reads is decoded into one buffer, sized up front and wiped on drop.
//! Nothing is borrowed: the crate owns every string it reads, and wipes it.

use serde::de::IgnoredAny;
use zeroize::Zeroizing;

/// Why a body is not the JSON object it should be.
pub(super) enum Malformed {
    /// Not JSON. serde_json's error names a position, never a value.
    Syntax(serde_json::Error),
    /// JSON of the wrong shape: what is wrong, naming fields, never values.
    Shape(String),
}

/// One member of an object: its key and its value, both as sent (escapes and all).
pub(super) struct Member<'a> {
    pub(super) key: &'a [u8],
    pub(super) value: &'a [u8],
}

/// The members of the JSON object `json`, in order, duplicates included.
pub(super) fn members(json: &[u8]) -> Result<Vec<Member<'_>>, Malformed> {
    serde_json::from_slice::<IgnoredAny>(json).map_err(Malformed::Syntax)?;
    // From here on `json` is known to be valid JSON: the scan below only finds its parts.
    let unreadable = || Malformed::Shape("the body is not a JSON object".to_owned());
    let mut at = skip_space(json, 0);
    if json.get(at) != Some(&b'{') {
        return Err(unreadable());
    }
    at += 1;
    // Token responses have a handful of members: one allocation, usually.
    let mut members = Vec::with_capacity(8);
    loop {
        at = skip_space(json, at);
        match json.get(at) {
            Some(b'}') => return Ok(members),
            Some(b',') => at += 1,
            Some(b'"') => {
                let key_end = string_end(json, at).ok_or_else(unreadable)?;
                let colon = skip_space(json, key_end);
                let value_start = skip_space(json, colon + 1);
                let value_end = value_end(json, value_start).ok_or_else(unreadable)?;
                let (Some(key), Some(value)) = (
                    json.get(at + 1..key_end - 1),
                    json.get(value_start..value_end),
                ) else {
                    return Err(unreadable());
                };
                members.push(Member { key, value });
                at = value_end;
            }
            _ => return Err(unreadable()),
        }
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

/// The content of a JSON string (between its quotes) with its escapes decoded. Every escape is
/// at least as long as what it decodes to, so the buffer never grows (which would leave a copy
/// in the block it outgrew).
pub(super) fn unescape(content: &[u8]) -> Result<Zeroizing<String>, &'static str> {
    let text = std::str::from_utf8(content).map_err(|_| "is not UTF-8")?;
    let mut out = Zeroizing::new(String::with_capacity(text.len()));
    let mut rest = text;
    while let Some(backslash) = rest.find('\\') {
        out.push_str(rest.get(..backslash).unwrap_or_default());
        let escape = rest.get(backslash + 1..).unwrap_or_default();
        let (character, length) = decode_escape(escape).ok_or("has a broken escape")?;
        out.push(character);
        rest = escape.get(length..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
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

fn skip_space(json: &[u8], mut at: usize) -> usize {
    while json
        .get(at)
        .is_some_and(|byte| matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
    {
        at += 1;
    }
    at
}

/// The offset just past the string starting (with its `"`) at `at`.
fn string_end(json: &[u8], mut at: usize) -> Option<usize> {
    at += 1;
    loop {
        // A token is most of a body: jump to the next quote or backslash (memchr reads a word
        // or a vector at a time) instead of stepping byte by byte.
        at += memchr::memchr2(b'"', b'\\', json.get(at..)?)?;
        match json.get(at)? {
            b'"' => return Some(at + 1),
            _ => at += 2,
        }
    }
}

/// The offset just past the value starting at `at`. Nesting is counted, not recursed into, so
/// a deep value costs no stack.
fn value_end(json: &[u8], mut at: usize) -> Option<usize> {
    match json.get(at)? {
        b'"' => string_end(json, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            loop {
                match json.get(at)? {
                    b'"' => {
                        at = string_end(json, at)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
        }
        _ => {
            while json.get(at).is_some_and(|byte| {
                !matches!(byte, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            }) {
                at += 1;
            }
            Some(at)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(json: &str) -> Vec<(String, String)> {
        let Ok(members) = members(json.as_bytes()) else {
            panic!("{json} not read");
        };
        members
            .iter()
            .map(|member| {
                (
                    String::from_utf8_lossy(member.key).into_owned(),
                    String::from_utf8_lossy(member.value).into_owned(),
                )
            })
            .collect()
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
        assert!(matches!(members(b"[1]"), Err(Malformed::Shape(_))));
        assert!(matches!(members(b"{\"a\":}"), Err(Malformed::Syntax(_))));
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
        }
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
