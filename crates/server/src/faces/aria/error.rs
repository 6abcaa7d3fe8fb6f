//! Aria's error envelope (`message`, `httpStatusCode`, `apiErrorCode`,
//! `validationFailures`) and how core errors and rejections map onto it.

use super::*;

pub(super) struct AriaError {
    pub(super) status: StatusCode,
    pub(super) message: String,
    pub(super) failures: Vec<(String, String)>,
    pub(super) retry_after: Option<u64>,
}

impl AriaError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        AriaError {
            status,
            message: message.into(),
            failures: Vec::new(),
            retry_after: None,
        }
    }
}

impl From<CoreError> for AriaError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Unauthenticated | CoreError::MfaRequired => {
                AriaError::new(StatusCode::UNAUTHORIZED, "Authentication failed")
            }
            CoreError::Forbidden => AriaError::new(
                StatusCode::FORBIDDEN,
                "The user does not have the privilege for this operation",
            ),
            CoreError::NotFound(what) => {
                AriaError::new(StatusCode::NOT_FOUND, format!("The {what} does not exist"))
            }
            CoreError::Invalid(errors) => AriaError {
                status: StatusCode::BAD_REQUEST,
                message: "Invalid input".into(),
                failures: errors.into_iter().map(|e| (e.message, e.field)).collect(),
                retry_after: None,
            },
            CoreError::Conflict(e) => AriaError {
                status: StatusCode::CONFLICT,
                message: e.message.clone(),
                failures: vec![(e.message, e.field)],
                retry_after: None,
            },
            CoreError::PreconditionFailed | CoreError::IdempotencyMismatch => {
                AriaError::new(StatusCode::CONFLICT, "The object changed; retry")
            }
            CoreError::RateLimited { retry_after_secs }
            | CoreError::Overloaded { retry_after_secs } => AriaError {
                retry_after: Some(retry_after_secs),
                ..AriaError::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests")
            },
            CoreError::StorageUnavailable {
                retry_after_secs,
                message,
            } => {
                tracing::error!(error = %message, "storage unavailable");
                AriaError {
                    retry_after: Some(retry_after_secs),
                    ..AriaError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Service temporarily unavailable; retry later",
                    )
                }
            }
            CoreError::NotConfigured(what) => AriaError::new(StatusCode::SERVICE_UNAVAILABLE, what),
            CoreError::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                AriaError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
            }
        }
    }
}

impl From<Rejection> for AriaError {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::BadBody(errors) => AriaError {
                status: StatusCode::BAD_REQUEST,
                message: "Invalid request body".into(),
                failures: errors.into_iter().map(|e| (e.message, e.field)).collect(),
                retry_after: None,
            },
            Rejection::PayloadTooLarge(n) => AriaError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("The body exceeds {n} bytes"),
            ),
            Rejection::UnsupportedMediaType(t) => {
                AriaError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("Send {t}"))
            }
            Rejection::NotFound | Rejection::MethodNotAllowed => {
                CoreError::NotFound("method").into()
            }
        }
    }
}

impl IntoResponse for AriaError {
    fn into_response(self) -> Response {
        let code = self.status.as_u16();
        let mut body =
            json!({ "message": self.message, "httpStatusCode": code, "apiErrorCode": code });
        if !self.failures.is_empty() {
            body["validationFailures"] = self
                .failures
                .iter()
                .map(|(m, p)| json!({ "failureMessage": m, "violationPath": p }))
                .collect();
        }
        face::with_retry_after(
            (self.status, axum::Json(body)).into_response(),
            self.retry_after,
        )
    }
}

pub(super) type AriaResult = Result<Response, AriaError>;
