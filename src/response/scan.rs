//! One validating pass over a body: it checks the JSON as serde_json's `IgnoredAny` would
//! (the same texts accepted, the same refused: any nesting depth, strings with no control
//! character and only valid escapes, strict numbers, no trailing bytes) and hands over each
//! member of a top-level object as it passes it, so nothing is read twice.
//!
//! Like `IgnoredAny`, it checks neither UTF-8 nor surrogate pairs in strings: those are checked
//! in a string the crate keeps (`json::string`, `json::raw_string`, unless the scan found it
//! printable ASCII with no escape), and ignored elsewhere.
//! Nothing is copied: the scan only moves an offset and keeps one bit per open container (a
//! byte each beyond 128 deep, where only a hostile body goes).

/// A top-level member: its key (between the quotes) and its value, both as sent.
pub(super) struct Member<'a> {
    pub(super) key: &'a [u8],
    pub(super) value: &'a [u8],
    /// Whether the value is a string of printable ASCII other than space (`!` to `~`) with no
    /// escape, as tokens are: it needs no decoding and no UTF-8 check, and a header takes it.
    /// Found by the scan's own check of the string's bytes, at no extra pass.
    pub(super) graphic: bool,
}

/// What a body turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Shape {
    /// A JSON object, whose members were handed over in order.
    Object,
    /// JSON, but not an object (no member handed over).
    Other,
}

/// Scans `json`, calling `member` for each member of a top-level object in order (duplicates
/// included) as soon as it is read; `None` when `json` is not valid JSON, which may be found
/// after some members were handed over.
pub(super) fn scan<'a>(json: &'a [u8], mut member: impl FnMut(Member<'a>)) -> Option<Shape> {
    let mut scanner = Scanner {
        json,
        at: 0,
        frames: Frames::default(),
        graphic: false,
    };
    scanner.space();
    let shape = if scanner.peek() == Some(b'{') {
        scanner.object(&mut member)?;
        Shape::Object
    } else {
        scanner.value()?;
        Shape::Other
    };
    scanner.space();
    (scanner.at == json.len()).then_some(shape)
}

