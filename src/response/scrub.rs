//! Redacting secrets from what a server sent back, raw or in whatever escapes it wrote them:
//! a secret is found when some reading of the text (see [`Readings`]) spells it, or spells a
//! long enough run of its characters, and the bytes of that reading are replaced.
//!
//! # Partial echoes
//!
//! A server that quotes part of a secret (`hint: password starts with Hunter2XYZ`) leaks it as
//! surely as one quoting it whole, so any run of consecutive characters of a secret, taken from
//! anywhere in it, is redacted once it is [`run_length`] characters long: half the secret
//! (rounded up), but never more than [`RUN_CAP`] characters nor fewer than [`RUN_FLOOR`]. A
//! secret shorter than the floor is redacted only whole: a run of one or two characters would
//! redact letters all through an error message, and a run as long as such a secret is the
//! secret itself. Some words of a message that happen to share a run with a secret are
//! redacted too; the error's kind, worked out from the response before scrubbing, still says
//! what happened. Runs are found in every reading, like whole secrets: `Hunter2\u0058YZ` is a
//! run of `Hunter2XYZ`.
//!
//! The runs looked for (the *grams*: every run of that length of every secret) are sorted once,
//! so the grams that begin with what a reading has spelled so far are one range of them, which
//! each character read narrows by a binary search. A match costs the same however many secrets
//! share its characters, or however many times they repeat in one.
//!
//! # Plain texts
//!
//! Most texts an error shows (Passport's messages, a JSON body) have nothing that reads as an
//! escape ([`escapes::plain`]): their one reading is the characters written, so a gram is found
//! exactly where its bytes are. Such a text, unless cut short, is not read through [`Readings`]:
//! each offset whose two bytes begin some gram ([`Starts`], a bit set made once per scrubber)
//! is checked against each secret's run there, and the spans are the same as the readings
//! would give (a differential test runs both on arbitrary texts).

use std::cell::OnceCell;

use zeroize::Zeroizing;

use super::escapes::{self, Readings};

/// What replaces a secret.
const REDACTED: &str = "[redacted]";
/// What replaces a text whose escapes were too many to check.
const UNCHECKED: &str = "[withheld: too many escapes to check for secrets]";
/// How far past what is shown a text is read, so a secret starting in view is found whole.
const LOOKAHEAD: usize = 1024;
/// A match still open this close to the end of a text that was cut short is redacted to the
/// end: the rest of the secret, or of an escape in it, was cut off. Less than [`LOOKAHEAD`], so
/// only text beyond what is shown is redacted this way, unless the match started in view.
const OPEN_AT_CUT: usize = 256;
/// The longest run of a secret's characters that may show: six characters of a long password
/// are already enough to help guess the rest.
const RUN_CAP: usize = 6;
/// The shortest run redacted: with fewer, common letter pairs of a message would be redacted
/// wherever a short secret holds them.
const RUN_FLOOR: usize = 3;

/// How many consecutive characters of a secret `length` characters long are redacted where
/// they show (see the [module docs](self)).
fn run_length(length: usize) -> usize {
    if length < RUN_FLOOR {
        length
    } else {
        length.div_ceil(2).clamp(RUN_FLOOR, RUN_CAP)
    }
}

/// The runs of characters looked for (grams): every run of [`run_length`] characters of each
/// secret, or a whole text. Only offsets into the texts, sorted by the bytes they span (which
/// sorts them by characters, a gram before its extensions) and each only once. Wiped all the
/// same: their order says something of the secrets.
struct Grams<'s> {
    texts: Vec<&'s str>,
    /// `[text, start, end]`: the gram `texts[text][start..end]`.
    grams: Zeroizing<Vec<[usize; 3]>>,
    /// Each character a gram starts with (as a number) and the range of the grams that do,
    /// sorted: the first step of every match is one lookup.
    firsts: Zeroizing<Vec<[usize; 3]>>,
}

impl<'s> Grams<'s> {
    /// The grams of `secrets`: any run of [`run_length`] of their characters.
    fn of_secrets(secrets: impl IntoIterator<Item = &'s str>) -> Self {
        Self::new(secrets, |secret| run_length(secret.chars().count()))
    }

    /// `names`, found only whole.
    fn whole(names: impl IntoIterator<Item = &'s str>) -> Self {
        Self::new(names, |name| name.chars().count())
    }

