//! Every way to read a text through the escapes a server may write a secret in: JSON (`\"`,
//! `\/`, `\uXXXX` in either case, surrogate pairs), HTML character references (named such as
//! `&amp;` or `&auml;`, `&#228;`, `&#xE4;`, `&#XE4;`), percent-encoding (`%xx` in either case,
//! UTF-8 sequences, `+` for a space), and one inside another (`\u0026amp;`, `%5Cu00e4`, `%2541`).
//!
//! The text is read as a graph: a node per byte offset, an edge per way to read one character
//! there. Each literal character is an edge, so a text may be read partly escaped and partly
//! not, and a secret that contains something escape-like (`%41`, `&amp;`) is still found raw.
//! Escape edges are found in rounds: round n reads the characters of an escape through the
//! edges of round n − 1, so escapes nest up to [`ROUNDS`] deep. Readings are generous (an
//! entity without its `;`, a number cut short): an extra reading can only make more text
//! redacted, never less.

use std::cell::Cell;

use zeroize::Zeroizing;

use super::entities::{LONGEST_NAME, entity};

/// How deep escapes nest: JSON inside HTML inside a URL is three.
const ROUNDS: usize = 3;
/// Work allowed per byte of text, per round; a text needing more is reported, not read.
const BUDGET_PER_BYTE: usize = 64;
/// Digits read in a numeric character reference (leading zeros included).
const MAX_DIGITS: usize = 10;

/// An escape edge: `[start, end, character]`.
type Edge = [u32; 3];

/// The readings of one text.
pub(super) struct Readings<'t> {
    text: &'t str,
    /// The escape edges, sorted by start. They hold the decoded characters, so they are wiped
    /// on drop, and copied into a new buffer (the old one wiped) rather than grown in place.
    escapes: Zeroizing<Vec<Edge>>,
    /// What is left of the work allowed; `None` once it ran out.
    budget: Cell<Option<usize>>,
}

impl<'t> Readings<'t> {
    /// Finds every escape in `text`. Texts over 4 GiB are not read (see [`Self::complete`]).
    pub(super) fn new(text: &'t str) -> Self {
        Self::with_budget(text, BUDGET_PER_BYTE)
    }

    /// [`Self::new`] with `per_byte` reads allowed per byte and round (tests lower it to run
    /// out).
    fn with_budget(text: &'t str, per_byte: usize) -> Self {
        let fits = u32::try_from(text.len()).is_ok();
        let mut readings = Self {
            text,
            escapes: Zeroizing::new(Vec::new()),
            budget: Cell::new(fits.then_some(0)),
        };
        if plain(text.as_bytes()) {
            return readings;
        }
        for _ in 0..ROUNDS {
            if readings.budget.get().is_none() {
                break;
            }
            readings
                .budget
                .set(Some(per_byte.saturating_mul(text.len()) + 1024));
            let mut next = Zeroizing::new(Vec::with_capacity(readings.escapes.len() + 16));
            for (start, _) in text.char_indices() {
                let first = next.len();
                readings.escapes_at(start, &mut |character, end| {
                    let edge = edge(start, end, character);
                    if !next[first..].contains(&edge) {
                        push_wiped(&mut next, edge);
                    }
                });
            }
            let grew = next.len() > readings.escapes.len();
            readings.escapes = next;
            if !grew {
                break;
            }
        }
        readings
    }

    /// Whether every reading was found. When not (a text built to make the search explode, or
    /// over 4 GiB), the text cannot be checked and must not be shown.
    pub(super) fn complete(&self) -> bool {
        self.budget.get().is_some()
    }

    /// The longest escape edge, in bytes.
    pub(super) fn longest(&self) -> usize {
        self.escapes
            .iter()
            .map(|&[start, end, _]| (end - start) as usize)
            .max()
            .unwrap_or(0)
    }

    /// The character written at byte offset `at`, if one starts there.
    pub(super) fn literal_at(&self, at: usize) -> Option<char> {
        self.text.get(at..).and_then(|rest| rest.chars().next())
    }

    /// Whether an escape starts at byte offset `at`.
    pub(super) fn escaped_at(&self, at: usize) -> bool {
        let first = self.first_escape_at(at);
        self.escapes
            .get(first)
            .is_some_and(|&[start, ..]| start as usize == at)
    }

