//! Reading a token endpoint's response: tolerant where real servers differ, strict where a
//! mistake would hand out a broken token. Every string read from a body lands in a buffer that
//! is wiped on drop (`json`), and every text an error quotes is scrubbed of every secret the
//! session knows and of the tokens of the response itself, raw or escaped (`scrub`).

mod body;
mod entities;
mod escapes;
mod json;
mod scrub;

use std::time::Duration;

use http::{HeaderMap, StatusCode, header::RETRY_AFTER};
use zeroize::Zeroizing;

use crate::error::{BODY_EXCERPT_LIMIT, Error, ErrorKind, ResponseDetails, RetryAfter};
use crate::request::RequestKind;
use crate::time::UnixTime;
use crate::token_set::check_access_token;
use body::{Body, ExpiresIn};
use json::Malformed;
use scrub::Scrubber;

/// How much of a field (`error_description`, `hint`, …) an error quotes.
const FIELD_LIMIT: usize = 512;
/// How much of a value an error's detail quotes (a token type, an `expires_in`).
const QUOTE_LIMIT: usize = 32;

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

/// Parses a token response (password or refresh grant).
pub(crate) fn parse_token_response(
    kind: RequestKind,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[&str],
) -> Result<IssuedTokens, Error> {
    let (mut fields, malformed) = Body::read(strip_bom(body));
    let answer = Answer::new(status, headers, body, &fields, malformed.is_none());
    if let Some(error) = answer.refusal(kind, malformed.as_ref(), secrets) {
        return Err(error);
    }
    let expires_in = match fields.expires_in {
        Some(ExpiresIn::Seconds(seconds)) => Some(Duration::from_secs(seconds)),
        _ => None,
    };
    Ok(IssuedTokens {
        access_token: moved(&mut fields.access_token).unwrap_or_default(),
        expires_in,
        refresh_token: moved(&mut fields.refresh_token).filter(|token| !token.is_empty()),
    })
}

/// A response as read, for the checks that refuse it.
struct Answer<'a> {
    status: StatusCode,
    headers: &'a HeaderMap,
    body: &'a [u8],
    fields: &'a Body,
    /// The fields, when the body is a token response's object.
    parsed: Option<&'a Body>,
}

impl<'a> Answer<'a> {
    fn new(
        status: StatusCode,
        headers: &'a HeaderMap,
        body: &'a [u8],
        fields: &'a Body,
        well_formed: bool,
    ) -> Self {
        Self {
            status,
            headers,
            body,
            fields,
            parsed: well_formed.then_some(fields),
        }
    }

    /// Why a token response cannot be used, if it cannot.
    fn refusal(
        &self,
        kind: RequestKind,
        malformed: Option<&Malformed>,
        secrets: &[&str],
    ) -> Option<Error> {
        let (status, fields) = (self.status, self.fields);
        // The response's own tokens are secrets too: a server may quote them in another field.
        let scrubber = Scrubber::new(secrets.iter().copied().chain(fields.tokens()));
        let fail =
            |error_kind: ErrorKind| Error::new(error_kind).with_response(self.details(&scrubber));
        if let Some(malformed) = malformed {
            let error = fail(classify(kind, status, None));
            return Some(if status.is_success() {
                error.with_detail(format!(
                    "the body is not a token response: {}",
                    describe(malformed)
                ))
            } else {
                error
            });
        }
        if !status.is_success() || fields.error.is_some() {
            return Some(fail(classify(kind, status, Some(fields))));
        }
        let unexpected = |detail: String| fail(ErrorKind::UnexpectedResponse).with_detail(detail);
        if let Some(token_type) = &fields.token_type
            && !token_type.eq_ignore_ascii_case("bearer")
        {
            return Some(unexpected(format!(
                "token type {} is not Bearer",
                quote(token_type, &scrubber)
            )));
        }
        let Some(access_token) = &fields.access_token else {
            return Some(unexpected("the body has no access_token".to_owned()));
        };
        if let Err(invalid) = check_access_token(access_token) {
            return Some(unexpected(invalid.to_string()));
        }
        if let Some(ExpiresIn::Invalid(shown)) = &fields.expires_in {
            return Some(unexpected(format!(
                "expires_in {} is not a positive number of seconds",
                quote(shown, &scrubber)
            )));
        }
        None
    }
}

/// The string in `slot`, moved out without a copy (an empty string's drop has nothing to wipe).
fn moved(slot: &mut Option<Zeroizing<String>>) -> Option<String> {
    slot.as_mut().map(|text| std::mem::take(&mut **text))
}

