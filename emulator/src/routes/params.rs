//! Reading request parameters the way Laravel does: form-urlencoded, multipart or JSON bodies,
//! with empty strings treated as missing (Laravel's `ConvertEmptyStringsToNull`;
//! `docs/passport.md#token-endpoint`).

use axum::http::{HeaderMap, header};

use crate::rng::base64_decode;

/// The parameters of one request body.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `body` according to the `Content-Type` in `headers` (form-urlencoded when absent or
    /// unknown).
    pub(crate) fn parse(headers: &HeaderMap, body: &[u8]) -> Params {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with("application/json") {
            Params(parse_json(body))
        } else if content_type.starts_with("multipart/form-data") {
            // Lower-casing keeps byte offsets, and the boundary is case-sensitive: read it from
            // the original header.
            let original = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let boundary = content_type.find("boundary=").map(|at| {
                original[at + "boundary=".len()..]
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_matches('"')
            });
            Params(
                boundary
                    .filter(|b| !b.is_empty())
                    .map(|b| parse_multipart(body, b))
                    .unwrap_or_default(),
            )
        } else {
            Params(serde_urlencoded::from_bytes(body).unwrap_or_default())
        }
    }

    /// The value of `name` (the last one when repeated, as PHP does), `None` when absent or
    /// empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

fn parse_json(body: &[u8]) -> Vec<(String, String)> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) else {
        return Vec::new();
    };
    map.into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            serde_json::Value::Number(n) => Some((k, n.to_string())),
            serde_json::Value::Bool(b) => Some((k, b.to_string())),
            _ => None,
        })
        .collect()
}

/// A minimal `multipart/form-data` reader: text fields only.
fn parse_multipart(body: &[u8], boundary: &str) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    text.split(delimiter.as_str())
        .filter_map(|part| {
            let part = part.strip_prefix("\r\n")?;
            let (head, value) = part.split_once("\r\n\r\n")?;
            let name = head.lines().find_map(|line| {
                let (field, rest) = line.split_once(':')?;
                if !field.trim().eq_ignore_ascii_case("content-disposition") {
                    return None;
                }
                rest.split(';').find_map(|p| {
                    p.trim()
                        .strip_prefix("name=")
                        .map(|n| n.trim_matches('"').to_owned())
                })
            })?;
            let value = value.strip_suffix("\r\n").unwrap_or(value);
            Some((name, value.to_owned()))
        })
        .collect()
}

/// The client credentials from an `Authorization: Basic` header, if any.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    // RFC 6749 section 2.3.1 form-encodes both before base64. league/oauth2-server does not
    // decode them, which for Passport's alphanumeric ids and secrets changes nothing.
    Some((form_decoded(id), form_decoded(secret)))
}

/// `text` with its form encoding (`+`, `%XX`) undone.
fn form_decoded(text: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={text}"))
        .ok()
        .and_then(|pairs| pairs.into_iter().next())
        .map_or_else(|| text.to_owned(), |(_, value)| value)
}

/// The token of an `Authorization: Bearer` header, if any.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn reads_form_json_and_multipart() {
        let mut headers = HeaderMap::new();
        let form = Params::parse(&headers, b"grant_type=password&username=a%40b.c&password=");
        assert_eq!(form.get("grant_type"), Some("password"));
        assert_eq!(form.get("username"), Some("a@b.c"));
        assert_eq!(form.get("password"), None);

        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let json = Params::parse(&headers, br#"{"grant_type":"refresh_token","n":3}"#);
        assert_eq!(json.get("grant_type"), Some("refresh_token"));
        assert_eq!(json.get("n"), Some("3"));

        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("multipart/form-data; boundary=XyZ"),
        );
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\npassword\r\n--XyZ\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nme@x.it\r\n--XyZ--\r\n";
        let multi = Params::parse(&headers, body.as_bytes());
        assert_eq!(multi.get("grant_type"), Some("password"));
        assert_eq!(multi.get("username"), Some("me@x.it"));
    }

    #[test]
    fn reads_authorization_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic Zm9vOmJhcg=="),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(("foo".into(), "bar".into()))
        );
        assert_eq!(bearer_token(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer_token(&headers), Some("abc"));
    }
}
