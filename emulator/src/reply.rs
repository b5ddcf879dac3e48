//! A fully buffered response, which fault injection can still cut short.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Status, headers and the complete body of an answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    /// An answer with a body of the given content type.
    pub(crate) fn new(
        status: StatusCode,
        content_type: &'static str,
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        Reply {
            status,
            headers,
            body: body.into(),
        }
    }

    /// A JSON answer.
    pub(crate) fn json(status: StatusCode, body: impl Into<Bytes>) -> Reply {
        Reply::new(status, "application/json", body)
    }

    /// An answer with an empty body and no content type.
    pub(crate) fn empty(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    /// Laravel's `401 {"message":"Unauthenticated."}`, with no `WWW-Authenticate`
    /// (`docs/passport.md#api-401`).
    pub(crate) fn unauthenticated() -> Reply {
        Reply::json(
            StatusCode::UNAUTHORIZED,
            r#"{"message":"Unauthenticated."}"#,
        )
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Reply {
        self.headers.insert(name, value);
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}