    fn new(texts: impl IntoIterator<Item = &'s str>, run: impl Fn(&str) -> usize) -> Self {
        let texts: Vec<&str> = texts.into_iter().filter(|text| !text.is_empty()).collect();
        let counts = |text: &&str| text.chars().count().saturating_sub(run(text)) + 1;
        // Sized up front: a vector that grows leaves its old buffer unwiped.
        let mut grams = Zeroizing::new(Vec::with_capacity(texts.iter().map(counts).sum()));
        for (index, text) in texts.iter().enumerate() {
            let starts = text.char_indices().map(|(at, _)| at);
            let ends = text
                .char_indices()
                .map(|(at, _)| at)
                .chain([text.len()])
                .skip(run(text));
            grams.extend(starts.zip(ends).map(|(start, end)| [index, start, end]));
        }
        let bytes = |&[text, start, end]: &[usize; 3]| {
            texts
                .get(text)
                .and_then(|text| text.as_bytes().get(start..end))
                .unwrap_or_default()
        };
        grams.sort_unstable_by(|a, b| bytes(a).cmp(bytes(b)));
        grams.dedup_by(|a, b| bytes(a) == bytes(b));
        let mut found = Self {
            texts,
            grams,
            firsts: Zeroizing::new(Vec::new()),
        };
        let same = |a: &[usize; 3], b: &[usize; 3]| found.next(a, 0) == found.next(b, 0);
        let mut firsts = Zeroizing::new(Vec::with_capacity(found.grams.chunk_by(same).count()));
        let mut lo = 0;
        for group in found.grams.chunk_by(same) {
            let first = group.first().and_then(|gram| found.next(gram, 0));
            firsts.push([
                first.map_or(0, |first| u32::from(first) as usize),
                lo,
                lo + group.len(),
            ]);
            lo += group.len();
        }
        found.firsts = firsts;
        found
    }

    /// The character of `gram` after its first `matched` bytes, if it has more.
    fn next(&self, &[text, start, end]: &[usize; 3], matched: usize) -> Option<char> {
        self.texts
            .get(text)
            .and_then(|text| text.get(start + matched..end))
            .and_then(|rest| rest.chars().next())
    }

    /// The grams starting with `character`, if any.
    fn first(&self, character: char) -> Option<[usize; 2]> {
        let key = u32::from(character) as usize;
        let at = self.firsts.partition_point(|&[first, ..]| first < key);
        match self.firsts.get(at) {
            Some(&[first, lo, hi]) if first == key => Some([lo, hi]),
            _ => None,
        }
    }

    /// The grams of `range` (which all start with the same `matched` bytes) whose next
    /// character is `character`, if any.
    fn narrow(&self, [lo, hi]: [usize; 2], matched: usize, character: char) -> Option<[usize; 2]> {
        let grams = self.grams.get(lo..hi)?;
        // Sharing the bytes before it, the grams of a range are sorted by their next character
        // (characters sort as their UTF-8 bytes do), a gram that has none coming first.
        let next = |gram: &[usize; 3]| self.next(gram, matched);
        let first = grams.partition_point(|gram| next(gram) < Some(character));
        // Few grams go on with one character: look for their end from the first, doubling.
        let mut step = 1;
        let mut after = first;
        while grams
            .get(after)
            .is_some_and(|gram| next(gram) == Some(character))
        {
            after += step;
            step *= 2;
        }
        let from = after.saturating_sub(step / 2).max(first);
        let after = from
            + grams
                .get(from..after.min(grams.len()))
                .unwrap_or_default()
                .partition_point(|gram| next(gram) == Some(character));
        (first < after).then_some([lo + first, lo + after])
    }

    /// Whether the first gram of `range` is `matched` bytes long: read whole.
    fn complete(&self, [lo, _]: [usize; 2], matched: usize) -> bool {
        self.grams
            .get(lo)
            .is_some_and(|&[_, start, end]| start + matched == end)
    }
}

/// Where a gram may start in a plain text: the first two bytes of every gram, hashed into a
/// bit set, and the first byte of the one-character secrets, if any (their grams may be one
/// byte long). Wiped: which bytes a secret holds says something of it.
struct Starts {
    pairs: Zeroizing<[u64; PAIR_WORDS]>,
    singles: Option<Zeroizing<[u64; 4]>>,
    /// The run length of each secret, in characters, in the scrubber's order.
    runs: Vec<usize>,
}

/// The words of [`Starts::pairs`]: 4096 bits, so that the few hundred pairs of a token set
/// leave most of them clear.
const PAIR_WORDS: usize = 64;

