//! Reading a token endpoint's response: tolerant where real servers differ, strict where a
//! mistake would hand out a broken token.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use http::{HeaderMap, StatusCode, header::RETRY_AFTER};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use zeroize::Zeroizing;

use crate::error::{BODY_EXCERPT_LIMIT, Error, ErrorKind, ResponseDetails, RetryAfter};
use crate::request::RequestKind;
use crate::time::UnixTime;
use crate::token_set::check_access_token;

/// What a successful token response carries.
pub(crate) struct IssuedTokens {
    pub(crate) access_token: String,
    pub(crate) expires_in: Option<Duration>,
    pub(crate) refresh_token: Option<String>,
}

impl Drop for IssuedTokens {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.access_token.zeroize();
        self.refresh_token.zeroize();
    }
}

/// The fields of either a success or an error body. Borrowed where the JSON has no escapes, so
/// a typical Passport response is read without copying the token twice.
#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow, default)]
    access_token: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    token_type: Option<Cow<'a, str>>,
    #[serde(default)]
    expires_in: Option<ExpiresIn>,
    #[serde(borrow, default)]
    refresh_token: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    error: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    error_description: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    hint: Option<Cow<'a, str>>,
}

impl Drop for Body<'_> {
    fn drop(&mut self) {
        // A token with JSON escapes was decoded into an owned copy: wipe it.
        for token in [&mut self.access_token, &mut self.refresh_token] {
            if let Some(Cow::Owned(copy)) = token {
                zeroize::Zeroize::zeroize(copy);
            }
        }
    }
}

/// `expires_in` as sent: a number (integer or not) or a string holding one.
enum ExpiresIn {
    Seconds(u64),
    Invalid(String),
}

impl<'de> Deserialize<'de> for ExpiresIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ExpiresInVisitor;
        impl Visitor<'_> for ExpiresInVisitor {
            type Value = ExpiresIn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of seconds")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<ExpiresIn, E> {
                Ok(positive(value, || value.to_string()))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<ExpiresIn, E> {
                Ok(match u64::try_from(value) {
                    Ok(value) => positive(value, || value.to_string()),
                    Err(_) => ExpiresIn::Invalid(value.to_string()),
                })
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<ExpiresIn, E> {
                Ok(from_float(value))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<ExpiresIn, E> {
                let trimmed = value.trim();
                Ok(if let Ok(seconds) = trimmed.parse::<u64>() {
                    positive(seconds, || value.to_owned())
                } else {
                    match trimmed.parse::<f64>() {
                        Ok(seconds) if trimmed.bytes().all(|b| b.is_ascii_digit() || b == b'.') => {
                            from_float(seconds)
                        }
                        _ => ExpiresIn::Invalid(value.to_owned()),
                    }
                })
            }
        }
        deserializer.deserialize_any(ExpiresInVisitor)
    }
}

fn positive(seconds: u64, shown: impl FnOnce() -> String) -> ExpiresIn {
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
        ExpiresIn::Invalid(seconds.to_string())
    }
}

fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Parses a token response (password or refresh grant).
pub(crate) fn parse_token_response(
    kind: RequestKind,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[&str],
) -> Result<IssuedTokens, Error> {
    let json = strip_bom(body);
    let parsed = serde_json::from_slice::<Body<'_>>(json);
    let fail = |kind: ErrorKind, parsed: Option<&Body<'_>>| {
        Error::new(kind).with_response(details(status, headers, body, parsed, secrets))
    };
    let body_fields = match parsed {
        Ok(fields) => fields,
        Err(parse_error) => {
            let error_kind = classify(kind, status, None);
            let error = fail(error_kind, None);
            return Err(if status.is_success() {
                error.with_detail(format!(
                    "the body is not a token response: {}",
                    describe_json_error(&parse_error)
                ))
            } else {
                error
            });
        }
    };
    if !status.is_success() || body_fields.error.is_some() {
        return Err(fail(
            classify(kind, status, Some(&body_fields)),
            Some(&body_fields),
        ));
    }
    let unexpected = |detail: String| {
        fail(ErrorKind::UnexpectedResponse, Some(&body_fields)).with_detail(detail)
    };
    if let Some(token_type) = &body_fields.token_type
        && !token_type.eq_ignore_ascii_case("bearer")
    {
        return Err(unexpected(format!(
            "token type {} is not Bearer",
            quote(token_type, secrets)
        )));
    }
    let Some(access_token) = &body_fields.access_token else {
        return Err(unexpected("the body has no access_token".to_owned()));
    };
    check_access_token(access_token).map_err(|invalid| unexpected(invalid.to_string()))?;
    let expires_in = match &body_fields.expires_in {
        None => None,
        Some(ExpiresIn::Seconds(seconds)) => Some(Duration::from_secs(*seconds)),
        Some(ExpiresIn::Invalid(shown)) => {
            return Err(unexpected(format!(
                "expires_in {} is not a positive number of seconds",
                quote(shown, secrets)
            )));
        }
    };
    Ok(IssuedTokens {
        access_token: access_token.to_string(),
        expires_in,
        refresh_token: body_fields
            .refresh_token
            .as_ref()
            .filter(|token| !token.is_empty())
            .map(|token| token.to_string()),
    })
}

