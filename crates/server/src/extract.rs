//! Extractors every face shares: the authenticated caller, request bodies
//! and JSON with field-naming errors, path parameters and conditional
//! headers. They name no face: a refusal is rendered by the request's face
//! (see [`crate::face`]).

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

use crate::face::{self, Rejection};
use crate::state::AppState;

/// The authenticated caller and where the request came from, from the
/// credential where the request's face keeps it. Handlers that take it
/// cannot run unauthenticated; a refusal comes in the face's envelope.
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

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let face = face::of_parts(parts).ok_or_else(face::unwired)?;
        authenticate(parts, state, face.credential(&parts.headers))
            .await
            .map(Caller)
            .map_err(|e| face.error(e))
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

/// A request body for faces that read their clients' JSON themselves: a
/// body over the size limit is refused in the face's own envelope rather
/// than axum's plain text.
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
        let face = req
            .extensions()
            .get::<face::Current>()
            .copied()
            .ok_or_else(face::unwired)?;
        Bytes::from_request(req, state)
            .await
            .map(FaceBytes)
            .map_err(|_| {
                face.0
                    .reject(Rejection::PayloadTooLarge(state.http.body_limit))
            })
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
            Err(_) => Err(match face::of_parts(parts) {
                Some(face) => face.reject(Rejection::NotFound),
                None => face::unwired(),
            }),
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
) -> Result<(T, Bytes), Rejection> {
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
        return Err(Rejection::UnsupportedMediaType(M::EXPECTED));
    }
    let limit = state.http.body_limit;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(Rejection::PayloadTooLarge(limit));
    }
    let bytes = Bytes::from_request(req, &())
        .await
        .map_err(|_| Rejection::PayloadTooLarge(limit))?;
    let value = parse_json(&bytes)?;
    Ok((value, bytes))
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Rejection> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(field_error)
}

/// A vendor's body: top-level fields the vendor documents for the endpoint
/// (`known`) are read and checked; any other field is dropped and logged at
/// debug, since clients send fields from newer versions of the vendor's
/// documentation. A body that is not a JSON object is read as is.
pub fn parse_known<T: DeserializeOwned>(bytes: &[u8], known: &[&str]) -> Result<T, Rejection> {
    let value: serde_json::Value = parse_json(bytes)?;
    from_known(value, known)
}

/// [`parse_known`] for a value already read.
pub fn from_known<T: DeserializeOwned>(
    mut value: serde_json::Value,
    known: &[&str],
) -> Result<T, Rejection> {
    if let serde_json::Value::Object(map) = &mut value {
        map.retain(|k, _| {
            let keep = known.contains(&k.as_str());
            if !keep {
                tracing::debug!(field = %k, "ignoring a field the endpoint does not document");
            }
            keep
        });
    }
    serde_path_to_error::deserialize(value).map_err(field_error)
}

fn field_error(e: serde_path_to_error::Error<serde_json::Error>) -> Rejection {
    {
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
        Rejection::BadBody(vec![FieldError::new(field, rule, message)])
    }
}

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for JsonBody<T> {
    type Rejection = axum::response::Response;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let face = req
            .extensions()
            .get::<face::Current>()
            .copied()
            .ok_or_else(face::unwired)?;
        read_json::<Json, T>(req, state)
            .await
            .map(|(v, _)| JsonBody(v))
            .map_err(|r| face.0.reject(r))
    }
}

/// Parses `If-Match`: `"3"`, `W/"3"` or `3`; `*` means any version.
/// A value that cannot name a version of ours matches nothing.
pub fn if_match(headers: &HeaderMap) -> Result<Option<i64>, CoreError> {
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
        .map_err(|_| CoreError::PreconditionFailed)
}

pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}
