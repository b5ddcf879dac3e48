//! Reading a token endpoint's response: tolerant where real servers differ, strict where a
//! mistake would hand out a broken token. Every string read from a body lands in a buffer that
//! is wiped on drop (`json`), and every text an error quotes is scrubbed of every secret the
//! session knows and of the tokens of the response itself, raw or escaped (`scrub`). Parsing
//! is here and in `body`/`json`; what a refusal means is `classify`; what an error shows of the
//! response is `details`, on the scrubber.

mod body;
mod classify;
mod details;
mod entities;
mod escapes;
mod json;
mod scan;
mod scrub;
mod token_text;

use std::cell::OnceCell;
use std::time::Duration;

use http::{HeaderMap, StatusCode, header::RETRY_AFTER};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, RetryAfter};
use crate::request::RequestKind;
use crate::shared_secret::SharedText;
use crate::time::UnixTime;
use crate::token_set::Bearer;
use body::{Body, ExpiresIn, TokenType};
use classify::classify;
use details::quote;
use json::Malformed;
use scrub::Scrubber;

/// What a successful token response carries. Both tokens are slices of one buffer, wiped when
/// the last of them (and of the headers cloned from the access token's) drops.
pub(crate) struct IssuedTokens {
    pub(crate) access_token: Bearer,
    pub(crate) expires_in: Option<Duration>,
    pub(crate) refresh_token: Option<SharedText>,
    /// The scope granted, when the server said.
    pub(crate) scope: Option<String>,
}

/// Parses a token response (password or refresh grant). `secrets` lists what to scrub from an
/// error; it is asked for only when the response is refused.
pub(crate) fn parse_token_response<'s>(
    kind: RequestKind,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    secrets: impl Fn() -> Vec<&'s str>,
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
    // Checked by `refusal`: the header takes it.
    let (header, refresh_token) = fields.tokens.share();
    let access_token = Bearer::checked(header.unwrap_or_default()).map_err(|invalid| {
        Error::new(ErrorKind::UnexpectedResponse).with_detail(invalid.to_string())
    })?;
    Ok(IssuedTokens {
        access_token,
        expires_in,
        refresh_token: refresh_token.filter(|token| !token.is_empty()),
        scope: moved(&mut fields.scope).filter(|scope| !scope.trim().is_empty()),
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
    fn refusal<'s>(
        &self,
        kind: RequestKind,
        malformed: Option<&Malformed>,
        secrets: impl Fn() -> Vec<&'s str>,
    ) -> Option<Error> {
        let (status, fields) = (self.status, self.fields);
        // Built only for a refusal: an accepted response shows nothing, so scrubs nothing.
        let scrubber = OnceCell::new();
        let scrubber = || {
            // The response's own tokens are secrets too: a server may quote them in another
            // field.
            scrubber.get_or_init(|| Scrubber::new(secrets().into_iter().chain(fields.tokens())))
        };
        let fail =
            |error_kind: ErrorKind| Error::new(error_kind).with_response(self.details(scrubber()));
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
        if let Some(TokenType::Other(token_type)) = &fields.token_type {
            return Some(unexpected(format!(
                "token type {} is not Bearer",
                quote(token_type, scrubber())
            )));
        }
        match fields.tokens.check_access_token() {
            None => return Some(unexpected("the body has no access_token".to_owned())),
            Some(Err(invalid)) => return Some(unexpected(invalid.to_string())),
            Some(Ok(())) => {}
        }
        if let Some(ExpiresIn::Invalid(shown)) = &fields.expires_in {
            return Some(unexpected(format!(
                "expires_in {} is not a positive number of seconds",
                quote(shown, scrubber())
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
pub(crate) fn salvage_refresh_token(status: StatusCode, body: &[u8]) -> Option<SharedText> {
    if !status.is_success() {
        return None;
    }
    // Only this field is read, so a wrong type elsewhere does not hide it; sent twice, it is
    // ambiguous and not kept.
    let mut found = None;
    let mut named = 0;
    json::members(strip_bom(body), |member| {
        if json::key_is(member.key, "refresh_token") {
            named += 1;
            found.get_or_insert(member.value);
        }
    })
    .ok()?;
    let value = found.filter(|_| named == 1)?;
    moved(&mut json::string(value).ok()?)
        .filter(|token| !token.is_empty())
        .map(SharedText::from_string)
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
            Vec::new,
        )
    }

    /// A token written `null` is a token not sent: no refresh token, or no access token (not a
    /// token of the wrong type).
    #[test]
    fn a_null_token_is_no_token() {
        let issued = token(200, r#"{"access_token":"a.b.c","refresh_token":null}"#);
        assert!(issued.is_ok_and(|issued| issued.refresh_token.is_none()));
        let error = token(200, r#"{"access_token":null,"refresh_token":"r"}"#).err();
        let detail = error.as_ref().and_then(Error::detail);
        assert_eq!(detail, Some("the body has no access_token"));
        let wrong = token(200, r#"{"access_token":"a.b.c","refresh_token":1}"#).err();
        let detail = wrong.as_ref().and_then(Error::detail).unwrap_or_default();
        assert!(detail.contains("refresh_token is not a string"), "{detail}");
    }

    #[test]
    fn tolerant_success_parsing() {
        let issued = token(
            200,
            r#"{"token_type":"bearer","expires_in":"3600","access_token":"a.b.c","x":[1]}"#,
        )
        .unwrap();
        assert_eq!(issued.access_token.token(), "a.b.c");
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

    /// A token the scan found graphic has only its length checked; every other token is checked
    /// byte by byte. Both ways give `check_access_token`'s verdict on the decoded token.
    #[test]
    fn access_tokens_are_checked_alike_whichever_way_the_scan_found_them() {
        let long = "a".repeat(crate::token_set::MAX_ACCESS_TOKEN_LEN + 1);
        let longest = "a".repeat(crate::token_set::MAX_ACCESS_TOKEN_LEN);
        let long_with_space = format!("{long} b");
        let sent: [(&str, &str); 9] = [
            ("", ""),
            (&long, &long),
            (&longest, &longest),
            (&long_with_space, &long_with_space),
            ("a b", "a b"),
            (r"a\u0020b", "a b"),
            (r"\u00e4", "\u{e4}"),
            ("a\u{7f}", "a\u{7f}"),
            (r"e\/J", "e/J"),
        ];
        for (content, decoded) in sent {
            let body = format!(r#"{{"access_token":"{content}"}}"#);
            let verdict = token(200, &body).map(|issued| issued.access_token.token().to_owned());
            match crate::token_set::check_access_token(decoded) {
                Ok(()) => assert_eq!(verdict.ok().as_deref(), Some(decoded)),
                Err(invalid) => {
                    let error = verdict.err();
                    let detail = error.as_ref().and_then(Error::detail);
                    assert_eq!(detail, Some(invalid.to_string().as_str()), "{content}");
                }
            }
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