    fn first_escape_at(&self, at: usize) -> usize {
        self.escapes
            .partition_point(|&[start, ..]| (start as usize) < at)
    }

    /// Calls `found` with each way to read one character at byte offset `at`, and where that
    /// reading ends.
    pub(super) fn each(&self, at: usize, found: &mut dyn FnMut(char, usize)) {
        if let Some(character) = self.literal_at(at) {
            found(character, at + character.len_utf8());
        }
        let first = self.first_escape_at(at);
        for &[start, end, character] in self.escapes.get(first..).unwrap_or_default() {
            if start as usize != at {
                break;
            }
            if let Some(character) = char::from_u32(character) {
                found(character, end as usize);
            }
        }
    }

    /// [`Self::each`], counting the work; nothing is read once the budget is spent.
    fn read(&self, at: usize, found: &mut dyn FnMut(char, usize)) {
        match self.budget.get() {
            Some(left) if left > 0 => self.budget.set(Some(left - 1)),
            _ => {
                self.budget.set(None);
                return;
            }
        }
        self.each(at, found);
    }

    /// The escapes starting at `at`, read through this round's edges.
    fn escapes_at(&self, at: usize, emit: &mut dyn FnMut(char, usize)) {
        self.read(at, &mut |introducer, next| match introducer {
            '\\' => self.json(next, emit),
            '%' => self.percent(next, emit),
            '&' => self.reference(next, emit),
            // Form encoding's space; a literal `+` is read too, as every character is.
            '+' => emit(' ', next),
            _ => {}
        });
    }

    /// After a `\`.
    fn json(&self, at: usize, emit: &mut dyn FnMut(char, usize)) {
        self.read(at, &mut |escaped, next| match escaped {
            '"' | '\\' | '/' => emit(escaped, next),
            'b' => emit('\u{8}', next),
            'f' => emit('\u{c}', next),
            'n' => emit('\n', next),
            'r' => emit('\r', next),
            't' => emit('\t', next),
            'u' => self.hex(next, 4, 0, &mut |unit, end| match unit {
                0xD800..=0xDBFF => self.low_surrogate(end, unit, emit),
                0xDC00..=0xDFFF => {}
                _ => emit_code(unit, end, emit),
            }),
            _ => {}
        });
    }

    /// After a high surrogate's `\uXXXX`: its low half, as `\uXXXX`.
    fn low_surrogate(&self, at: usize, high: u32, emit: &mut dyn FnMut(char, usize)) {
        self.read(at, &mut |backslash, next| {
            if backslash == '\\' {
                self.read(next, &mut |u, next| {
                    if u == 'u' {
                        self.hex(next, 4, 0, &mut |low, end| {
                            if (0xDC00..=0xDFFF).contains(&low) {
                                let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                                emit_code(code, end, emit);
                            }
                        });
                    }
                });
            }
        });
    }

    /// `digits` more hex digits, either case, added to `value`.
    fn hex(&self, at: usize, digits: usize, value: u32, found: &mut dyn FnMut(u32, usize)) {
        if digits == 0 {
            return found(value, at);
        }
        self.read(at, &mut |digit, next| {
            if let Some(digit) = digit.to_digit(16) {
                self.hex(next, digits - 1, value * 16 + digit, found);
            }
        });
    }

    /// After a `%`: a byte, and for a UTF-8 lead byte the `%xx` continuation bytes after it.
    fn percent(&self, at: usize, emit: &mut dyn FnMut(char, usize)) {
        self.hex(at, 2, 0, &mut |byte, next| {
            let length = match byte {
                0x00..=0x7F => return emit_code(byte, next, emit),
                0xC2..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF4 => 4,
                _ => return,
            };
            self.continuation(next, [byte, 0, 0, 0], 1, length, emit);
        });
    }