/// The refresh token of a 2xx body that was refused for another reason (a wrong token type, a
/// bad `expires_in`): Passport has already retired the old one, so this one must be kept.
pub(crate) fn salvage_refresh_token(status: StatusCode, body: &[u8]) -> Option<String> {
    if !status.is_success() {
        return None;
    }
    // Only this field is read, so a wrong type elsewhere does not hide it.
    #[derive(Deserialize)]
    struct RefreshOnly<'a> {
        #[serde(borrow, default)]
        refresh_token: Option<Cow<'a, str>>,
    }
    let parsed = serde_json::from_slice::<RefreshOnly<'_>>(strip_bom(body)).ok()?;
    let token = parsed.refresh_token.filter(|token| !token.is_empty())?;
    let owned = token.to_string();
    if let Cow::Owned(mut copy) = token {
        zeroize::Zeroize::zeroize(&mut copy);
    }
    Some(owned)
}

/// Parses a revocation response: any 2xx is success, whatever its body.
pub(crate) fn parse_revocation_response(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[&str],
) -> Result<(), Error> {
    if status.is_success() {
        return Ok(());
    }
    let parsed = serde_json::from_slice::<Body<'_>>(strip_bom(body)).ok();
    let kind = classify(RequestKind::Revocation, status, parsed.as_ref());
    Err(Error::new(kind)
        .with_response(details(status, headers, body, parsed.as_ref(), secrets))
        .from_revocation())
}

fn strip_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

fn describe_json_error(error: &serde_json::Error) -> String {
    // serde_json's messages name the offending type or field, never the value itself.
    let category = match error.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "JSON of the wrong shape",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    format!(
        "{category} (line {}, column {})",
        error.line(),
        error.column()
    )
}

/// Decides what an error response means for the caller.
fn classify(kind: RequestKind, status: StatusCode, body: Option<&Body<'_>>) -> ErrorKind {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return ErrorKind::RateLimited;
    }
    if status.is_server_error() {
        // Whatever the body claims, a 5xx is the server failing: never a reason to drop a
        // refresh token or stop the session.
        return ErrorKind::ServerError;
    }
    let code = body.and_then(|body| body.error.as_deref());
    match code {
        Some("invalid_client" | "unauthorized_client") => ErrorKind::InvalidClient,
        Some("invalid_grant" | "invalid_credentials") => match kind {
            RequestKind::PasswordGrant => ErrorKind::InvalidCredentials,
            RequestKind::RefreshGrant => ErrorKind::RefreshTokenRejected,
            RequestKind::Revocation => ErrorKind::InvalidRequest,
        },
        // Passport up to 8.5 answers a dead refresh token with 401 `invalid_request` and the
        // description "The refresh token is invalid."; a missing parameter is 400.
        Some("invalid_request")
            if kind == RequestKind::RefreshGrant
                && (status == StatusCode::UNAUTHORIZED
                    || body.is_some_and(mentions_refresh_token)) =>
        {
            ErrorKind::RefreshTokenRejected
        }
        Some("server_error" | "temporarily_unavailable") => ErrorKind::ServerError,
        Some(_) => ErrorKind::InvalidRequest,
        None => ErrorKind::UnexpectedResponse,
    }
}

