//! RFC 7644 §3.12 errors: `{"schemas":[Error URN],"status":"400",
//! "scimType":"...","detail":"..."}` as `application/scim+json`. The one
//! place core errors and framework rejections become SCIM statuses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_core::CoreError;
use serde_json::json;

use crate::face::Rejection;

pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const MEDIA_TYPE: &str = "application/scim+json";

/// The `scimType` keywords of RFC 7644 §3.12 this face emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
        }
    }
}

#[derive(Debug)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<ScimType>,
    pub detail: String,
    pub retry_after: Option<u64>,
    pub www_authenticate: bool,
}

pub type ScimResult<T> = Result<T, ScimError>;

impl ScimError {
    pub fn new(status: StatusCode, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
            retry_after: None,
            www_authenticate: false,
        }
    }

    /// 400 with a `scimType`.
    pub fn bad(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidValue, detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidSyntax, detail)
    }

    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidFilter, detail)
    }

    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidPath, detail)
    }

    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::Mutability, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }

    pub fn route_not_found() -> Self {
        Self::not_found("no SCIM endpoint at this path")
    }
}

fn field_text(errors: &[roster_core::FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", scim_field(&e.field), e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The SCIM attribute a core field is known as here, so that a client
/// reads errors in its own vocabulary.
fn scim_field(field: &str) -> String {
    let (head, rest) = match field.find(['.', '[']) {
        Some(i) => field.split_at(i),
        None => (field, ""),
    };
    let name = match head {
        "username" => "userName",
        "email" => "emails.value",
        "first_name" => "name.givenName",
        "last_name" => "name.familyName",
        "display_name" => "displayName",
        "phone" => "phoneNumbers.value",
        "job_title" => "title",
        "external_id" => "externalId",
        "distinguished_name" => "distinguishedName",
        "security_level" => "securityLevel",
        "mfa_required" => "mfaRequired",
        "saml_sso_only" => "samlSsoOnly",
        "container_id" => "containerId",
        "name" => "displayName",
        other => other,
    };
    format!("{name}{rest}")
}

impl From<CoreError> for ScimError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Invalid(errors) => ScimError::invalid_value(field_text(&errors)),
            CoreError::NotFound(what) => ScimError::not_found(format!("no such {what}")),
            CoreError::Conflict(f) => ScimError::new(
                StatusCode::CONFLICT,
                Some(ScimType::Uniqueness),
                format!("{}: {}", scim_field(&f.field), f.message),
            ),
            CoreError::Forbidden => ScimError::new(
                StatusCode::FORBIDDEN,
                None,
                "the credential is valid but lacks the privilege for this action",
            ),
            CoreError::Unauthenticated | CoreError::MfaRequired => ScimError {
                www_authenticate: true,
                ..ScimError::new(
                    StatusCode::UNAUTHORIZED,
                    None,
                    "a valid API key or token is required (Authorization: Bearer ...)",
                )
            },
            CoreError::PreconditionFailed => ScimError::new(
                StatusCode::PRECONDITION_FAILED,
                None,
                "the resource changed since the version named in If-Match; fetch it again",
            ),
            CoreError::IdempotencyMismatch => ScimError::new(
                StatusCode::CONFLICT,
                None,
                "the request was already made with a different body",
            ),
            CoreError::RateLimited { retry_after_secs } => ScimError {
                retry_after: Some(retry_after_secs),
                ..ScimError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    None,
                    format!("rate limit exceeded; retry after {retry_after_secs} s"),
                )
            },
            CoreError::Overloaded { retry_after_secs } => ScimError {
                retry_after: Some(retry_after_secs),
                ..ScimError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    format!("overloaded; retry after {retry_after_secs} s"),
                )
            },
            CoreError::StorageUnavailable {
                retry_after_secs,
                message,
            } => {
                tracing::error!(error = %message, "storage unavailable");
                ScimError {
                    retry_after: Some(retry_after_secs),
                    ..ScimError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        None,
                        format!(
                            "the database cannot store changes at the moment; nothing was changed; retry after {retry_after_secs} s"
                        ),
                    )
                }
            }
            CoreError::NotConfigured(what) => {
                ScimError::new(StatusCode::SERVICE_UNAVAILABLE, None, what)
            }
            CoreError::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                ScimError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    "an internal error occurred",
                )
            }
        }
    }
}

impl From<Rejection> for ScimError {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::BadBody(errors) => ScimError::invalid_syntax(field_text(&errors)),
            Rejection::PayloadTooLarge(n) => ScimError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                format!("the request body exceeds the maxPayloadSize ({n} bytes)"),
            ),
            Rejection::UnsupportedMediaType(_) => ScimError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                "send the body as application/scim+json or application/json",
            ),
            Rejection::NotFound => ScimError::route_not_found(),
            Rejection::MethodNotAllowed => ScimError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                None,
                "this endpoint does not support this method",
            ),
        }
    }
}

impl ScimError {
    /// The body as JSON (Bulk embeds it in an operation's `response`).
    pub fn body(&self) -> serde_json::Value {
        let mut body = json!({
            "schemas": [ERROR_URN],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t.as_str());
        }
        body
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, self.body().to_string()).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.www_authenticate {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"roster\""),
            );
        }
        resp
    }
}
