//! Extractors shared by the native handlers: the authenticated caller, JSON
//! bodies with field-naming errors, and conditional-request headers.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use roster_core::audit::Origin;
use roster_core::service::Ctx;
use roster_core::{CoreError, FieldError};
use serde::de::DeserializeOwned;

use crate::problem::ApiError;
use crate::state::AppState;

/// The authenticated caller and where the request came from. Handlers that
/// take it cannot run unauthenticated.
pub struct Caller(pub Ctx);

/// Where a request came from, for the audit trail.
pub fn origin(parts: &Parts) -> Origin {
    Origin {
        request_id: crate::request_id::current(),
        source: parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
    }
}

/// [`origin`] as an extractor, for routes open to anyone.
pub struct RequestOrigin(pub Origin);

impl<S: Send + Sync> FromRequestParts<S> for RequestOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestOrigin(origin(parts)))
    }
}

/// Finds the credential in `Authorization: Bearer` or `X-API-Key`.
pub fn credential(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, rest) = v.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        Ok(Caller(
            authenticate(parts, state, credential(&parts.headers)).await?,
        ))
    }
}

/// Authenticates the credential a face found in its own header; every
/// face's caller extractor ends here.
pub async fn authenticate(
    parts: &Parts,
    state: &AppState,
    credential: Option<&str>,
) -> Result<Ctx, CoreError> {
    let cred = credential
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or(CoreError::Unauthenticated)?;
    let who = state.roster.authenticate(cred).await?;
    Ok(Ctx {
        who,
        origin: origin(parts),
    })
}

/// A request body for the dialects, which read their vendors' JSON
/// themselves: a body over the size limit is refused in the face's own
/// envelope rather than axum's plain text.
pub struct FaceBytes(pub Bytes);

impl std::ops::Deref for FaceBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl FromRequest<Arc<AppState>> for FaceBytes {
    type Rejection = axum::response::Response;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let face = crate::face::Face::of(req.uri().path());
        Bytes::from_request(req, state)
            .await
            .map(FaceBytes)
            .map_err(|_| face.rejected(ApiError::PayloadTooLarge(state.http.body_limit)))
    }
}

/// Path parameters. A segment that cannot be decoded (invalid UTF-8, a
/// non-number where a number goes) names nothing: the face's "not found",
/// in its envelope, instead of axum's plain-text rejection.
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = axum::response::Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(_) => Err(crate::face::Face::of(parts.uri.path()).not_found()),
        }
    }
}

/// A header's value, when it is text.
pub fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// A JSON body: checks the media type, the size limit and the syntax, and
/// names the offending field when a value has the wrong type.
pub struct JsonBody<T>(pub T);

/// Which media types a body may have.
pub trait MediaTypes {
    const EXPECTED: &'static str;
    fn accepts(essence: &str) -> bool;
}

pub struct Json;
impl MediaTypes for Json {
    const EXPECTED: &'static str = "application/json";
    fn accepts(essence: &str) -> bool {
        essence == "application/json"
    }
}

pub struct MergePatch;
impl MediaTypes for MergePatch {
    const EXPECTED: &'static str = "application/merge-patch+json";
    fn accepts(essence: &str) -> bool {
        essence == "application/merge-patch+json" || essence == "application/json"
    }
}

pub async fn read_json<M: MediaTypes, T: DeserializeOwned>(
    req: Request,
    state: &AppState,
) -> Result<(T, Bytes), ApiError> {
    let essence = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if !M::accepts(&essence) {
        return Err(ApiError::UnsupportedMediaType(M::EXPECTED));
    }
    let limit = state.http.body_limit;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let bytes = Bytes::from_request(req, &())
        .await
        .map_err(|_| ApiError::PayloadTooLarge(limit))?;
    let value = parse_json(&bytes)?;
    Ok((value, bytes))
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        let quoted = |prefix: &str| {
            message
                .strip_prefix(prefix)
                .and_then(|rest| rest.split('`').next())
                .map(str::to_owned)
        };
        let (field, rule, message) = if inner.is_syntax() || inner.is_eof() {
            ("body".to_string(), "json", message)
        } else if let Some(name) = quoted("missing field `") {
            let field = if path == "." {
                name
            } else {
                format!("{path}.{name}")
            };
            (field, "required", "is required".to_string())
        } else if let Some(name) = quoted("unknown field `") {
            let field = if path == "." { name } else { path };
            (field, "unknown_field", "is not a known field".to_string())
        } else if path == "." {
            ("body".to_string(), "type", message)
        } else {
            (path, "type", message)
        };
        ApiError::BadRequest(vec![FieldError::new(field, rule, message)])
    })
}

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        Ok(JsonBody(read_json::<Json, T>(req, state).await?.0))
    }
}

/// Parses `If-Match`: `"3"`, `W/"3"` or `3`; `*` means any version.
/// A value that cannot name a version of ours matches nothing.
pub fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let v = raw.to_str().unwrap_or_default().trim();
    if v == "*" {
        return Ok(None);
    }
    let v = v.strip_prefix("W/").unwrap_or(v).trim_matches('"');
    v.parse::<i64>()
        .map(Some)
        .map_err(|_| ApiError::Core(CoreError::PreconditionFailed))
}

pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}