    fn continuation(
        &self,
        at: usize,
        bytes: [u32; 4],
        have: usize,
        length: usize,
        emit: &mut dyn FnMut(char, usize),
    ) {
        if have == length {
            let mut utf8 = [0u8; 4];
            for (byte, value) in utf8.iter_mut().zip(bytes) {
                *byte = u8::try_from(value).unwrap_or(0);
            }
            let character = utf8
                .get(..length)
                .and_then(|utf8| std::str::from_utf8(utf8).ok())
                .and_then(|text| text.chars().next());
            if let Some(character) = character {
                emit(character, at);
            }
            return;
        }
        self.read(at, &mut |percent, next| {
            if percent == '%' {
                self.hex(next, 2, 0, &mut |byte, end| {
                    if (0x80..=0xBF).contains(&byte) {
                        let mut more = bytes;
                        if let Some(slot) = more.get_mut(have) {
                            *slot = byte;
                            self.continuation(end, more, have + 1, length, emit);
                        }
                    }
                });
            }
        });
    }

    /// After a `&`: `#` and a number, or a name.
    fn reference(&self, at: usize, emit: &mut dyn FnMut(char, usize)) {
        self.read(at, &mut |first, next| {
            if first == '#' {
                self.read(next, &mut |x, after| {
                    if x == 'x' || x == 'X' {
                        self.number(after, 16, 0, 0, emit);
                    }
                });
                self.number(next, 10, 0, 0, emit);
            } else if first.is_ascii_alphanumeric() {
                let mut name = [0; LONGEST_NAME];
                if let Some(slot) = name.first_mut() {
                    *slot = first as u8;
                }
                self.name(next, name, 1, emit);
            }
        });
    }

    /// The digits of a numeric reference, then an optional `;`.
    fn number(
        &self,
        at: usize,
        radix: u32,
        value: u32,
        digits: usize,
        emit: &mut dyn FnMut(char, usize),
    ) {
        if digits > 0 {
            emit_code(value, at, emit);
        }
        self.read(at, &mut |next_char, next| {
            if digits > 0 && next_char == ';' {
                emit_code(value, next, emit);
            }
            let more = next_char
                .to_digit(radix)
                .filter(|_| digits < MAX_DIGITS)
                .and_then(|digit| value.checked_mul(radix)?.checked_add(digit))
                .filter(|&more| more <= 0x10FFFF);
            if let Some(more) = more {
                self.number(next, radix, more, digits + 1, emit);
            }
        });
    }

    /// The rest of a named reference, `name[..length]` read so far, then an optional `;`.
    fn name(
        &self,
        at: usize,
        name: [u8; LONGEST_NAME],
        length: usize,
        emit: &mut dyn FnMut(char, usize),
    ) {
        let known = name.get(..length).and_then(entity);
        if let Some(character) = known {
            emit(character, at);
        }
        self.read(at, &mut |next_char, next| {
            if next_char == ';' {
                if let Some(character) = known {
                    emit(character, next);
                }
            } else if next_char.is_ascii_alphanumeric() && length < LONGEST_NAME {
                let mut longer = name;
                if let Some(slot) = longer.get_mut(length) {
                    *slot = next_char as u8;
                    self.name(next, longer, length + 1, emit);
                }
            }
        });
    }
}

/// Whether nothing in `text` can be read as an escape: every escape, however nested, starts
/// with a `\`, `%`, `&` or `+` written out, and `text` has none. Such a text has one reading,
/// the characters written.
pub(super) fn plain(text: &[u8]) -> bool {
    memchr::memchr3(b'\\', b'%', b'&', text).is_none() && memchr::memchr(b'+', text).is_none()
}

fn emit_code(code: u32, end: usize, emit: &mut dyn FnMut(char, usize)) {
    if let Some(character) = char::from_u32(code) {
        emit(character, end);
    }
}

/// Offsets fit: [`Readings::new`] reads no text over 4 GiB.
fn edge(start: usize, end: usize, character: char) -> Edge {
    let offset = |at: usize| u32::try_from(at).unwrap_or(u32::MAX);
    [offset(start), offset(end), u32::from(character)]
}

