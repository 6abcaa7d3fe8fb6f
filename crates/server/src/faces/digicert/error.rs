//! DigiCert's error envelope (`{"errors": [{"code", "message"}]}`) and how
//! core errors and rejections map onto it.

use super::*;

pub(super) struct DcError(
    pub(super) StatusCode,
    pub(super) String,
    pub(super) String,
    pub(super) Option<u64>,
);

impl DcError {
    pub(super) fn new(status: StatusCode, code: impl Into<String>, msg: impl Into<String>) -> Self {
        DcError(status, code.into(), msg.into(), None)
    }

    pub(super) fn bad(field: &str, msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, format!("invalid_{field}"), msg)
    }

    pub(super) fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("The specified {what} was not found."),
        )
    }
}

impl From<CoreError> for DcError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Unauthenticated | CoreError::MfaRequired => DcError::new(
                StatusCode::FORBIDDEN,
                "access_denied|access_denied_invalid_key",
                "Access denied due to access_denied_invalid_key.",
            ),
            CoreError::Forbidden => DcError::new(
                StatusCode::FORBIDDEN,
                "access_denied|missing_permission",
                "Access denied due to missing_permission.",
            ),
            CoreError::NotFound(what) => DcError::not_found(what),
            CoreError::Invalid(errors) => {
                let first = errors.first().map(|e| e.field.clone()).unwrap_or_default();
                let msg = errors
                    .iter()
                    .map(|e| format!("{} {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                DcError::bad(first.split(['.', '[']).next().unwrap_or("input"), msg)
            }
            CoreError::Conflict(e) => DcError::new(
                StatusCode::BAD_REQUEST,
                format!("duplicate_{}", e.field),
                e.message,
            ),
            CoreError::PreconditionFailed | CoreError::IdempotencyMismatch => DcError::new(
                StatusCode::CONFLICT,
                "conflict",
                "The object changed; retry.",
            ),
            CoreError::RateLimited { retry_after_secs }
            | CoreError::Overloaded { retry_after_secs } => DcError(
                StatusCode::TOO_MANY_REQUESTS,
                "request_limit_exceeded".into(),
                "Service unavailable, please limit request volume".into(),
                Some(retry_after_secs),
            ),
            CoreError::StorageUnavailable {
                retry_after_secs,
                message,
            } => {
                tracing::error!(error = %message, "storage unavailable");
                DcError(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable".into(),
                    "Service temporarily unavailable, please try again later.".into(),
                    Some(retry_after_secs),
                )
            }
            CoreError::NotConfigured(what) => {
                DcError::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", what)
            }
            CoreError::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                DcError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "An internal error occurred.",
                )
            }
        }
    }
}

impl From<Rejection> for DcError {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::BadBody(errors) => DcError::new(
                StatusCode::BAD_REQUEST,
                "bad_request_format",
                errors
                    .first()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .unwrap_or_default(),
            ),
            Rejection::PayloadTooLarge(n) => DcError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                format!("The request body exceeds {n} bytes."),
            ),
            Rejection::UnsupportedMediaType(t) => DcError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "bad_request_format",
                format!("Send {t}."),
            ),
            Rejection::NotFound | Rejection::MethodNotAllowed => route_not_found(),
        }
    }
}

pub(super) fn route_not_found() -> DcError {
    DcError::new(
        StatusCode::NOT_FOUND,
        "not_found|route",
        "The specified route was not found.",
    )
}

impl IntoResponse for DcError {
    fn into_response(self) -> Response {
        face::with_retry_after(
            (
                self.0,
                axum::Json(json!({ "errors": [{ "code": self.1, "message": self.2 }] })),
            )
                .into_response(),
            self.3,
        )
    }
}


pub(super) type DcResult = Result<Response, DcError>;

pub(super) fn ok(v: Value) -> DcResult {
    Ok(axum::Json(v).into_response())
}

pub(super) fn no_content() -> DcResult {
    Ok(StatusCode::NO_CONTENT.into_response())
}