impl Starts {
    fn of_secrets(secrets: &[&str]) -> Self {
        let mut starts = Self {
            pairs: Zeroizing::new([0; PAIR_WORDS]),
            singles: None,
            runs: Vec::with_capacity(secrets.len()),
        };
        for secret in secrets {
            let characters = secret.chars().count();
            let run = run_length(characters);
            starts.runs.push(run);
            // A gram starts at each of the first `characters - run + 1` characters.
            for (at, _) in secret.char_indices().take(characters + 1 - run) {
                match secret.as_bytes().get(at..) {
                    // A one-character secret, whole.
                    Some([first, ..]) if run == 1 => {
                        let singles = starts.singles.get_or_insert_with(|| Zeroizing::new([0; 4]));
                        set(&mut singles[..], usize::from(*first));
                    }
                    Some([first, second, ..]) => {
                        set(&mut starts.pairs[..], pair(*first, *second));
                    }
                    _ => {}
                }
            }
        }
        starts
    }

    /// The offsets of `text` where a gram may start, in order.
    fn candidates<'t>(&'t self, text: &'t [u8]) -> impl Iterator<Item = usize> + 't {
        let singles = self.singles.as_deref();
        let single = move |byte: u8| singles.is_some_and(|singles| has(singles, usize::from(byte)));
        let pairs = text.windows(2).enumerate().filter_map(move |(at, two)| {
            let (&first, &second) = (two.first()?, two.get(1)?);
            let hit = has(&self.pairs[..], pair(first, second)) || single(first);
            hit.then_some(at)
        });
        // The last byte starts no pair.
        let last = text
            .len()
            .checked_sub(1)
            .filter(|&at| text.get(at).is_some_and(|&byte| single(byte)));
        pairs.chain(last)
    }
}

/// The bit of [`Starts::pairs`] for two bytes.
fn pair(first: u8, second: u8) -> usize {
    (usize::from(first) * 31 + usize::from(second)) % (PAIR_WORDS * 64)
}

fn set(bits: &mut [u64], bit: usize) {
    if let Some(word) = bits.get_mut(bit / 64) {
        *word |= 1 << (bit % 64);
    }
}

fn has(bits: &[u64], bit: usize) -> bool {
    bits.get(bit / 64)
        .is_some_and(|word| word & (1 << (bit % 64)) != 0)
}

/// The secrets to redact, each looked for in every reading of a text.
pub(super) struct Scrubber<'s> {
    secrets: Vec<&'s str>,
    /// Their grams, worked out when a first text with escapes is scrubbed: every token
    /// response makes a scrubber, one that is accepted scrubs nothing, and plain texts need
    /// only the [`Starts`].
    grams: OnceCell<Grams<'s>>,
    /// Where their grams start, worked out when a first plain text is scrubbed.
    starts: OnceCell<Starts>,
}

impl<'s> Scrubber<'s> {
    pub(super) fn new(secrets: impl IntoIterator<Item = &'s str>) -> Self {
        Self {
            secrets: secrets
                .into_iter()
                .filter(|secret| !secret.is_empty())
                .collect(),
            grams: OnceCell::new(),
            starts: OnceCell::new(),
        }
    }

    /// The first `shown` bytes (at most) of `text` with every secret, and every run of one
    /// long enough, replaced by `[redacted]`. `cut` says that `text` is only the start of what
    /// the server sent.
    pub(super) fn scrub(&self, text: &str, shown: usize, cut: bool) -> String {
        self.scrub_with(text, shown, cut, true)
    }

    /// [`Self::scrub`], a plain text not cut short taken the plain way when `plain_way`.
    fn scrub_with(&self, text: &str, shown: usize, cut: bool, plain_way: bool) -> String {
        let end = floor_boundary(text, shown.saturating_add(LOOKAHEAD));
        let window = text.get(..end).unwrap_or_default();
        if self.secrets.is_empty() {
            return window
                .get(..floor_boundary(window, shown))
                .unwrap_or_default()
                .to_owned();
        }
        let cut = cut || end < text.len();
        // A text cut short is read through, for the matches still open at its end.
        if plain_way
            && !cut
            && escapes::plain(window.as_bytes())
            && u32::try_from(window.len()).is_ok()
        {
            return redact(window, self.plain_matches(window), shown);
        }
        self.read_through(window, shown, cut)
    }

