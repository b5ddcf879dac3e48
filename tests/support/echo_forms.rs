//! The forms a server may echo a secret in, written independently of the crate's scrubber so a
//! test can check it: raw; JSON-escaped the serde, PHP and Laravel ways (`\/`, `\uXXXX` in
//! either case); HTML entities (named, decimal, hex in either case); percent-encoded the ways
//! PHP's `urlencode` and `rawurlencode` do it, in either case, and partly; one encoding inside
//! another; and per-character mixes. Plain std, so the fuzz crate shares the file (`#[path]`).
#![allow(dead_code)]

use std::fmt::Write;

/// Every whole-secret form of `secret`, each with a name for failure messages.
pub fn forms(secret: &str) -> Vec<(&'static str, String)> {
    let php = json_php(secret, Hex::Lower);
    vec![
        ("raw", secret.to_owned()),
        ("JSON (serde)", json_serde(secret)),
        ("JSON (PHP)", php.clone()),
        ("JSON (PHP, upper-case hex)", json_php(secret, Hex::Upper)),
        ("JSON (Laravel)", json_laravel(secret)),
        ("HTML (htmlspecialchars)", html_special(secret)),
        ("HTML (htmlentities)", html_entities(secret)),
        ("HTML (decimal)", html_numeric(secret, Numeric::Decimal)),
        ("HTML (&#x)", html_numeric(secret, Numeric::Hex(Hex::Lower))),
        (
            "HTML (&#x, upper-case hex)",
            html_numeric(secret, Numeric::Hex(Hex::Upper)),
        ),
        ("HTML (&#X)", html_numeric(secret, Numeric::HexUpperX)),
        ("urlencode", percent(secret, Percent::Urlencode, Hex::Upper)),
        (
            "urlencode, lower",
            percent(secret, Percent::Urlencode, Hex::Lower),
        ),
        ("rawurlencode", percent(secret, Percent::Raw, Hex::Upper)),
        (
            "rawurlencode, lower",
            percent(secret, Percent::Raw, Hex::Lower),
        ),
        (
            "percent, partly",
            percent(secret, Percent::Partly, Hex::Upper),
        ),
        ("HTML of JSON", html_special(&php)),
        ("JSON of HTML", json_laravel(&html_entities(secret))),
        (
            "urlencode of JSON",
            percent(&php, Percent::Urlencode, Hex::Upper),
        ),
        (
            "urlencode twice",
            percent(
                &percent(secret, Percent::Urlencode, Hex::Upper),
                Percent::Urlencode,
                Hex::Lower,
            ),
        ),
    ]
}

/// `secret` with each character written in the form `picks` chooses for it (raw, a JSON escape,
/// an HTML entity, a percent escape, `+` for a space), as a sloppy server might mix them.
pub fn mixed(secret: &str, picks: &[u8]) -> String {
    let mut out = String::new();
    for (index, c) in secret.chars().enumerate() {
        let pick = picks.get(index % picks.len().max(1)).copied().unwrap_or(0);
        let text = c.to_string();
        out.push_str(&match pick % 9 {
            0 => text,
            1 => json_php(&text, Hex::Lower),
            2 => json_escape_all(&text, Hex::Upper),
            3 => html_entities(&text),
            4 => html_numeric(&text, Numeric::Decimal),
            5 => html_numeric(&text, Numeric::HexUpperX),
            6 => percent(&text, Percent::Urlencode, Hex::Lower),
            7 => percent(&text, Percent::Raw, Hex::Upper),
            _ => percent_all(&text),
        });
    }
    out
}

/// Every form of each of some secrets, worked out once.
pub struct AllForms(Vec<(String, String)>);

impl AllForms {
    pub fn of(secrets: &[&str]) -> Self {
        let mut all = Vec::new();
        for secret in secrets {
            for (name, form) in forms(secret) {
                all.push((format!("{name} form {form:?} of {secret:?}"), form));
            }
        }
        Self(all)
    }

    /// Adds one more form to look for.
    pub fn add(&mut self, label: &str, form: String) {
        self.0.push((format!("{label} {form:?}"), form));
    }

    /// Which form `text` shows, if any.
    pub fn shown_in(&self, text: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(_, form)| text.contains(form.as_str()))
            .map(|(label, _)| label.as_str())
    }
}

/// `text` as a JSON string's content, the way a server writing `style` would.
pub fn json_string_content(text: &str, style: JsonStyle) -> String {
    match style {
        JsonStyle::Serde => json_serde(text),
        JsonStyle::Php => json_php(text, Hex::Lower),
        JsonStyle::Laravel => json_laravel(text),
    }
}