fn mentions_refresh_token(body: &Body<'_>) -> bool {
    [&body.error_description, &body.message, &body.hint]
        .into_iter()
        .flatten()
        .any(|text| {
            let text = text.to_ascii_lowercase();
            // "The refresh token is invalid." or "Check the `refresh_token` parameter".
            text.contains("refresh token") || text.contains("refresh_token")
        })
}

fn details(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    parsed: Option<&Body<'_>>,
    secrets: &[&str],
) -> ResponseDetails {
    // Scrub before cutting: a secret straddling the cut would otherwise show its first part.
    let margin = secrets
        .iter()
        .map(|secret| secret.len() * 6)
        .max()
        .unwrap_or(0);
    // Each secret's escaped forms are worked out once for every field of this response.
    let scrubber = Scrubber::new(secrets);
    let text = |field: Option<&Cow<'_, str>>| {
        field
            .map(|value| {
                let scrubbed = scrubber.scrub(truncate(value, 512 + margin));
                if scrubbed.len() <= 512 {
                    return scrubbed; // nothing to cut: no second copy to make and wipe
                }
                let scrubbed = Zeroizing::new(scrubbed);
                truncate(&scrubbed, 512).to_owned()
            })
            .filter(|value| !value.trim().is_empty())
    };
    let description = parsed.and_then(|body| {
        text(body.error_description.as_ref()).or_else(|| text(body.message.as_ref()))
    });
    ResponseDetails {
        status,
        error: parsed.and_then(|body| text(body.error.as_ref())),
        description,
        hint: parsed.and_then(|body| text(body.hint.as_ref())),
        retry_after: retry_after(headers),
        body_excerpt: if carries_tokens(body, parsed) {
            format!("[{} bytes withheld: the body carries tokens]", body.len())
        } else {
            excerpt_with(body, secrets, &scrubber)
        },
        body_len: body.len(),
    }
}

/// `Retry-After` as delay-seconds or an HTTP date; anything else is ignored.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<RetryAfter> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(RetryAfter::Delay(Duration::from_secs(seconds)));
    }
    httpdate::parse_http_date(value)
        .ok()
        .map(|at| RetryAfter::At(UnixTime::from_system_time(at)))
}

/// The start of a body, safe to log: capped, scrubbed of known secrets, and withheld whole when
/// it carries tokens (a 2xx body with a wrong token type still holds a live token).
#[cfg(test)]
fn excerpt(body: &[u8], secrets: &[&str]) -> String {
    if carries_tokens(body, None) {
        return format!("[{} bytes withheld: the body carries tokens]", body.len());
    }
    excerpt_with(body, secrets, &Scrubber::new(secrets))
}

/// Whether a body holds a token: parsed as one, named plainly, or named with JSON escapes
/// (`"access\u005ftoken"` decodes to the same key, so escapes near "token" count too).
fn carries_tokens(body: &[u8], parsed: Option<&Body<'_>>) -> bool {
    parsed.is_some_and(|body| body.access_token.is_some() || body.refresh_token.is_some())
        || contains(body, b"access_token")
        || contains(body, b"refresh_token")
        || (contains(body, b"\\u") && body.to_ascii_lowercase().windows(5).any(|w| w == b"token"))
}

/// [`excerpt`] with the secrets' forms already worked out.
fn excerpt_with(body: &[u8], secrets: &[&str], scrubber: &Scrubber<'_>) -> String {
    let longest_secret = secrets
        .iter()
        .map(|secret| secret.len() * 3)
        .max()
        .unwrap_or(0);
    let window = &body[..body.len().min(BODY_EXCERPT_LIMIT + longest_secret)];
    let scrubbed = scrubber.scrub(&String::from_utf8_lossy(window));
    if scrubbed.len() <= BODY_EXCERPT_LIMIT {
        return scrubbed;
    }
    truncate(&scrubbed, BODY_EXCERPT_LIMIT).to_owned()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// A server-sent value quoted in an error message: scrubbed whole, then cut short (cutting
/// first could leave the start of a secret).
fn quote(value: &str, secrets: &[&str]) -> String {
    let scrubbed = Zeroizing::new(scrub(value, secrets));
    format!("{:?}", truncate(&scrubbed, 32))
}

/// Replaces every known secret, raw and in the encodings a server might echo it in.
fn scrub(text: &str, secrets: &[&str]) -> String {
    Scrubber::new(secrets).scrub(text)
}

/// The known secrets with the encodings a server might echo each in, worked out once per
/// response rather than once per scrubbed field. Every buffer that holds a form of a secret is
/// sized up front (a growing buffer leaves copies behind in the blocks it outgrew) and wiped
/// on drop.
struct Scrubber<'a> {
    secrets: Vec<SecretForms<'a>>,
}

