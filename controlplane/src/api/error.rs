//! API errors: one code enum mapped to HTTP status; clients get a stable message, logs get
//! the detail. Service errors become API errors here, by their kind, and nowhere else.

use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::services::ErrorKind as ServiceErrorKind;
use crate::services::SIGNER_UNAVAILABLE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    TooManyRequests,
    Internal,
    ServiceUnavailable,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::TooManyRequests => "too_many_requests",
            Self::Internal => "internal_error",
            Self::ServiceUnavailable => "service_unavailable",
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// `Retry-After` (seconds) of a 429 or 503.
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// `Retry-After` (seconds), if set.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// The same error with `Retry-After: secs`.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn from_json_rejection(rej: &JsonRejection) -> Self {
        let code = match rej.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            _ => ErrorCode::BadRequest,
        };
        Self::new(code, rej.body_text())
    }
}

impl ApiError {
    /// The answer to a service error of `kind` whose text is `message`.
    fn from_service(kind: ServiceErrorKind, message: String) -> Self {
        match kind {
            ServiceErrorKind::Invalid => Self::new(ErrorCode::BadRequest, message),
            ServiceErrorKind::NotFound => Self::new(ErrorCode::NotFound, message),
            ServiceErrorKind::Conflict => Self::new(ErrorCode::Conflict, message),
            ServiceErrorKind::Forbidden => Self::new(ErrorCode::Forbidden, message),
            ServiceErrorKind::Unauthorized => Self::new(ErrorCode::Unauthorized, message),
            ServiceErrorKind::Unavailable => Self::new(ErrorCode::ServiceUnavailable, message),
            // The detail (tokens, labels, PKCS#11 codes) goes to the log and to health.
            ServiceErrorKind::SignerUnavailable => {
                tracing::warn!(error = %message, "signing key unavailable");
                Self::new(ErrorCode::ServiceUnavailable, SIGNER_UNAVAILABLE)
            }
            ServiceErrorKind::Internal => {
                tracing::error!(error = %message, "internal error");
                Self::new(
                    ErrorCode::Internal,
                    "internal error; see the control plane log",
                )
            }
        }
    }
}

crate::services::into_protocol_error!(ApiError, ApiError::from_service);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: self.code.as_str(),
            message: &self.message,
        };
        let mut resp = (self.code.status(), axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        if self.code == ErrorCode::Unauthorized {
            // RFC 6750 §3: a 401 names the scheme the client should use.
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"sigil-admin\""),
            );
        }
        resp
    }
}
