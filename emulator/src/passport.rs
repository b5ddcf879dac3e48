//! The error bodies of league/oauth2-server (behind Laravel Passport), by version
//! (`docs/passport.md#error-shapes`, `docs/passport.md#token-endpoint-errors`).

use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::config::PassportVersion;
use crate::reply::Reply;

/// The token-endpoint errors the emulator produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OAuthError {
    /// Unknown client, wrong or missing secret.
    InvalidClient,
    /// Wrong username or password.
    InvalidCredentials,
    /// A required parameter is missing.
    MissingParameter(&'static str),
    /// The refresh token is unusable; the hint says why.
    InvalidRefreshToken(&'static str),
    /// Unknown or missing `grant_type`.
    UnsupportedGrantType,
    /// An unexpected server failure.
    ServerError,
}

impl OAuthError {
    /// `(status, error, error_description, hint)` for `version`.
    fn parts(
        self,
        version: PassportVersion,
    ) -> (StatusCode, &'static str, &'static str, Option<String>) {
        match self {
            OAuthError::InvalidClient => (
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed",
                None,
            ),
            OAuthError::InvalidCredentials => (
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "The user credentials were incorrect.",
                None,
            ),
            OAuthError::MissingParameter(name) => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.",
                Some(format!("Check the `{name}` parameter")),
            ),
            OAuthError::InvalidRefreshToken(hint) => {
                let (status, error) = match version {
                    PassportVersion::V8 => (StatusCode::UNAUTHORIZED, "invalid_request"),
                    PassportVersion::V9 => (StatusCode::BAD_REQUEST, "invalid_grant"),
                };
                (
                    status,
                    error,
                    "The refresh token is invalid.",
                    Some(hint.to_owned()),
                )
            }
            OAuthError::UnsupportedGrantType => (
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
                Some("Check that all required parameters have been provided".to_owned()),
            ),
            OAuthError::ServerError => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "The authorization server encountered an unexpected condition which prevented it from fulfilling the request.",
                None,
            ),
        }
    }

    /// The JSON body (without status) as `version` writes it.
    pub(crate) fn body(self, version: PassportVersion) -> String {
        let (_, error, description, hint) = self.parts(version);
        error_body(version, error, description, hint)
    }

    /// The complete answer as `version` sends it.
    pub(crate) fn reply(self, version: PassportVersion) -> Reply {
        let status = self.parts(version).0;
        Reply::json(status, self.body(version))
    }
}

/// `{"error", "error_description", "hint"?, "message"?}`: 8.x adds `message` as a copy of the
/// description, 9.x does not.
pub(crate) fn error_body(
    version: PassportVersion,
    error: &str,
    description: &str,
    hint: Option<String>,
) -> String {
    let mut body = Map::new();
    body.insert("error".into(), Value::from(error));
    body.insert("error_description".into(), Value::from(description));
    if let Some(hint) = hint {
        body.insert("hint".into(), Value::from(hint));
    }
    if version == PassportVersion::V8 {
        body.insert("message".into(), Value::from(description));
    }
    Value::Object(body).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_refresh_token_differs_by_version() {
        let v8 =
            OAuthError::InvalidRefreshToken("Token has been revoked").reply(PassportVersion::V8);
        assert_eq!(v8.status, StatusCode::UNAUTHORIZED);
        let body: Value = serde_json::from_slice(&v8.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "error": "invalid_request",
                "error_description": "The refresh token is invalid.",
                "hint": "Token has been revoked",
                "message": "The refresh token is invalid.",
            })
        );
        let v9 =
            OAuthError::InvalidRefreshToken("Token has been revoked").reply(PassportVersion::V9);
        assert_eq!(v9.status, StatusCode::BAD_REQUEST);
        let body: Value = serde_json::from_slice(&v9.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "error": "invalid_grant",
                "error_description": "The refresh token is invalid.",
                "hint": "Token has been revoked",
            })
        );
    }
}
