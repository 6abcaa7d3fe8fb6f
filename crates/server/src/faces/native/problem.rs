//! The native face's error body: RFC 9457 `application/problem+json` with
//! an `errors` list naming each field and rule. The one place core errors
//! become HTTP statuses for the native API.
//!
//! Retry-After is added through [`crate::face::with_retry_after`], as every face does.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_core::{CoreError, FieldError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::request_id;

#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// The `X-Request-Id` of the request, for support and logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemField {
    pub field: String,
    pub rule: String,
    pub message: String,
}

impl From<FieldError> for ProblemField {
    fn from(e: FieldError) -> Self {
        Self {
            field: e.field,
            rule: e.rule.to_string(),
            message: e.message,
        }
    }
}

/// Errors of the HTTP layer itself, beside the core's.
#[derive(Debug)]
pub enum ApiError {
    Core(CoreError),
    /// Malformed JSON or a field of the wrong type.
    BadRequest(Vec<FieldError>),
    PayloadTooLarge(usize),
    UnsupportedMediaType(&'static str),
    NotFound,
    MethodNotAllowed,
}

impl From<crate::face::Rejection> for ApiError {
    fn from(r: crate::face::Rejection) -> Self {
        use crate::face::Rejection;
        match r {
            Rejection::NotFound => ApiError::NotFound,
            Rejection::MethodNotAllowed => ApiError::MethodNotAllowed,
            Rejection::PayloadTooLarge(n) => ApiError::PayloadTooLarge(n),
            Rejection::UnsupportedMediaType(t) => ApiError::UnsupportedMediaType(t),
            Rejection::BadBody(errors) => ApiError::BadRequest(errors),
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        ApiError::Core(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

fn problem(status: StatusCode, slug: &'static str, title: &'static str, detail: String) -> Problem {
    Problem {
        kind: slug,
        title,
        status: status.as_u16(),
        detail,
        request_id: request_id::current(),
        errors: Vec::new(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut retry_after = None;
        let mut www_authenticate = false;
        let (status, body) = match self {
            ApiError::Core(CoreError::Invalid(errors)) | ApiError::BadRequest(errors) => {
                let detail = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                let mut p = problem(
                    StatusCode::BAD_REQUEST,
                    "urn:roster:problem:validation",
                    "Invalid request",
                    detail,
                );
                p.errors = errors.into_iter().map(Into::into).collect();
                (StatusCode::BAD_REQUEST, p)
            }
            ApiError::Core(CoreError::NotFound(what)) => (
                StatusCode::NOT_FOUND,
                problem(
                    StatusCode::NOT_FOUND,
                    "urn:roster:problem:not-found",
                    "Not found",
                    format!("no such {what}"),
                ),
            ),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                problem(
                    StatusCode::NOT_FOUND,
                    "urn:roster:problem:not-found",
                    "Not found",
                    "no resource at this path".into(),
                ),
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                problem(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "urn:roster:problem:method-not-allowed",
                    "Method not allowed",
                    "this path does not support this method".into(),
                ),
            ),
            ApiError::Core(CoreError::Conflict(field)) => {
                let mut p = problem(
                    StatusCode::CONFLICT,
                    "urn:roster:problem:conflict",
                    "Conflict",
                    field.message.clone(),
                );
                p.errors = vec![field.into()];
                (StatusCode::CONFLICT, p)
            }
            ApiError::Core(CoreError::Forbidden) => (
                StatusCode::FORBIDDEN,
                problem(
                    StatusCode::FORBIDDEN,
                    "urn:roster:problem:forbidden",
                    "Forbidden",
                    "the credential is valid but lacks the privilege for this action".into(),
                ),
            ),
            ApiError::Core(CoreError::Unauthenticated) => {
                www_authenticate = true;
                (
                    StatusCode::UNAUTHORIZED,
                    problem(
                        StatusCode::UNAUTHORIZED,
                        "urn:roster:problem:unauthenticated",
                        "Unauthenticated",
                        "a valid API key or token is required (Authorization: Bearer ... or X-API-Key)"
                            .into(),
                    ),
                )
            }
            ApiError::Core(CoreError::MfaRequired) => {
                www_authenticate = true;
                (
                    StatusCode::UNAUTHORIZED,
                    problem(
                        StatusCode::UNAUTHORIZED,
                        "urn:roster:problem:mfa-required",
                        "Second factor required",
                        "this account has a TOTP factor: send the current 6-digit code as `totp`"
                            .into(),
                    ),
                )
            }
            ApiError::Core(CoreError::PreconditionFailed) => (
                StatusCode::PRECONDITION_FAILED,
                problem(
                    StatusCode::PRECONDITION_FAILED,
                    "urn:roster:problem:precondition-failed",
                    "Precondition failed",
                    "the resource changed since the version named in If-Match; fetch it again"
                        .into(),
                ),
            ),
            ApiError::Core(CoreError::IdempotencyMismatch) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "urn:roster:problem:idempotency-key-reused",
                    "Idempotency key reused",
                    "this Idempotency-Key was used with a different request body".into(),
                ),
            ),
            ApiError::Core(CoreError::RateLimited { retry_after_secs }) => {
                retry_after = Some(retry_after_secs);
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    problem(
                        StatusCode::TOO_MANY_REQUESTS,
                        "urn:roster:problem:rate-limited",
                        "Too many requests",
                        format!("rate limit exceeded; retry after {retry_after_secs} s"),
                    ),
                )
            }
            ApiError::Core(CoreError::Overloaded { retry_after_secs }) => {
                retry_after = Some(retry_after_secs);
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    problem(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "urn:roster:problem:overloaded",
                        "Overloaded",
                        format!(
                            "too many password operations at once; retry after {retry_after_secs} s"
                        ),
                    ),
                )
            }
            ApiError::Core(CoreError::StorageUnavailable {
                retry_after_secs,
                message,
            }) => {
                // Not a bug and not the client's fault: the disk refused.
                tracing::error!(error = %message, "storage unavailable");
                retry_after = Some(retry_after_secs);
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    problem(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "urn:roster:problem:storage-unavailable",
                        "Storage unavailable",
                        format!(
                            "the database cannot store changes at the moment; nothing was changed; retry after {retry_after_secs} s"
                        ),
                    ),
                )
            }
            ApiError::PayloadTooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "urn:roster:problem:payload-too-large",
                    "Payload too large",
                    format!("the request body exceeds {limit} bytes"),
                ),
            ),
            ApiError::UnsupportedMediaType(expected) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                problem(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "urn:roster:problem:unsupported-media-type",
                    "Unsupported media type",
                    format!("send the body as {expected}"),
                ),
            ),
            ApiError::Core(CoreError::NotConfigured(what)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "urn:roster:problem:not-configured",
                    "Not configured",
                    what.to_string(),
                ),
            ),
            ApiError::Core(CoreError::Internal(msg)) => {
                tracing::error!(error = %msg, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    problem(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "urn:roster:problem:internal",
                        "Internal error",
                        "an internal error occurred; quote the request id when reporting it".into(),
                    ),
                )
            }
        };
        let mut resp = (status, axum::Json(body)).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if www_authenticate {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"roster\""),
            );
        }
        crate::face::with_retry_after(resp, retry_after)
    }
}
