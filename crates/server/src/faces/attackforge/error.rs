//! AttackForge's error envelope (`{"error": ...}`) and how core errors and
//! rejections map onto it.

use super::*;

pub(super) struct AfError(
    pub(super) StatusCode,
    pub(super) String,
    pub(super) Option<u64>,
);

impl AfError {
    pub(super) fn new(status: StatusCode, msg: impl Into<String>) -> Self {
        AfError(status, msg.into(), None)
    }

    pub(super) fn bad(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, msg)
    }
}

impl From<CoreError> for AfError {
    fn from(e: CoreError) -> Self {
        let (status, msg, retry) = match e {
            CoreError::Unauthenticated | CoreError::MfaRequired => (
                StatusCode::UNAUTHORIZED,
                "Invalid or missing X-SSAPI-KEY".to_string(),
                None,
            ),
            CoreError::Forbidden => (
                StatusCode::FORBIDDEN,
                "You do not have access to this method or object".to_string(),
                None,
            ),
            CoreError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                format!("{} not found", capitalised(what)),
                None,
            ),
            CoreError::Invalid(errors) => (
                StatusCode::BAD_REQUEST,
                errors
                    .iter()
                    .map(|e| format!("{} {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                None,
            ),
            CoreError::Conflict(e) => (StatusCode::CONFLICT, e.message, None),
            CoreError::PreconditionFailed => (
                StatusCode::CONFLICT,
                "The object changed; retry".to_string(),
                None,
            ),
            CoreError::IdempotencyMismatch => (StatusCode::UNPROCESSABLE_ENTITY, e_text(), None),
            CoreError::RateLimited { retry_after_secs }
            | CoreError::Overloaded { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests; retry later".to_string(),
                Some(retry_after_secs),
            ),
            CoreError::StorageUnavailable {
                retry_after_secs,
                message,
            } => {
                tracing::error!(error = %message, "storage unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service temporarily unavailable; retry later".to_string(),
                    Some(retry_after_secs),
                )
            }
            CoreError::NotConfigured(what) => {
                (StatusCode::SERVICE_UNAVAILABLE, what.to_string(), None)
            }
            CoreError::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal server error".to_string(),
                    None,
                )
            }
        };
        AfError(status, msg, retry)
    }
}

pub(super) fn e_text() -> String {
    "Request reused with a different body".into()
}

pub(super) fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

impl From<Rejection> for AfError {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::BadBody(errors) => AfError::bad(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Rejection::PayloadTooLarge(n) => AfError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Body exceeds {n} bytes"),
            ),
            Rejection::UnsupportedMediaType(t) => {
                AfError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("Send {t}"))
            }
            Rejection::NotFound | Rejection::MethodNotAllowed => {
                AfError::new(StatusCode::NOT_FOUND, "Method not found")
            }
        }
    }
}

impl IntoResponse for AfError {
    fn into_response(self) -> Response {
        face::with_retry_after(
            (self.0, axum::Json(json!({ "error": self.1 }))).into_response(),
            self.2,
        )
    }
}


pub(super) type AfResult = Result<axum::Json<Value>, AfError>;