/// Pushes without letting the vector grow in place: a grown vector leaves its old buffer, with
/// the decoded characters in it, to the allocator unwiped.
fn push_wiped(edges: &mut Zeroizing<Vec<Edge>>, edge: Edge) {
    if edges.len() == edges.capacity() {
        let mut bigger = Zeroizing::new(Vec::with_capacity((edges.capacity() * 2).max(16)));
        bigger.extend_from_slice(edges);
        *edges = bigger; // the old buffer is wiped as it drops
    }
    edges.push(edge);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character readable from the start of `text` to its end, along any path.
    fn reads_whole(text: &str, wanted: &str) -> bool {
        let readings = Readings::new(text);
        assert!(readings.complete(), "{text}");
        let mut reach = vec![Vec::<usize>::new(); text.len() + 1];
        if let Some(first) = reach.first_mut() {
            first.push(0);
        }
        for at in 0..text.len() {
            let matched = std::mem::take(&mut reach[at]);
            readings.each(at, &mut |character, end| {
                for &k in &matched {
                    if wanted[k..].starts_with(character) {
                        reach[end].push(k + character.len_utf8());
                    }
                }
            });
        }
        reach[text.len()].contains(&wanted.len())
    }

    #[test]
    fn a_text_is_plain_when_no_byte_in_it_starts_an_escape() {
        assert!(plain(b"The user credentials were incorrect. <\xc3\xa4> #;"));
        assert!(plain(b""));
        for text in [&b"a\\/"[..], b"100%", b"&amp;", b"a+b"] {
            assert!(!plain(text), "{}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn a_numeric_reference_has_one_to_ten_digits_and_ends_at_them_or_a_semicolon() {
        // No digits: not a reference, so not a NUL.
        assert!(!reads_whole("&#", "\0"));
        assert!(!reads_whole("&#;", "\0"));
        // The reference ends after its digits or its `;`, not at any other character.
        assert!(reads_whole("&#65x", "Ax"));
        assert!(!reads_whole("&#65x", "A"));
        // Ten digits at most: an eleventh is a character of its own.
        assert!(reads_whole("&#0000000065", "A"));
        assert!(!reads_whole("&#00000000065", "A"));
        assert!(reads_whole("&#00000000065", "\u{6}5"));
    }

    #[test]
    fn each_encoding_reads_back() {
        for (text, wanted) in [
            (r#"a\u00e4\u00C4\/\"\\b"#, "aäÄ/\"\\b"),
            (r"\ud83d\ude00", "😀"),
            (r"\b\f\n\r\t", "\u{8}\u{c}\n\r\t"),
            ("&amp;&quot;&lt;&gt;&apos;&auml;&sol;", "&\"<>'ä/"),
            ("&#228;&#xe4;&#XE4;&#0228;&#228", "äääää"),
            ("%C3%a4%2b+%20%25", "ä+  %"),
            (r"\u0026amp;", "&"),
            ("%5Cu00e4", "ä"),
            ("%2541", "A"),
            ("\\&quot;", "\""),
            ("%26auml%3B", "ä"),
        ] {
            assert!(
                reads_whole(text, wanted),
                "{text} does not read as {wanted}"
            );
            assert!(reads_whole(text, text), "{text} does not read as itself");
        }
    }

    #[test]
    fn broken_escapes_read_only_literally() {
        for text in [
            r"\u00g4", r"\ud83d", "%C3", "%C3%41", "&#;", "&nosuch;", "%zz",
        ] {
            let readings = Readings::new(text);
            let mut escaped = 0;
            for at in 0..text.len() {
                readings.each(at, &mut |_, end| {
                    if end > at + 1 {
                        escaped += 1;
                    }
                });
            }
            // `&#;` and `&nosuch;` have no reading; `%C3%41` reads `%41` as `A` only.
            assert!(escaped <= 1, "{text}: {escaped}");
        }
    }

    #[test]
    fn a_text_that_needs_more_than_the_budget_is_not_complete() {
        // 1024 reads are allowed besides the budget per byte: this text needs more.
        let text = "%25".repeat(1000);
        assert!(Readings::new(&text).complete(), "within");
        assert!(
            !Readings::with_budget(&text, 0).complete(),
            "the budget ran out"
        );
    }

    #[test]
    fn hostile_texts_stay_within_the_budget() {
        for unit in ["%25", "\\\\", "&amp;", "%%", "&#", "+", "\\u00", "&#x25;"] {
            let text = unit.repeat(2000);
            assert!(Readings::new(&text).complete(), "{unit}");
        }
    }
}
