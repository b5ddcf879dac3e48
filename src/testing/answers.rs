//! Every answer a Passport token endpoint gives (`docs/passport.md`), as values.

use http::Response;

/// Which league/oauth2-server generation answers (they differ in their error bodies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, arbitrary::Arbitrary)]
pub enum PassportVersion {
    /// Up to 8.5: errors carry a `message`; a dead refresh token is `401 invalid_request`.
    V8,
    /// 9.x: no `message`; a dead refresh token is `400 invalid_grant`.
    V9,
}

/// One answer of a Passport token endpoint, or of what stands in front of it.
#[derive(Clone, Debug, PartialEq, Eq, arbitrary::Arbitrary)]
pub enum PassportAnswer {
    /// `200` with a token pair; `expires_in` in seconds (as a number, or as a string when
    /// `quoted`), absent when `None`.
    Tokens {
        /// The access token's number (tokens are distinct per number).
        number: u16,
        /// `expires_in`.
        expires_in: Option<u32>,
        /// `expires_in` written as a string.
        quoted: bool,
        /// Whether a refresh token comes with it.
        with_refresh_token: bool,
    },
    /// The refresh token is dead (expired, revoked, already used).
    DeadRefreshToken(PassportVersion),
    /// The username or password is wrong.
    InvalidCredentials(PassportVersion),
    /// The client id or secret is wrong.
    InvalidClient(PassportVersion),
    /// A parameter is missing.
    MissingParameter(PassportVersion),
    /// `429 Too Many Attempts.` from Laravel's throttle, `Retry-After` in seconds if given.
    TooManyAttempts {
        /// The `Retry-After` header, in seconds.
        retry_after: Option<u16>,
    },
    /// Passport's `500 server_error`.
    ServerError,
    /// A proxy's `502 Bad Gateway` HTML page.
    BadGateway,
    /// `503 Service Unavailable` (maintenance mode), `Retry-After` in seconds if given.
    Unavailable {
        /// The `Retry-After` header, in seconds.
        retry_after: Option<u16>,
    },
    /// A login page with status `200` (the request lacked `Accept: application/json`).
    LoginPage,
}

const MESSAGE_V8: bool = true;

impl PassportAnswer {
    /// The HTTP response.
    #[must_use]
    pub fn response(&self) -> Response<Vec<u8>> {
        match self {
            Self::Tokens {
                number,
                expires_in,
                quoted,
                with_refresh_token,
            } => {
                let mut body = format!(
                    r#"{{"token_type":"Bearer","access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJqdGkiOiJ7{number}In0.c2lnbmF0dXJl{number}""#
                );
                if let Some(seconds) = expires_in {
                    if *quoted {
                        body.push_str(&format!(r#","expires_in":"{seconds}""#));
                    } else {
                        body.push_str(&format!(r#","expires_in":{seconds}"#));
                    }
                }
                if *with_refresh_token {
                    body.push_str(&format!(r#","refresh_token":"def50200{number:08x}""#));
                }
                body.push('}');
                json(200, body)
            }
            Self::DeadRefreshToken(version) => match version {
                PassportVersion::V8 => oauth_error(
                    401,
                    "invalid_request",
                    "The refresh token is invalid.",
                    Some("Token has been revoked"),
                    MESSAGE_V8,
                ),
                PassportVersion::V9 => oauth_error(
                    400,
                    "invalid_grant",
                    "The refresh token is invalid.",
                    Some("Token has expired"),
                    false,
                ),
            },
            Self::InvalidCredentials(version) => oauth_error(
                400,
                "invalid_grant",
                "The user credentials were incorrect.",
                None,
                *version == PassportVersion::V8,
            ),
            Self::InvalidClient(version) => oauth_error(
                401,
                "invalid_client",
                "Client authentication failed",
                None,
                *version == PassportVersion::V8,
            ),
            Self::MissingParameter(version) => oauth_error(
                400,
                "invalid_request",
                "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.",
                Some("Check the `username` parameter"),
                *version == PassportVersion::V8,
            ),
            Self::TooManyAttempts { retry_after } => with_retry_after(
                json(429, r#"{"message":"Too Many Attempts."}"#.to_owned()),
                *retry_after,
            ),
            Self::ServerError => json(
                500,
                r#"{"error":"server_error","error_description":"The authorization server encountered an unexpected condition which prevented it from fulfilling the request."}"#.to_owned(),
            ),
            Self::BadGateway => page(
                502,
                "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\r\n",
            ),
            Self::Unavailable { retry_after } => with_retry_after(
                json(503, r#"{"message":"Service Unavailable"}"#.to_owned()),
                *retry_after,
            ),
            Self::LoginPage => page(
                200,
                "<!DOCTYPE html><html><head><title>Login</title></head><body><form method=\"POST\"></form></body></html>",
            ),
        }
    }
}

fn oauth_error(
    status: u16,
    error: &str,
    description: &str,
    hint: Option<&str>,
    message: bool,
) -> Response<Vec<u8>> {
    let mut body = format!(r#"{{"error":"{error}","error_description":"{description}""#);
    if let Some(hint) = hint {
        body.push_str(&format!(r#","hint":"{hint}""#));
    }
    if message {
        body.push_str(&format!(r#","message":"{description}""#));
    }
    body.push('}');
    json(status, body)
}

fn json(status: u16, body: String) -> Response<Vec<u8>> {
    response(status, "application/json", body.into_bytes())
}

fn page(status: u16, body: &str) -> Response<Vec<u8>> {
    response(status, "text/html; charset=UTF-8", body.as_bytes().to_vec())
}

fn response(status: u16, content_type: &'static str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut response = Response::new(body);
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}

fn with_retry_after(mut response: Response<Vec<u8>>, seconds: Option<u16>) -> Response<Vec<u8>> {
    if let Some(seconds) = seconds {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
    }
    response
}