    /// [`Self::scrub`] of `window`, read through every escape.
    fn read_through(&self, window: &str, shown: usize, cut: bool) -> String {
        let readings = Readings::new(window);
        if !readings.complete() {
            return UNCHECKED.to_owned();
        }
        let grams = self
            .grams
            .get_or_init(|| Grams::of_secrets(self.secrets.iter().copied()));
        let spans = matches(&readings, window.len(), grams, cut);
        redact(window, spans, shown)
    }

    /// The spans of a plain `text` that spell a gram: from each offset where one starts, the
    /// longest that does (the shorter ones there are inside it).
    fn plain_matches(&self, text: &str) -> Vec<(usize, usize)> {
        let starts = self
            .starts
            .get_or_init(|| Starts::of_secrets(&self.secrets));
        let mut spans = Vec::new();
        for at in starts.candidates(text.as_bytes()) {
            // Not a character's start (a hashed pair may be a false hit): no gram there.
            let Some(rest) = text.get(at..) else {
                continue;
            };
            let longest = self
                .secrets
                .iter()
                .zip(&starts.runs)
                .filter_map(|(secret, &run)| {
                    let length = prefix_len(rest, run)?;
                    let run = rest.get(..length)?;
                    secret.contains(run).then_some(length)
                })
                .max();
            if let Some(length) = longest {
                spans.push((at, at + length));
            }
        }
        spans
    }

    /// [`Self::scrub`] for a body, which may not be UTF-8.
    pub(super) fn scrub_bytes(&self, bytes: &[u8], shown: usize) -> String {
        let start = window(bytes, shown);
        with_text(start, |text| {
            self.scrub(text, shown, start.len() < bytes.len())
        })
    }
}

/// The length in bytes of the first `characters` characters of `text`, if it has that many.
fn prefix_len(text: &str, characters: usize) -> Option<usize> {
    text.char_indices()
        .map(|(at, _)| at)
        .chain([text.len()])
        .nth(characters)
}

/// The start of `bytes` that is read to show `shown` bytes of it.
pub(super) fn window(bytes: &[u8], shown: usize) -> &[u8] {
    bytes
        .get(..bytes.len().min(shown.saturating_add(LOOKAHEAD)))
        .unwrap_or_default()
}

/// Calls `read` with `bytes` as text, each invalid UTF-8 sequence read as U+FFFD. The copy that
/// takes is sized up front (so no outgrown block keeps part of it) and wiped.
pub(super) fn with_text<R>(bytes: &[u8], read: impl FnOnce(&str) -> R) -> R {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return read(text);
    }
    let replaced = |chunk: &std::str::Utf8Chunk<'_>| !chunk.invalid().is_empty();
    let size = bytes
        .utf8_chunks()
        .map(|chunk| chunk.valid().len() + if replaced(&chunk) { 3 } else { 0 })
        .sum();
    let mut text = Zeroizing::new(String::with_capacity(size));
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        if replaced(&chunk) {
            text.push(char::REPLACEMENT_CHARACTER);
        }
    }
    read(&text)
}

/// Whether some reading of `text` spells one of `names` (`access\u005ftoken` spells
/// `access_token`). A text too hostile to read counts as naming them.
pub(super) fn mentions(text: &str, names: &[&str]) -> bool {
    let readings = Readings::new(text);
    let names = Grams::whole(names.iter().copied());
    !readings.complete() || !matches(&readings, text.len(), &names, false).is_empty()
}

/// A gram partly matched: the first `matched` bytes of the grams in `range` (which they share),
/// read from byte `start` of the text to byte `end`, where the next character is read.
#[derive(Clone, Copy)]
struct Open {
    range: [usize; 2],
    matched: usize,
    start: usize,
    end: usize,
}

/// How many partial matches the buffers of [`matches()`] hold before they grow: the few that a
/// plain text keeps open at once, so that one allocation each is the usual cost.
const OPEN_CAPACITY: usize = 16;

