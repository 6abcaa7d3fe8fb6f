use serde::Serialize;

/// One broken rule on one input field, as every face reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub rule: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule,
            message: message.into(),
        }
    }
}

/// Every failure the core can report. Faces map these onto their own
/// envelopes; nothing here carries internals that a client may not see,
/// except `Internal`, whose text is for the log only.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("conflict on {}", .0.field)]
    Conflict(FieldError),
    #[error("forbidden")]
    Forbidden,
    #[error("unauthenticated")]
    Unauthenticated,
    /// The password was right; the account also needs its TOTP code.
    #[error("second factor required")]
    MfaRequired,
    #[error("version mismatch")]
    PreconditionFailed,
    #[error("idempotency key reused with a different request")]
    IdempotencyMismatch,
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    #[error("overloaded")]
    Overloaded { retry_after_secs: u64 },
    /// The database cannot take writes (disk full, I/O error): retry after
    /// `retry_after_secs`. The text is for the log only.
    #[error("storage unavailable: {message}")]
    StorageUnavailable {
        retry_after_secs: u64,
        message: String,
    },
    /// A feature that needs configuration the operator has not given
    /// (mail without SMTP). The text says what is missing.
    #[error("not configured: {0}")]
    NotConfigured(&'static str),
    #[error("internal: {0}")]
    Internal(String),
}

impl CoreError {
    pub fn invalid(
        field: impl Into<String>,
        rule: &'static str,
        message: impl Into<String>,
    ) -> Self {
        CoreError::Invalid(vec![FieldError::new(field, rule, message)])
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        CoreError::Internal(e.to_string())
    }
}

pub type CoreResult<T> = Result<T, CoreError>;