struct SecretForms<'a> {
    raw: &'a str,
    /// `None` when the secret reads the same in every encoding (see [`is_plain`]).
    escaped: Option<EscapedForms>,
}

struct EscapedForms {
    form_encoded: Zeroizing<String>,
    json_escaped: Zeroizing<Vec<u8>>,
    php_escaped: Zeroizing<String>,
    ascii_escaped: Zeroizing<String>,
    ascii_php_escaped: Zeroizing<String>,
}

/// Whether every encoding [`Scrubber`] looks for leaves `secret` unchanged: ASCII letters,
/// digits and `*-._` are kept as they are by form encoding, JSON, PHP's `\/` and `\uXXXX`.
/// Most client secrets and tokens are plain, so they cost no buffer and one search.
fn is_plain(secret: &str) -> bool {
    secret
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'*' | b'-' | b'.' | b'_'))
}

fn json_inner(json_escaped: &[u8]) -> &str {
    std::str::from_utf8(json_escaped)
        .unwrap_or_default()
        .trim_matches('"')
}

impl<'a> Scrubber<'a> {
    fn new(secrets: &[&'a str]) -> Self {
        let secrets = secrets
            .iter()
            .filter(|secret| !secret.is_empty())
            .map(|secret| SecretForms {
                raw: secret,
                escaped: (!is_plain(secret)).then(|| EscapedForms::new(secret)),
            })
            .collect();
        Self { secrets }
    }

    /// `text` with every form of every secret replaced by `[redacted]`.
    fn scrub(&self, text: &str) -> String {
        let mut scrubbed = text.to_owned();
        for secret in &self.secrets {
            // The last form searched for and not found: a repeat of it right after (a plain
            // secret's forms are all the same) cannot be found either, so it is not searched.
            let mut absent: Option<&str> = None;
            for form in secret.forms() {
                if form.is_empty() || absent == Some(form) {
                    continue;
                }
                if form.len() <= scrubbed.len() && scrubbed.contains(form) {
                    let replaced = replace_all(&scrubbed, form, "[redacted]");
                    // The text held a secret: wipe it before letting it go.
                    zeroize::Zeroize::zeroize(&mut std::mem::replace(&mut scrubbed, replaced));
                    absent = None;
                } else {
                    absent = Some(form);
                }
            }
        }
        scrubbed
    }
}

impl SecretForms<'_> {
    /// The forms, in the order they are replaced.
    fn forms(&self) -> [&str; 6] {
        match &self.escaped {
            None => [self.raw; 6],
            Some(escaped) => [
                self.raw,
                escaped.form_encoded.as_str(),
                escaped.ascii_php_escaped.as_str(),
                escaped.ascii_escaped.as_str(),
                escaped.php_escaped.as_str(),
                json_inner(&escaped.json_escaped),
            ],
        }
    }
}

impl EscapedForms {
    fn new(secret: &str) -> Self {
        let mut form_encoded = Zeroizing::new(String::with_capacity(secret.len() * 3));
        form_encoded.extend(form_urlencoded::byte_serialize(secret.as_bytes()));
        let mut json_escaped = Zeroizing::new(Vec::with_capacity(secret.len() * 6 + 2));
        if serde_json::to_writer(&mut *json_escaped, secret).is_err() {
            json_escaped.clear();
        }
        let inner = json_inner(&json_escaped);
        let php_escaped = Zeroizing::new(replace_all(inner, "/", "\\/"));
        // PHP's json_encode (what Laravel sends) and Python's json.dumps also write every
        // non-ASCII character as \uXXXX.
        let ascii_escaped = Zeroizing::new(escape_non_ascii(inner));
        let ascii_php_escaped = Zeroizing::new(replace_all(&ascii_escaped, "/", "\\/"));
        Self {
            form_encoded,
            json_escaped,
            php_escaped,
            ascii_escaped,
            ascii_php_escaped,
        }
    }
}