/// The byte spans of `text` (`len` bytes long) that read as one of `grams`, plus, when `cut`,
/// those still matching near the end. A run longer than a gram is covered by the grams it is
/// made of, whose spans overlap.
fn matches(
    readings: &Readings<'_>,
    len: usize,
    grams: &Grams<'_>,
    cut: bool,
) -> Vec<(usize, usize)> {
    // The matches still open, and those whose next character is read at the current offset.
    let mut open: Vec<Open> = Vec::with_capacity(OPEN_CAPACITY);
    let mut here: Vec<Open> = Vec::with_capacity(OPEN_CAPACITY);
    // Without escapes, one path reads to each offset, so no two matches meet to be merged.
    let one_path = readings.longest() == 0;
    let mut spans = Vec::new();
    for at in 0..=len {
        if open.is_empty() && !readings.escaped_at(at) {
            // Nothing open and nothing escaped: only the character written here can start a
            // match, and most characters start none (this skip keeps plain text cheap).
            let starts = readings
                .literal_at(at)
                .is_some_and(|character| grams.first(character).is_some());
            if !starts {
                continue;
            }
        }
        here.clear();
        open.retain(|open| {
            let now = open.end == at;
            if now {
                here.push(*open);
            }
            !now
        });
        if cut && at + OPEN_AT_CUT >= len {
            spans.extend(here.iter().map(|open| (open.start, len)));
        }
        readings.each(at, &mut |character, end| {
            let continued = here.iter().filter_map(|open| {
                Some((*open, grams.narrow(open.range, open.matched, character)?))
            });
            let started = grams.first(character).map(|range| {
                let open = Open {
                    range,
                    matched: 0,
                    start: at,
                    end: at,
                };
                (open, range)
            });
            for (from, [lo, hi]) in continued.chain(started) {
                let matched = from.matched + character.len_utf8();
                // A gram read whole comes first in its range, and goes no further.
                let lo = if grams.complete([lo, hi], matched) {
                    spans.push((from.start, end));
                    lo + 1
                } else {
                    lo
                };
                if lo == hi {
                    continue;
                }
                let next = Open {
                    range: [lo, hi],
                    matched,
                    start: from.start,
                    end,
                };
                if one_path {
                    open.push(next);
                } else {
                    add(&mut open, next);
                }
            }
        });
    }
    spans
}

/// Adds a partial match, keeping one per offset and characters read (which its range and
/// length name): the one starting first, so its redaction covers the others.
fn add(open: &mut Vec<Open>, new: Open) {
    match open
        .iter_mut()
        .find(|open| open.end == new.end && open.range == new.range && open.matched == new.matched)
    {
        Some(open) => open.start = open.start.min(new.start),
        None => open.push(new),
    }
}

/// `text` with `spans` replaced (overlapping ones as one), cut to `shown` bytes.
fn redact(text: &str, mut spans: Vec<(usize, usize)>, shown: usize) -> String {
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    // Sized up front, and nothing beyond what is shown is copied.
    let mut out = String::with_capacity(shown.min(text.len() + merged.len() * REDACTED.len()));
    let push = |out: &mut String, piece: &str| {
        let room = shown.saturating_sub(out.len());
        out.push_str(piece.get(..floor_boundary(piece, room)).unwrap_or_default());
    };
    let mut from = 0;
    for (start, end) in merged {
        push(&mut out, text.get(from..start).unwrap_or_default());
        push(&mut out, REDACTED);
        from = end;
    }
    push(&mut out, text.get(from..).unwrap_or_default());
    out
}

