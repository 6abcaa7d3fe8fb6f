//! What a face is. Every face (the native API, SCIM, each vendor dialect)
//! implements [`Face`] and is listed once in the registry
//! (`crate::faces::FACES`); everything shared — routing, the rendering of
//! framework rejections, rate limits, panics, metrics — asks the face of
//! the request through this trait, so no shared code names a face.
//!
//! This module depends on no face: shared extractors find the request's
//! face in its extensions ([`Current`], set once per request by the
//! outermost layer), which keeps the faces and the shared code from
//! importing each other.

use std::sync::Arc;

use axum::Router;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_core::{CoreError, FieldError};

use crate::state::AppState;

/// One face onto the core. No method has a default, so a face that leaves
/// one out does not compile.
pub trait Face: Sync + 'static {
    /// Its label in metrics and logs.
    fn name(&self) -> &'static str;

    /// Whether a request path belongs to this face. The native face, tried
    /// last, owns whatever no other face claims.
    fn owns(&self, path: &str) -> bool;

    /// Its routes, at absolute paths.
    fn router(&self) -> Router<Arc<AppState>>;

    /// Where its clients put their credential (an API key or token).
    fn credential<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str>;

    /// Its envelope for an error of the core, also when raised outside its
    /// handlers (rate limits, panics, an unavailable database).
    fn error(&self, e: CoreError) -> Response;

    /// Its envelope for a request the HTTP layer refused.
    fn reject(&self, r: Rejection) -> Response;
}

/// Why the HTTP layer refused a request before any handler ran, in terms
/// no face owns; each face renders it in its own envelope.
#[derive(Debug)]
pub enum Rejection {
    /// Nothing at this path (also a path segment that cannot be decoded).
    NotFound,
    /// The path exists, but not for this method.
    MethodNotAllowed,
    /// The body is over the size limit (bytes).
    PayloadTooLarge(usize),
    /// The body is not of this media type.
    UnsupportedMediaType(&'static str),
    /// The body is not JSON, or a field has the wrong type.
    BadBody(Vec<FieldError>),
}

/// The face of the request being handled, put into its extensions by the
/// outermost layer.
#[derive(Clone, Copy)]
pub struct Current(pub &'static dyn Face);

/// The face of a request, for shared extractors. Only requests that did
/// not pass through [`crate::app`]'s layers lack one.
pub fn of_parts(parts: &Parts) -> Option<&'static dyn Face> {
    parts.extensions.get::<Current>().map(|c| c.0)
}

/// The answer when a request reached shared code without its face: a bug
/// in the wiring, never the client's doing.
pub fn unwired() -> Response {
    tracing::error!("request without a face: the face layer is missing");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// Adds `Retry-After` (seconds) to a response, as every face's 429 and 503
/// carry it.
pub fn with_retry_after(mut resp: Response, secs: Option<u64>) -> Response {
    if let Some(secs) = secs {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// A header's value, when it is text, trimmed.
pub fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// `Authorization: <scheme> <credential>` for any of `schemes` (compared
/// without case).
pub fn authorization<'a>(headers: &'a HeaderMap, schemes: &[&str]) -> Option<&'a str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    schemes
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme))
        .then(|| rest.trim())
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Current {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        of_parts(parts).map(Current).ok_or_else(unwired)
    }
}