/// `text` with every non-ASCII character written as JSON `\uXXXX` escapes (lowercase hex, as
/// PHP and Python write them; UTF-16 surrogate pairs beyond the BMP).
fn escape_non_ascii(text: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(text.len() * 6);
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    out
}

/// `str::replace` into a buffer allocated once at its final size.
/// `str::replace` into a buffer allocated once at its final size.
fn replace_all(text: &str, from: &str, to: &str) -> String {
    let count = text.matches(from).count();
    let mut out = String::with_capacity(text.len() + count * to.len());
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        out.push_str(&rest[..at]);
        out.push_str(to);
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(status: u16, body: &str) -> Result<IssuedTokens, Error> {
        let status = StatusCode::from_u16(status).unwrap();
        parse_token_response(
            RequestKind::RefreshGrant,
            status,
            &HeaderMap::new(),
            body.as_bytes(),
            &[],
        )
    }

    #[test]
    fn tolerant_success_parsing() {
        let issued = token(
            200,
            r#"{"token_type":"bearer","expires_in":"3600","access_token":"a.b.c","x":[1]}"#,
        )
        .unwrap();
        assert_eq!(issued.access_token, "a.b.c");
        assert_eq!(issued.expires_in, Some(Duration::from_secs(3600)));
        assert_eq!(issued.refresh_token, None);
        let no_type = token(201, "\u{feff}{\"access_token\":\"t\",\"expires_in\":59.9}").unwrap();
        assert_eq!(no_type.expires_in, Some(Duration::from_secs(59)));
    }

    #[test]
    fn strict_where_a_mistake_would_hand_out_a_broken_token() {
        for body in [
            r#"{"token_type":"MAC","access_token":"t"}"#,
            r#"{"access_token":"t","expires_in":0}"#,
            r#"{"access_token":"t","expires_in":-5}"#,
            r#"{"access_token":"t","expires_in":"abc"}"#,
            r#"{"access_token":"t\r\nX: y"}"#,
            r#"{"access_token":""}"#,
            r#"{"token_type":"Bearer"}"#,
            "<html>login</html>",
        ] {
            let error = token(200, body)
                .err()
                .unwrap_or_else(|| panic!("{body} accepted"));
            assert_eq!(error.kind(), ErrorKind::UnexpectedResponse, "{body}");
        }
    }

    #[test]
    fn both_passport_dead_refresh_token_shapes_are_recognised() {
        let v8 = r#"{"error":"invalid_request","error_description":"The refresh token is invalid.","hint":"Token has been revoked","message":"The refresh token is invalid."}"#;
        let v9 = r#"{"error":"invalid_grant","error_description":"The refresh token is invalid.","hint":"Token has been revoked"}"#;
        assert_eq!(
            token(401, v8).err().unwrap().kind(),
            ErrorKind::RefreshTokenRejected
        );
        assert_eq!(
            token(400, v9).err().unwrap().kind(),
            ErrorKind::RefreshTokenRejected
        );
        let missing = r#"{"error":"invalid_request","error_description":"The request is missing a required parameter","hint":"Check the `client_id` parameter"}"#;
        assert_eq!(
            token(400, missing).err().unwrap().kind(),
            ErrorKind::InvalidRequest
        );
    }

    #[test]
    fn excerpts_scrub_secrets_and_withhold_tokens() {
        let echoed = br#"password=p%40ss+w0rd&secret=s/cr"t "s\/cr\"t""#;
        let cleaned = excerpt(echoed, &["p@ss w0rd", "s/cr\"t"]);
        assert_eq!(
            cleaned,
            r#"password=[redacted]&secret=[redacted] "[redacted]""#
        );
        assert!(excerpt(br#"{"access_token":"live"}"#, &[]).contains("withheld"));
    }

    #[test]
    fn retry_after_in_seconds_dates_and_garbage() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "120".parse().unwrap());
        assert_eq!(
            retry_after(&headers),
            Some(RetryAfter::Delay(Duration::from_secs(120)))
        );
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(
            retry_after(&headers),
            Some(RetryAfter::At(UnixTime::from_secs(1_445_412_480)))
        );
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }
}