struct Scanner<'a> {
    json: &'a [u8],
    at: usize,
    frames: Frames,
    /// Whether the last string read was [`Member::graphic`].
    graphic: bool,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.json.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// The top-level object (at its `{`), each member handed over once its value is read.
    fn object(&mut self, member: &mut impl FnMut(Member<'a>)) -> Option<()> {
        self.at += 1;
        self.space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Some(());
        }
        loop {
            let key = self.key()?;
            let start = self.at;
            self.value()?;
            let value = self.json.get(start..self.at)?;
            // A string value is one string read, the last one.
            let graphic = value.first() == Some(&b'"') && self.graphic;
            member(Member {
                key,
                value,
                graphic,
            });
            self.space();
            match self.next()? {
                b',' => self.space(),
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// A key, its colon and the space after it; the key's content between its quotes.
    fn key(&mut self) -> Option<&'a [u8]> {
        self.space();
        let start = self.at + 1;
        if self.peek() != Some(b'"') {
            return None;
        }
        self.string()?;
        let key = self.json.get(start..self.at - 1)?;
        self.space();
        self.expect(b':')?;
        self.space();
        Some(key)
    }

    /// Any value, nested ones included. Containers are counted on `frames`, not recursed
    /// into, so a deep value costs no stack.
    fn value(&mut self) -> Option<()> {
        let base = self.frames.depth;
        loop {
            self.space();
            match self.peek()? {
                b'"' => self.string()?,
                open @ (b'{' | b'[') => {
                    let object = open == b'{';
                    self.at += 1;
                    self.space();
                    if self.peek() == Some(if object { b'}' } else { b']' }) {
                        self.at += 1;
                    } else {
                        self.frames.push(object);
                        if object {
                            self.key()?;
                        }
                        continue;
                    }
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return None,
            }
            // A value is complete: close what it completes, up to the next value to read.
            loop {
                if self.frames.depth == base {
                    return Some(());
                }
                let object = self.frames.top();
                self.space();
                match self.next()? {
                    b',' => {
                        if object {
                            self.key()?;
                        }
                        break;
                    }
                    b'}' if object => self.frames.pop(),
                    b']' if !object => self.frames.pop(),
                    _ => return None,
                }
            }
        }
    }

    /// A string, at its opening quote: no control character, only JSON's escapes.
    fn string(&mut self) -> Option<()> {
        self.at += 1;
        let mut graphic = true;
        loop {
            let rest = self.json.get(self.at..)?;
            // Most of a body is tokens: jump to the next quote or backslash (memchr reads a word
            // or a vector at a time), then check the run skipped for control characters in one
            // branch-free pass, which also finds whether it is all graphic ASCII.
            let run = memchr::memchr2(b'"', b'\\', rest)?;
            let skipped = rest.get(..run)?;
            let (least, most) = skipped.iter().fold((u8::MAX, 0), |(least, most), &byte| {
                (least.min(byte), most.max(byte))
            });
            if least < 0x20 {
                return None;
            }
            graphic &= least > b' ' && most < 0x7f;
            self.at += run;
            if self.next()? == b'"' {
                self.graphic = graphic;
                return Some(());
            }
            graphic = false;
            match self.next()? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                b'u' => {
                    let digits = self.json.get(self.at..self.at + 4)?;
                    if !digits.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    self.at += 4;
                }
                _ => return None,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.json.get(self.at..self.at + word.len())? != word {
            return None;
        }
        self.at += word.len();
        Some(())
    }

    /// `-`? (`0` | [1-9][0-9]*) (`.` [0-9]+)? ([eE] [+-]? [0-9]+)?
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.some_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.some_digits()?;
        }
        // A leading zero stands alone: `01` is refused, as serde_json refuses it.
        (!matches!(self.peek(), Some(b'0'..=b'9'))).then_some(())
    }

    fn some_digits(&mut self) -> Option<()> {
        matches!(self.peek(), Some(b'0'..=b'9')).then_some(())?;
        self.digits();
        Some(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }
}

/// The open containers, one bit each (object or array): the first 128 in place, deeper ones
/// (only a hostile body has them) on the heap. Structure only, never content.
#[derive(Default)]
struct Frames {
    depth: usize,
    near: u128,
    deep: Vec<bool>,
}

impl Frames {
    fn push(&mut self, object: bool) {
        match u32::try_from(self.depth) {
            Ok(bit) if bit < u128::BITS => {
                let mask = 1u128 << bit;
                self.near = if object {
                    self.near | mask
                } else {
                    self.near & !mask
                };
            }
            _ => self.deep.push(object),
        }
        self.depth += 1;
    }

    /// Whether the innermost open container is an object.
    fn top(&self) -> bool {
        match self.depth.checked_sub(1).map(u32::try_from) {
            Some(Ok(bit)) if bit < u128::BITS => self.near & (1u128 << bit) != 0,
            _ => self.deep.last().copied().unwrap_or_default(),
        }
    }

    fn pop(&mut self) {
        if self.depth > u128::BITS as usize {
            self.deep.pop();
        }
        self.depth = self.depth.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    //! The scan against serde_json, the parser it replaced: the same verdict on arbitrary and
    //! mutated bodies, and, on objects, the members serde_json reads in the same order.

    use std::fmt;

    use proptest::prelude::*;
    use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

    use super::*;

    fn accepts(json: &[u8]) -> bool {
        scan(json, |_| {}).is_some()
    }

    fn serde_accepts(json: &[u8]) -> bool {
        serde_json::from_slice::<IgnoredAny>(json).is_ok()
    }

    /// An object's members as serde_json reads them: in order, duplicates kept.
    struct Ordered(Vec<(String, serde_json::Value)>);

    impl<'de> Deserialize<'de> for Ordered {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Members;
            impl<'de> Visitor<'de> for Members {
                type Value = Ordered;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                    let mut members = Vec::new();
                    while let Some(member) = map.next_entry()? {
                        members.push(member);
                    }
                    Ok(Ordered(members))
                }
            }
            deserializer.deserialize_map(Members)
        }
    }

    /// Whether `value` is a string of printable ASCII other than space, with no escape, read
    /// byte by byte: what [`Member::graphic`] says, found another way.
    fn graphic(value: &[u8]) -> bool {
        match value {
            [b'"', content @ .., b'"'] => content
                .iter()
                .all(|&byte| byte.is_ascii_graphic() && byte != b'\\'),
            _ => false,
        }
    }

    /// Checks the scan against serde_json on `json`, and each member's `graphic`.
    fn agrees(json: &[u8]) -> Result<(), TestCaseError> {
        let mut found = Vec::new();
        let mut graphic_wrong = Vec::new();
        let shape = scan(json, |member| {
            if member.graphic != graphic(member.value) {
                graphic_wrong.push(member.value);
            }
            found.push((member.key, member.value));
        });
        prop_assert!(
            graphic_wrong.is_empty(),
            "graphic wrong for {:?}",
            graphic_wrong
        );
        prop_assert_eq!(shape.is_some(), serde_accepts(json), "{:?}", json);
        let object = json.iter().find(|byte| !b" \t\n\r".contains(byte)) == Some(&b'{');
        match shape {
            Some(Shape::Object) => prop_assert!(object),
            Some(Shape::Other) => prop_assert!(!object && found.is_empty()),
            None => return Ok(()),
        }
        // Where serde_json can decode the object (its keys and values as UTF-8, whole surrogate
        // pairs, at most 128 deep), each member found is the one it reads.
        if let Ok(Ordered(expected)) = serde_json::from_slice::<Ordered>(json) {
            prop_assert_eq!(found.len(), expected.len());
            for ((key, value), (expected_key, expected_value)) in found.iter().zip(&expected) {
                let key = serde_json::from_slice::<String>(&[b"\"", *key, b"\""].concat()).ok();
                prop_assert_eq!(key.as_ref(), Some(expected_key));
                let value = serde_json::from_slice::<serde_json::Value>(value).ok();
                prop_assert_eq!(value.as_ref(), Some(expected_value));
            }
        }
        Ok(())
    }

    /// Bytes that JSON gives a meaning to, and some it refuses.
    const SOUP: &[u8] =
        b" \t\n\r{}[]:,\"\\/bfnrtu0123456789aeEfF-+.lsx\x00\x1f\x7f\xc3\xa4\xff\xed\xa0";

    fn soup() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop::sample::select(SOUP), 0..48)
    }

    fn space() -> impl Strategy<Value = &'static str> {
        prop::sample::select(&["", "", " ", "\n\t", "\r\n  "][..])
    }

    fn scalar() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(
                &[
                    "null",
                    "true",
                    "false",
                    "0",
                    "-0",
                    "1",
                    "-12",
                    "3.25",
                    "1e9",
                    "-2.5E-3",
                    "1E+2",
                    "\"\"",
                    r#""a.b.c""#,
                    r#""\u00e4\ud83d\ude00""#,
                    r#""\"\\\/\b\f\n\r\t""#,
                    r#""\ud800""#,
                    "\"\u{e4}\"",
                    r#""def50200ab""#,
                    "\"3600\"",
                ][..]
            )
            .prop_map(str::to_owned),
            any::<i64>().prop_map(|number| number.to_string()),
            any::<f64>().prop_map(|number| serde_json::json!(number).to_string()),
            any::<String>().prop_map(|text| serde_json::json!(text).to_string()),
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        scalar().prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                (prop::collection::vec(inner.clone(), 0..4), space())
                    .prop_map(|(items, space)| format!("[{space}{}]", items.join(","))),
                prop::collection::vec((key(), inner), 0..4).prop_map(|members| {
                    let members: Vec<String> =
                        members.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(
                &[
                    r#""access_token""#,
                    r#""refresh_token""#,
                    r#""expires_in""#,
                    r#""token_type""#,
                    r#""error""#,
                    r#""scope""#,
                    r#""access\u005ftoken""#,
                    r#""a\"b""#,
                    r#""""#,
                ][..]
            )
            .prop_map(str::to_owned),
            any::<String>().prop_map(|text| serde_json::json!(text).to_string()),
        ]
    }

    /// A body shaped like a token response: an object of a few members, spaced anyhow.
    fn object() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::collection::vec((key(), value(), space(), space()), 0..6),
            space(),
        )
            .prop_map(|(members, outer)| {
                let members: Vec<String> = members
                    .iter()
                    .map(|(k, v, before, after)| format!("{before}{k}{after}:{before}{v}{after}"))
                    .collect();
                format!("{outer}{{{}}}{outer}", members.join(",")).into_bytes()
            })
    }

    #[derive(Clone, Debug)]
    enum Mutation {
        Set(usize, u8),
        Insert(usize, u8),
        Remove(usize),
        Truncate(usize),
        Repeat(usize, usize),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        let byte = prop_oneof![prop::sample::select(SOUP), any::<u8>()];
        prop_oneof![
            (any::<usize>(), byte.clone()).prop_map(|(at, byte)| Mutation::Set(at, byte)),
            (any::<usize>(), byte).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
            any::<usize>().prop_map(Mutation::Remove),
            any::<usize>().prop_map(Mutation::Truncate),
            (any::<usize>(), 1..8usize).prop_map(|(at, len)| Mutation::Repeat(at, len)),
        ]
    }

    fn mutate(mut body: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
        for mutation in mutations {
            let at = |at: usize| at % (body.len() + 1);
            match *mutation {
                Mutation::Set(i, byte) if !body.is_empty() => {
                    let i = i % body.len();
                    body[i] = byte;
                }
                Mutation::Insert(i, byte) => body.insert(at(i), byte),
                Mutation::Remove(i) if !body.is_empty() => {
                    body.remove(i % body.len());
                }
                Mutation::Truncate(i) => body.truncate(at(i)),
                Mutation::Repeat(i, len) => {
                    let start = at(i);
                    let piece = body[start..(start + len).min(body.len())].to_vec();
                    body.splice(start..start, piece);
                }
                _ => {}
            }
        }
        body
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn the_scan_agrees_with_serde_json_on_valid_objects(body in object()) {
            prop_assert!(accepts(&body), "{}", String::from_utf8_lossy(&body));
            agrees(&body)?;
        }

        #[test]
        fn the_scan_agrees_with_serde_json_on_mutated_objects(
            body in object(),
            mutations in prop::collection::vec(mutation(), 1..4),
        ) {
            agrees(&mutate(body, &mutations))?;
        }

        #[test]
        fn the_scan_agrees_with_serde_json_on_any_value(body in value()) {
            agrees(body.as_bytes())?;
        }

        #[test]
        fn the_scan_agrees_with_serde_json_on_byte_soup(body in soup()) {
            agrees(&body)?;
        }

        #[test]
        fn the_scan_agrees_with_serde_json_on_arbitrary_bytes(
            body in prop::collection::vec(any::<u8>(), 0..32),
        ) {
            agrees(&body)?;
        }
    }

    #[test]
    fn edge_cases_agree_with_serde_json() {
        let cases: &[&[u8]] = &[
            b"",
            b" ",
            b"{}",
            b"{ }",
            b"[]",
            b"{\"a\":1,}",
            b"[1,]",
            b"{\"a\" 1}",
            b"{1:2}",
            b"{\"a\":1}x",
            b"{\"a\":1} {}",
            b"01",
            b"-",
            b"-0",
            b"-01",
            b"1.",
            b"1.e3",
            b"1e",
            b"1e+",
            b"1E-0",
            b".5",
            b"+1",
            b"tru",
            b"nul",
            b"truex",
            b"\"\\u12\"",
            b"\"\\u12g4\"",
            b"\"\\ud800\"",
            b"\"\\x\"",
            b"\"\x1f\"",
            b"\"\x7f\"",
            b"\"\xff\xfe\"",
            b"\"abc",
            b"\"abc\\",
            b"{\"a\":[1,{\"b\":\"]\"}]}",
            b"{\"a\":[}",
            b"[{]}",
            // A container closed by the other kind's bracket, after a value.
            b"[1}",
            b"{\"a\":1]",
            b"[[1],{\"a\":[2}]]",
            b"{\"a\":{\"b\":1]}",
            b"{\"\xff\":1}",
            b"\xef\xbb\xbf{}",
        ];
        for case in cases {
            assert_eq!(
                accepts(case),
                serde_accepts(case),
                "{:?}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn any_depth_is_read_without_recursion() {
        for depth in [127, 128, 129, 200, 100_000] {
            let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let objects = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
            let mixed = format!("{}0{}", r#"[{"a":"#.repeat(depth), "}]".repeat(depth));
            for body in [arrays, objects, mixed] {
                assert!(accepts(body.as_bytes()), "depth {depth}");
                assert_eq!(accepts(body.as_bytes()), serde_accepts(body.as_bytes()));
            }
            let crossed = format!("{}{}", "[".repeat(depth), "}".repeat(depth));
            assert!(!accepts(crossed.as_bytes()));
        }
    }

    #[test]
    fn a_string_of_printable_ascii_without_escapes_is_graphic() {
        let body = br#"{"a":"eyJ0.x-_~+/=","b":"a b","c":"a\/b","d":"\u00e4","e":"","f":1,"g":["x"],"h":"\u007f","i":"~!"}"#;
        let mut graphic = Vec::new();
        let shape = scan(body, |member| graphic.push((member.key, member.graphic)));
        assert_eq!(shape, Some(Shape::Object));
        let expected = [
            (&b"a"[..], true),
            (b"b", false), // a space
            (b"c", false), // an escape
            (b"d", false),
            (b"e", true), // nothing to check: an empty token is refused for its length
            (b"f", false),
            (b"g", false),
            (b"h", false),
            (b"i", true),
        ];
        assert_eq!(graphic, expected);
        // Raw bytes outside printable ASCII (DEL, UTF-8) are not graphic either.
        for value in [&b"\"a\x7fb\""[..], "\"\u{e4}\"".as_bytes()] {
            let body = [&b"{\"k\":"[..], value, b"}"].concat();
            let mut seen = None;
            assert!(scan(&body, |member| seen = Some(member.graphic)).is_some());
            assert_eq!(seen, Some(false), "{value:?}");
        }
    }

    #[test]
    fn members_are_handed_over_before_a_late_refusal() {
        let mut keys = Vec::new();
        let shape = scan(br#"{"a":1,"b":2,"c":}"#, |member| keys.push(member.key));
        assert_eq!(shape, None);
        assert_eq!(keys, [&b"a"[..], b"b"]);
    }
}
