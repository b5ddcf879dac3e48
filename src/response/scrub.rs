//! Redacting secrets from what a server sent back, raw or in whatever escapes it wrote them:
//! a secret is found when some reading of the text (see [`Readings`]) spells it, and the bytes
//! of that reading are replaced whole.

use zeroize::Zeroizing;

use super::escapes::Readings;

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

/// The secrets to redact, each looked for in every reading of a text.
pub(super) struct Scrubber<'s> {
    secrets: Vec<&'s str>,
}

impl<'s> Scrubber<'s> {
    pub(super) fn new(secrets: impl IntoIterator<Item = &'s str>) -> Self {
        Self {
            secrets: secrets
                .into_iter()
                .filter(|secret| !secret.is_empty())
                .collect(),
        }
    }

    /// The first `shown` bytes (at most) of `text` with every secret replaced by `[redacted]`.
    /// `cut` says that `text` is only the start of what the server sent.
    pub(super) fn scrub(&self, text: &str, shown: usize, cut: bool) -> String {
        let end = floor_boundary(text, shown.saturating_add(LOOKAHEAD));
        let window = text.get(..end).unwrap_or_default();
        if self.secrets.is_empty() {
            return window
                .get(..floor_boundary(window, shown))
                .unwrap_or_default()
                .to_owned();
        }
        let readings = Readings::new(window);
        if !readings.complete() {
            return UNCHECKED.to_owned();
        }
        let cut = cut || end < text.len();
        let spans = matches(&readings, window.len(), &self.secrets, cut);
        redact(window, spans, shown)
    }

    /// [`Self::scrub`] for a body, which may not be UTF-8.
    pub(super) fn scrub_bytes(&self, bytes: &[u8], shown: usize) -> String {
        let start = window(bytes, shown);
        with_text(start, |text| {
            self.scrub(text, shown, start.len() < bytes.len())
        })
    }
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
    !readings.complete() || !matches(&readings, text.len(), names, false).is_empty()
}

/// A secret partly matched: `matched` bytes of it, read from byte `start` of the text.
#[derive(Clone, Copy)]
struct Open {
    secret: usize,
    matched: usize,
    start: usize,
}

/// The byte spans of `text` (`len` bytes long) that read as one of `secrets`, plus, when `cut`,
/// those still matching near the end.
fn matches(
    readings: &Readings<'_>,
    len: usize,
    secrets: &[&str],
    cut: bool,
) -> Vec<(usize, usize)> {
    // Every reading ends less than `ring` bytes after it starts, so the matches open at the
    // offsets still ahead fit in a ring of that many slots.
    let ring = readings.longest().max(4) + 1;
    let mut open: Vec<Vec<Open>> = vec![Vec::new(); ring];
    let mut spans = Vec::new();
    for at in 0..=len {
        let idle = open.get(at % ring).is_some_and(Vec::is_empty);
        if idle && !readings.escaped_at(at) {
            // Nothing open and nothing escaped: only the character written here can start a
            // match, and most characters start none (this skip keeps plain text cheap).
            let starts = readings.literal_at(at).is_some_and(|character| {
                secrets.iter().any(|secret| secret.starts_with(character))
            });
            if !starts {
                continue;
            }
        }
        let mut here = open
            .get_mut(at % ring)
            .map(std::mem::take)
            .unwrap_or_default();
        if cut && at + OPEN_AT_CUT >= len {
            spans.extend(here.iter().map(|open| (open.start, len)));
        }
        readings.each(at, &mut |character, end| {
            let starting = (0..secrets.len()).map(|secret| Open {
                secret,
                matched: 0,
                start: at,
            });
            for candidate in here.iter().copied().chain(starting) {
                let Some(secret) = secrets.get(candidate.secret) else {
                    continue;
                };
                let continues = secret
                    .get(candidate.matched..)
                    .is_some_and(|rest| rest.starts_with(character));
                if !continues {
                    continue;
                }
                let matched = candidate.matched + character.len_utf8();
                if matched == secret.len() {
                    spans.push((candidate.start, end));
                } else if let Some(slot) = open.get_mut(end % ring) {
                    add(
                        slot,
                        Open {
                            matched,
                            ..candidate
                        },
                    );
                }
            }
        });
        // The slot serves again `ring` bytes on: keep its buffer rather than allocate anew.
        here.clear();
        if let Some(slot) = open.get_mut(at % ring) {
            *slot = here;
        }
    }
    spans
}

/// Adds a partial match, keeping one per secret and length: the one starting first, so its
/// redaction covers the others.
fn add(slot: &mut Vec<Open>, new: Open) {
    match slot
        .iter_mut()
        .find(|open| open.secret == new.secret && open.matched == new.matched)
    {
        Some(open) => open.start = open.start.min(new.start),
        None => slot.push(new),
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
    use super::*;

    fn scrub(text: &str, secrets: &[&str]) -> String {
        Scrubber::new(secrets.iter().copied()).scrub(text, 4096, false)
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
    fn names_are_found_through_escapes() {
        assert!(mentions(r#"{"access\u005ftoken":1}"#, &["access_token"]));
        assert!(mentions("refresh%5Ftok&#101;n", &["x", "refresh_token"]));
        assert!(!mentions("access token", &["access_token"]));
    }
}