/// The refresh token of a 2xx body that was refused for another reason (a wrong token type, a
/// bad `expires_in`): Passport has already retired the old one, so this one must be kept
/// (`docs/passport.md#rotation`).
pub(crate) fn salvage_refresh_token(status: StatusCode, body: &[u8]) -> Option<String> {
    if !status.is_success() {
        return None;
    }
    // Only this field is read, so a wrong type elsewhere does not hide it; sent twice, it is
    // ambiguous and not kept.
    let members = json::members(strip_bom(body)).ok()?;
    let mut named = members
        .iter()
        .filter(|member| json::key_is(member.key, "refresh_token"));
    let (Some(member), None) = (named.next(), named.next()) else {
        return None;
    };
    moved(&mut json::string(member.value).ok()?).filter(|token| !token.is_empty())
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
    let (fields, malformed) = Body::read(strip_bom(body));
    let answer = Answer::new(status, headers, body, &fields, malformed.is_none());
    let scrubber = Scrubber::new(secrets.iter().copied().chain(fields.tokens()));
    let kind = classify(RequestKind::Revocation, status, answer.parsed);
    Err(Error::new(kind)
        .with_response(answer.details(&scrubber))
        .for_revocation())
}

fn strip_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

fn describe(malformed: &Malformed) -> String {
    match malformed {
        Malformed::Syntax(error) => describe_json_error(error),
        Malformed::Shape(problem) => format!("JSON of the wrong shape ({problem})"),
    }
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
fn classify(kind: RequestKind, status: StatusCode, body: Option<&Body>) -> ErrorKind {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return ErrorKind::RateLimited;
    }
    if status.is_server_error() {
        // Whatever the body claims, a 5xx is the server failing: never a reason to drop a
        // refresh token or stop the session.
        return ErrorKind::ServerError;
    }
    let code = body
        .and_then(|body| body.error.as_ref())
        .map(|code| code.as_str());
    match code {
        Some("invalid_client" | "unauthorized_client") => ErrorKind::InvalidClient,
        Some("invalid_grant" | "invalid_credentials") => match kind {
            RequestKind::PasswordGrant => ErrorKind::InvalidCredentials,
            RequestKind::RefreshGrant => ErrorKind::RefreshTokenRejected,
            RequestKind::Revocation => ErrorKind::InvalidRequest,
        },
        // Passport up to 8.5 answers a dead refresh token with 401 `invalid_request` and the
        // description "The refresh token is invalid."; a missing parameter is 400
        // (`docs/passport.md#dead-refresh-token`).
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

fn mentions_refresh_token(body: &Body) -> bool {
    // "The refresh token is invalid." or "Check the `refresh_token` parameter", in any case;
    // compared in place, as a lowered copy would be one more copy of an echo to wipe.
    [&body.error_description, &body.message, &body.hint]
        .into_iter()
        .flatten()
        .any(|text| {
            contains_ignoring_case(text, b"refresh token")
                || contains_ignoring_case(text, b"refresh_token")
        })
}

fn contains_ignoring_case(text: &str, needle: &[u8]) -> bool {
    text.as_bytes()
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}

impl Answer<'_> {
    /// What an error shows of the response: every field and the excerpt scrubbed, the excerpt
    /// withheld whole when the body carries tokens. Only a token response's fields are shown.
    fn details(&self, scrubber: &Scrubber<'_>) -> ResponseDetails {
        let text = |field: &Option<Zeroizing<String>>| {
            field
                .as_ref()
                .map(|value| scrubber.scrub(value, FIELD_LIMIT, false))
                .filter(|value| !value.trim().is_empty())
        };
        let parsed = self.parsed;
        let description =
            parsed.and_then(|body| text(&body.error_description).or_else(|| text(&body.message)));
        let body = self.body;
        ResponseDetails {
            status: self.status,
            error: parsed.and_then(|body| text(&body.error)),
            description,
            hint: parsed.and_then(|body| text(&body.hint)),
            retry_after: retry_after(self.headers),
            body_excerpt: if carries_tokens(body, self.fields) {
                format!("[{} bytes withheld: the body carries tokens]", body.len())
            } else {
                scrubber.scrub_bytes(body, BODY_EXCERPT_LIMIT)
            },
            body_len: body.len(),
        }
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

/// Whether a body holds a token: read as one, named plainly anywhere, or named through escapes
/// where an excerpt would show it (`"access\u005ftoken"` is the same key to a JSON parser).
fn carries_tokens(body: &[u8], fields: &Body) -> bool {
    const NAMES: [&str; 2] = ["access_token", "refresh_token"];
    fields.tokens().next().is_some()
        || NAMES.iter().any(|name| contains(body, name.as_bytes()))
        || scrub::with_text(scrub::window(body, BODY_EXCERPT_LIMIT), |text| {
            scrub::mentions(text, &NAMES)
        })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// A server-sent value quoted in an error message: scrubbed, then cut short.
fn quote(value: &str, scrubber: &Scrubber<'_>) -> String {
    format!("{:?}", scrubber.scrub(value, QUOTE_LIMIT, false))
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

    fn excerpt(body: &[u8], secrets: &[&str]) -> String {
        let fields = Body::read(body).0;
        let headers = HeaderMap::new();
        Answer::new(StatusCode::OK, &headers, body, &fields, false)
            .details(&Scrubber::new(secrets.iter().copied()))
            .body_excerpt
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