/// The largest char boundary of `text` at or before `at`.
pub(super) fn floor_boundary(text: &str, at: usize) -> usize {
    let mut end = text.len().min(at);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn scrub(text: &str, secrets: &[&str]) -> String {
        Scrubber::new(secrets.iter().copied()).scrub(text, 4096, false)
    }

    /// The scrubber as it was before plain texts had a way of their own: every text read
    /// through every escape. The reference the plain way is held to.
    fn read_through(scrubber: &Scrubber<'_>, text: &str, shown: usize, cut: bool) -> String {
        scrubber.scrub_with(text, shown, cut, false)
    }

    /// [`Scrubber::scrub_bytes`], every text read through.
    fn read_bytes_through(scrubber: &Scrubber<'_>, bytes: &[u8], shown: usize) -> String {
        let start = window(bytes, shown);
        with_text(start, |text| {
            read_through(scrubber, text, shown, start.len() < bytes.len())
        })
    }

    /// Few characters, so that texts share runs with secrets; two of them are several bytes
    /// long.
    const LETTERS: &str = "[abcxyz\u{e4}\u{20ac} _.-]";

    fn secrets() -> impl Strategy<Value = Vec<String>> {
        let secret = prop_oneof![
            4 => proptest::string::string_regex(&format!("{LETTERS}{{1,20}}")).unwrap(),
            1 => "[abc%&+\\\\]{1,12}",
        ];
        prop::collection::vec(secret, 1..4)
    }

    /// Pieces of a text: runs of the secrets, from anywhere in them, other letters, and (when
    /// `escapes`) what reads as an escape.
    fn text(secrets: Vec<String>, escapes: bool) -> impl Strategy<Value = String> {
        let run = (
            prop::sample::select(secrets),
            any::<prop::sample::Index>(),
            1..9usize,
        )
            .prop_map(|(secret, start, length)| {
                let characters: Vec<char> = secret.chars().collect();
                let start = start.index(characters.len());
                characters
                    .iter()
                    .skip(start)
                    .take(length)
                    .collect::<String>()
            });
        let letters = proptest::string::string_regex(&format!("{LETTERS}{{1,6}}")).unwrap();
        let escape = prop::sample::select(
            &[
                "%61", "%C3%A4", "&amp;", "&#97;", "\\u0061", "+", "%", "&", "\\",
            ][..],
        )
        .prop_map(String::from);
        let piece = prop_oneof![
            4 => run,
            4 => letters,
            if escapes { 1 } else { 0 } => escape,
        ];
        prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
    }

    fn secrets_and_text() -> impl Strategy<Value = (Vec<String>, String)> {
        (secrets(), any::<bool>()).prop_flat_map(|(secrets, escapes)| {
            let text = text(secrets.clone(), escapes);
            (Just(secrets), text)
        })
    }

    fn shown() -> impl Strategy<Value = usize> {
        prop::sample::select(&[0, 1, 7, 32, 512, 4096][..])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn the_plain_way_redacts_what_reading_through_does(
            (secrets, text) in secrets_and_text(),
            shown in shown(),
            cut in any::<bool>(),
        ) {
            let scrubber = Scrubber::new(secrets.iter().map(String::as_str));
            prop_assert_eq!(
                scrubber.scrub(&text, shown, cut),
                read_through(&scrubber, &text, shown, cut)
            );
        }

        #[test]
        fn the_plain_way_redacts_what_reading_through_does_in_bytes(
            (secrets, text) in secrets_and_text(),
            shown in shown(),
            bad in prop::collection::vec((any::<prop::sample::Index>(), 0x80..=0xffu8), 0..3),
            repeat in 1..4usize,
        ) {
            // Bytes that are not UTF-8 here and there, and a body long enough to be cut short.
            let mut bytes = text.repeat(repeat).into_bytes();
            for (at, byte) in bad {
                let at = at.index(bytes.len() + 1);
                bytes.insert(at, byte);
            }
            let scrubber = Scrubber::new(secrets.iter().map(String::as_str));
            prop_assert_eq!(
                scrubber.scrub_bytes(&bytes, shown),
                read_bytes_through(&scrubber, &bytes, shown)
            );
        }
    }

    #[test]
    fn plain_texts_take_the_plain_way_with_the_same_result() {
        // The examples of the tests below, plain: each side gives what the readings give.
        let secrets = ["Hunter2XYZabcdefghi", "äöüßéèà", "ab", "x"];
        let scrubber = Scrubber::new(secrets);
        for text in [
            "starts with Hunter2XYZ",
            "has unter2 in it, and ab, abc, x, xy",
            "xüßéèy and üßé",
            "<Hunter2XYZabcdefghiHunter>",
            "",
        ] {
            let plain = scrubber.scrub(text, 4096, false);
            assert_eq!(plain, read_through(&scrubber, text, 4096, false), "{text}");
        }
        assert_eq!(scrubber.scrub("<ab>x<unter2>", 8, false), "<[redact");
    }

    #[test]
    fn a_plain_text_is_checked_only_where_a_gram_may_start() {
        let secrets = ["abcdef", "x"];
        let starts = Starts::of_secrets(&secrets);
        // Grams of "abcdef" (runs of 3) start with ab, bc, cd, de; "x" is one byte long.
        let at: Vec<usize> = starts.candidates(b"zzabyydezz-x").collect();
        assert_eq!(at, [2, 6, 11]);
        assert_eq!(starts.runs, [3, 1]);
        // Only the first four characters of "abcdef" start a gram: "ef" does not.
        assert_eq!(starts.candidates(b"ef").count(), 0);
        // Without one-character secrets, a last byte is never a candidate.
        let starts = Starts::of_secrets(&["abcdef"]);
        assert_eq!(starts.candidates(b"zza").count(), 0);
        assert_eq!(starts.candidates(b"").count(), 0);
        // A one-character secret of several bytes is looked for from its first byte.
        let starts = Starts::of_secrets(&["\u{e4}"]);
        let at: Vec<usize> = starts.candidates("a\u{e4}b\u{e4}".as_bytes()).collect();
        assert_eq!(at, [1, 4]);
    }

    #[test]
    fn a_candidate_inside_a_character_is_passed_over() {
        // The bytes of "ä" (C3 A4) then "a" hash as " ]" does, which starts a gram of the
        // secret: the offset inside the character is a candidate, and no gram starts there.
        assert_eq!(pair(0xA4, b'a'), pair(b' ', b']'));
        let scrubber = Scrubber::new([" ]xyz"]);
        assert_eq!(
            scrubber.scrub("äa and  ]xy", 4096, false),
            "äa and [redacted]"
        );
    }

    #[test]
    fn a_secret_cut_off_by_the_window_is_redacted_from_its_start() {
        // A secret longer than the lookahead, starting in view: the window ends inside it, so
        // the text counts as cut and the open match is redacted from its start.
        let secret = "s".repeat(LOOKAHEAD * 2);
        let scrubber = Scrubber::new([secret.as_str()]);
        let text = format!("yyyyyyyy{secret}");
        // (The marker itself is cut to the 16 bytes shown.)
        let excerpt = scrubber.scrub(&text, 16, false);
        assert!(
            excerpt.starts_with("yyyyyyyy[") && !excerpt.contains('s'),
            "{excerpt}"
        );
        let bytes = scrubber.scrub_bytes(text.as_bytes(), 16);
        assert!(
            bytes.starts_with("yyyyyyyy[") && !bytes.contains('s'),
            "{bytes}"
        );
    }

    #[test]
    fn narrowing_finds_exactly_the_grams_that_go_on_with_a_character() {
        // Secrets over three letters share long prefixes, so the ranges narrowed are wide and
        // the doubling search runs far; each narrowing is checked against a plain scan.
        let mut seed: u64 = 7;
        let mut letter = || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ['a', 'b', 'c'][(seed >> 33) as usize % 3]
        };
        let secrets: Vec<String> = (0..40)
            .map(|length| (0..12 + length % 7).map(|_| letter()).collect())
            .collect();
        let grams = Grams::of_secrets(secrets.iter().map(String::as_str));
        let mut ranges: Vec<([usize; 2], usize)> = ['a', 'b', 'c']
            .into_iter()
            .filter_map(|first| Some((grams.first(first)?, 1)))
            .collect();
        let mut checked = 0;
        while let Some(([lo, hi], matched)) = ranges.pop() {
            for character in ['a', 'b', 'c'] {
                let going_on: Vec<usize> = (lo..hi)
                    .filter(|&at| grams.next(&grams.grams[at], matched) == Some(character))
                    .collect();
                let expected = going_on
                    .first()
                    .zip(going_on.last())
                    .map(|(&first, &last)| [first, last + 1]);
                let narrowed = grams.narrow([lo, hi], matched, character);
                assert_eq!(
                    narrowed, expected,
                    "{lo}..{hi} after {matched} bytes, {character}"
                );
                checked += 1;
                if let Some(range) = narrowed {
                    ranges.push((range, matched + 1));
                }
            }
        }
        assert!(checked > 100, "{checked}");
    }

    #[test]
    fn invalid_utf8_reads_as_a_replacement_character_where_it_stands() {
        let read = with_text(b"abc\xffdef\xfe", str::to_owned);
        assert_eq!(read, "abc\u{FFFD}def\u{FFFD}");
        let whole = with_text(b"abcdef", str::to_owned);
        assert_eq!(whole, "abcdef");
    }

    #[test]
    fn every_reading_of_a_secret_is_redacted_whole() {
        let secret = "p&ss \"wörd\"/";
        for echoed in [
            r#"p&ss "wörd"/"#,
            r#"p&ss \"w\u00f6rd\"\/"#,
            r"p\u0026ss \u0022w\u00F6rd\u0022\/",
            "p&amp;ss &quot;w&ouml;rd&quot;/",
            "p&#38;ss &#x22;w&#XF6;rd&#034;&sol;",
            "p%26ss+%22w%C3%B6rd%22%2F",
            "p%26ss%20%22w%c3%b6rd%22/",
            r"p\u0026amp;ss &quot;w%C3%B6rd\&quot;%2f",
        ] {
            assert_eq!(
                scrub(&format!("<{echoed}>"), &[secret]),
                "<[redacted]>",
                "{echoed}"
            );
        }
    }

    #[test]
    fn escape_lookalikes_in_a_secret_are_found_raw_and_escaped() {
        for secret in ["a%41b", "x&amp;y", r"q\u0041r", "1+2"] {
            let json = serde_json::to_string(secret).unwrap_or_default();
            let percent: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            for echoed in [secret, json.trim_matches('"'), &percent] {
                assert_eq!(scrub(&format!("[{echoed}]"), &[secret]), "[[redacted]]");
            }
        }
    }

    #[test]
    fn text_without_secrets_is_kept_and_cut_at_a_char_boundary() {
        assert_eq!(
            scrub("&amp; 100% \\u00e4", &["secret"]),
            "&amp; 100% \\u00e4"
        );
        assert_eq!(Scrubber::new(["s"]).scrub("ääx", 3, false), "ä");
        assert_eq!(Scrubber::new([""]).scrub("abc", 2, false), "ab");
    }

    #[test]
    fn a_secret_cut_off_at_the_end_of_a_cut_text_is_redacted_from_its_start() {
        let text = format!("{}secret-tok", "x".repeat(100));
        let shown = Scrubber::new(["secret-token"]).scrub(&text, 200, true);
        assert_eq!(shown, format!("{}[redacted]", "x".repeat(100)));
        let half_escape = format!("{}secret-to%6", "x".repeat(100));
        let shown = Scrubber::new(["secret-token"]).scrub(&half_escape, 200, true);
        assert_eq!(shown, format!("{}[redacted]", "x".repeat(100)));
    }

    #[test]
    fn a_long_text_is_read_past_what_is_shown() {
        let text = format!("{}my-secret{}", "x".repeat(500), "y".repeat(5000));
        let shown = Scrubber::new(["my-secret"]).scrub(&text, 505, false);
        assert_eq!(shown, format!("{}[reda", "x".repeat(500)));
    }

    #[test]
    fn runs_are_half_a_secret_between_three_and_six_characters() {
        let runs: Vec<usize> = (1..=12).map(run_length).collect();
        assert_eq!(runs, [1, 2, 3, 3, 3, 3, 4, 4, 5, 5, 6, 6]);
        assert_eq!(run_length(64), 6);
    }

    #[test]
    fn a_run_from_anywhere_in_a_secret_is_redacted_and_a_shorter_one_is_not() {
        let secret = ["Hunter2XYZabcdefghi"];
        for (text, shown) in [
            ("starts with Hunter2XYZ", "starts with [redacted]"),
            ("has unter2 in it", "has [redacted] in it"),
            ("ends ...defghi!", "ends ...[redacted]!"),
            // A run across the whole secret and past it is one redaction.
            ("<Hunter2XYZabcdefghiHunter>", "<[redacted]>"),
            // Runs of five characters are shown: the secret's runs are six long.
            ("Hunte, XYZab, efghH", "Hunte, XYZab, efghH"),
            // Escaped: `\u0058` is `X`.
            (r"is 2\u0058YZab?", "is [redacted]?"),
            ("is 2%58YZab?", "is [redacted]?"),
        ] {
            assert_eq!(scrub(text, &secret), shown, "{text}");
        }
    }

    #[test]
    fn runs_are_counted_in_characters() {
        // Seven characters, so runs of four (eight bytes here) are redacted, and of three not.
        let secret = ["äöüßéèà"];
        assert_eq!(scrub("xüßéèy", &secret), "x[redacted]y");
        assert_eq!(scrub("xüßéy", &secret), "xüßéy");
        assert_eq!(
            scrub(r"x\u00fc\u00DF&eacute;%C3%A8y", &secret),
            "x[redacted]y"
        );
    }

    #[test]
    fn short_secrets_are_redacted_by_runs_of_three_or_only_whole() {
        assert_eq!(
            scrub("ab abc bcd a b", &["ab"]),
            "[redacted] [redacted]c bcd a b"
        );
        assert_eq!(scrub("ab abc bcd", &["abc"]), "ab [redacted] bcd");
        assert_eq!(
            scrub("ab abc bcd cd", &["abcd"]),
            "ab [redacted] [redacted] cd"
        );
    }

    #[test]
    fn names_are_found_through_escapes() {
        assert!(mentions(r#"{"access\u005ftoken":1}"#, &["access_token"]));
        assert!(mentions("refresh%5Ftok&#101;n", &["x", "refresh_token"]));
        assert!(!mentions("access token", &["access_token"]));
        // Names are found only whole.
        assert!(!mentions("access_tok", &["access_token"]));
    }
}