/// How a server writes JSON strings.
#[derive(Clone, Copy, Debug)]
pub enum JsonStyle {
    /// Only `"`, `\` and control characters escaped.
    Serde,
    /// PHP's `json_encode`: also `\/` and every non-ASCII character as `\uxxxx`.
    Php,
    /// Laravel's `JsonResponse` (`JSON_HEX_TAG | JSON_HEX_APOS | JSON_HEX_AMP | JSON_HEX_QUOT`):
    /// also `<>'&"` as upper-case `\u003C`-style escapes.
    Laravel,
}

/// Every JSON style.
pub const JSON_STYLES: [JsonStyle; 3] = [JsonStyle::Serde, JsonStyle::Php, JsonStyle::Laravel];

#[derive(Clone, Copy)]
enum Hex {
    Lower,
    Upper,
}

#[derive(Clone, Copy)]
enum Numeric {
    Decimal,
    Hex(Hex),
    HexUpperX,
}

#[derive(Clone, Copy)]
enum Percent {
    /// PHP's `urlencode`: letters, digits and `-_.` kept, space as `+`.
    Urlencode,
    /// PHP's `rawurlencode`: letters, digits and `-_.~` kept, space as `%20`.
    Raw,
    /// Only what a URL cannot hold raw: space, `%"<>\^`{|}` and non-ASCII.
    Partly,
}

fn hex_unit(out: &mut String, prefix: &str, value: u32, width: usize, hex: Hex) {
    let _ = match hex {
        Hex::Lower => write!(out, "{prefix}{value:0width$x}"),
        Hex::Upper => write!(out, "{prefix}{value:0width$X}"),
    };
}

fn json_control(out: &mut String, c: char) -> bool {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if u32::from(c) < 0x20 => hex_unit(out, "\\u", u32::from(c), 4, Hex::Lower),
        _ => return false,
    }
    true
}

fn json_serde(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if !json_control(&mut out, c) {
            out.push(c);
        }
    }
    out
}

fn json_utf16(out: &mut String, c: char, hex: Hex) {
    for unit in c.encode_utf16(&mut [0; 2]) {
        hex_unit(out, "\\u", u32::from(*unit), 4, hex);
    }
}

fn json_php(text: &str, hex: Hex) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if json_control(&mut out, c) {
            continue;
        }
        match c {
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => json_utf16(&mut out, c, hex),
        }
    }
    out
}

fn json_laravel(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '<' | '>' | '\'' | '&' | '"' => hex_unit(&mut out, "\\u", u32::from(c), 4, Hex::Upper),
            c => out.push_str(&json_php(&c.to_string(), Hex::Lower)),
        }
    }
    out
}

fn json_escape_all(text: &str, hex: Hex) -> String {
    let mut out = String::new();
    for c in text.chars() {
        json_utf16(&mut out, c, hex);
    }
    out
}

/// A few named entities, enough for the test secrets; the crate knows many more.
const NAMED: [(char, &str); 16] = [
    ('&', "amp"),
    ('"', "quot"),
    ('<', "lt"),
    ('>', "gt"),
    ('\'', "apos"),
    ('ä', "auml"),
    ('ö', "ouml"),
    ('ü', "uuml"),
    ('ï', "iuml"),
    ('é', "eacute"),
    ('è', "egrave"),
    ('à', "agrave"),
    ('ß', "szlig"),
    ('Ä', "Auml"),
    ('€', "euro"),
    ('©', "copy"),
];

fn html_special(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#039;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn html_entities(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match NAMED.iter().find(|(named, _)| *named == c) {
            Some((_, name)) => {
                let _ = write!(out, "&{name};");
            }
            None if c.is_ascii() => out.push(c),
            None => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
        }
    }
    out
}

fn html_numeric(text: &str, numeric: Numeric) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            continue;
        }
        let value = u32::from(c);
        let _ = match numeric {
            Numeric::Decimal => write!(out, "&#{value};"),
            Numeric::Hex(Hex::Lower) => write!(out, "&#x{value:x};"),
            Numeric::Hex(Hex::Upper) => write!(out, "&#x{value:X};"),
            Numeric::HexUpperX => write!(out, "&#X{value:X};"),
        };
    }
    out
}

fn percent(text: &str, style: Percent, hex: Hex) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let kept = match style {
            Percent::Urlencode => c.is_ascii_alphanumeric() || "-_.".contains(c),
            Percent::Raw => c.is_ascii_alphanumeric() || "-_.~".contains(c),
            Percent::Partly => {
                c.is_ascii() && !c.is_ascii_control() && !" %\"<>\\^`{|}".contains(c)
            }
        };
        if kept {
            out.push(c);
        } else if c == ' ' && matches!(style, Percent::Urlencode) {
            out.push('+');
        } else {
            for byte in c.to_string().bytes() {
                hex_unit(&mut out, "%", u32::from(byte), 2, hex);
            }
        }
    }
    out
}

fn percent_all(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        hex_unit(&mut out, "%", u32::from(byte), 2, Hex::Lower);
    }
    out
}
