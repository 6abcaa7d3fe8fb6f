//! SCIM 2.0 (RFC 7643/7644) at `/scim/v2`: Users, Groups, Me, discovery
//! (`/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`), queries and
//! `.search`, PATCH and Bulk.
//!
//! Like every face it only translates: each change is one call into the
//! core, which decides permissions and writes the audit trail.
//! Authentication is `Authorization: Bearer <API key or token>` (or
//! `X-API-Key`); discovery needs a valid credential but no privilege.
//! Errors are RFC 7644 §3.12 bodies as `application/scim+json`.

mod bulk;
mod discovery;
mod error;
mod filter;
mod group;
mod list;
mod patch;
mod schema;
mod user;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use roster_core::CoreError;
use roster_core::service::Ctx;
use serde_json::Value;

use crate::extract::Caller;
use crate::face::{self, Face, Rejection};
use crate::state::AppState;
use error::{MEDIA_TYPE, ScimError, ScimResult};

pub(crate) const PREFIX: &str = "/scim/v2";

/// Largest number of operations in one Bulk request.
pub(crate) const BULK_MAX_OPERATIONS: usize = 100;
/// Largest page a query returns (`filter.maxResults`).
pub(crate) const MAX_RESULTS: u32 = roster_core::user::LIST_MAX_LIMIT;

/// SCIM 2.0 at `/scim/v2`, with `Authorization: Bearer`.
pub struct Scim;

impl Face for Scim {
    fn name(&self) -> &'static str {
        "scim"
    }

    fn owns(&self, path: &str) -> bool {
        path == PREFIX || path.starts_with("/scim/v2/")
    }

    fn router(&self) -> Router<Arc<AppState>> {
        router()
    }

    /// `Authorization: Bearer <API key or token>` (or `X-API-Key`, as on the
    /// native API).
    fn credential<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        if headers.contains_key(header::AUTHORIZATION) {
            return face::authorization(headers, &["bearer"]);
        }
        face::header_text(headers, "x-api-key")
    }

    fn error(&self, e: CoreError) -> Response {
        ScimError::from(e).into_response()
    }

    fn reject(&self, r: Rejection) -> Response {
        ScimError::from(r).into_response()
    }
}

fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/scim/v2/ServiceProviderConfig",
            get(discovery::service_provider_config).fallback(method_not_allowed),
        )
        .route(
            "/scim/v2/ResourceTypes",
            get(discovery::resource_types).fallback(method_not_allowed),
        )
        .route(
            "/scim/v2/ResourceTypes/{id}",
            get(discovery::resource_type).fallback(method_not_allowed),
        )
        .route(
            "/scim/v2/Schemas",
            get(discovery::schemas).fallback(method_not_allowed),
        )
        .route(
            "/scim/v2/Schemas/{id}",
            get(discovery::schema).fallback(method_not_allowed),
        )
        .route(
            "/scim/v2/Users",
            get(list::list_users)
                .post(user::post)
                .fallback(method_not_allowed),
        )
        .route(
            "/scim/v2/Users/.search",
            post(list::search_users).fallback(method_not_allowed),
        )
        .route(
            "/scim/v2/Users/{id}",
            get(user::get)
                .put(user::put)
                .patch(user::patch)
                .delete(user::delete)
                .fallback(method_not_allowed),
        )
        .route(
            "/scim/v2/Me",
            get(user::get_me)
                .put(user::put_me)
                .patch(user::patch_me)
                .fallback(method_not_allowed),
        )
        .route(
            "/scim/v2/Groups",
            get(list::list_groups)
                .post(group::post)
                .fallback(method_not_allowed),
        )
        .route(
            "/scim/v2/Groups/.search",
            post(list::search_groups).fallback(method_not_allowed),
        )
        .route(
            "/scim/v2/Groups/{id}",
            get(group::get)
                .put(group::put)
                .patch(group::patch)
                .delete(group::delete)
                .fallback(method_not_allowed),
        )
        .route(
            "/scim/v2/.search",
            post(list::search_all).fallback(method_not_allowed),
        )
        .route(
            "/scim/v2/Bulk",
            post(bulk::bulk).fallback(method_not_allowed),
        )
}

/// A method an endpoint does not support: 405 in SCIM's envelope.
async fn method_not_allowed() -> Response {
    Scim.reject(Rejection::MethodNotAllowed)
}

// ---- the caller

/// The authenticated caller (the shared [`Caller`]) and the base URL
/// resources are located under.
pub struct ScimCaller {
    pub ctx: Ctx,
    pub base: String,
}

impl FromRequestParts<Arc<AppState>> for ScimCaller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let Caller(ctx) = Caller::from_request_parts(parts, state).await?;
        Ok(ScimCaller {
            ctx,
            base: base_url(&parts.headers),
        })
    }
}

/// `scheme://host/scim/v2`, for `meta.location` and `$ref`s.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
        })
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}{PREFIX}")
}

// ---- bodies

/// Reads a JSON body sent as `application/scim+json` or `application/json`.
pub fn json_body(headers: &HeaderMap, bytes: &[u8]) -> ScimResult<Value> {
    if let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        let essence = ct
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence != "application/scim+json" && essence != "application/json" {
            return Err(Rejection::UnsupportedMediaType(MEDIA_TYPE).into());
        }
    }
    let body: Value = serde_json::from_slice(bytes)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not valid JSON: {e}")))?;
    // SCIM 1.x messages name their schemas `urn:scim:schemas:…`; this
    // server speaks 2.0 only (RFC 7644 §3.12 `invalidVers`).
    let v1 = body["schemas"].as_array().is_some_and(|schemas| {
        schemas.iter().filter_map(Value::as_str).any(|s| {
            s.get(..17)
                .is_some_and(|p| p.eq_ignore_ascii_case("urn:scim:schemas:"))
        })
    });
    if v1 {
        return Err(ScimError::bad(
            error::ScimType::InvalidVers,
            "SCIM 1.x messages (urn:scim:schemas:…) are not supported; send SCIM 2.0 (urn:ietf:params:scim:…)",
        ));
    }
    Ok(body)
}

// ---- responses

/// A resource answer: status, body, and the resource's version and URL.
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub version: Option<i64>,
    pub location: Option<String>,
}

impl Reply {
    pub fn into_response(self) -> Response {
        let mut resp = (self.status, self.body.to_string()).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
        if let Some(v) = self.version
            && let Ok(tag) = HeaderValue::from_str(&user::version_tag(v))
        {
            h.insert(header::ETAG, tag);
        }
        if let Some(loc) = self.location
            && let Ok(l) = HeaderValue::from_str(&loc)
        {
            h.insert(header::LOCATION, l);
        }
        resp
    }
}

pub fn scim_json(status: StatusCode, body: Value) -> Response {
    Reply {
        status,
        body,
        version: None,
        location: None,
    }
    .into_response()
}

/// `If-Match`: `W/"3"`, `"3"` or `3`; `*` is any version.
pub fn if_match(headers: &HeaderMap) -> ScimResult<Option<i64>> {
    crate::extract::if_match(headers).map_err(ScimError::from)
}

/// Whether `If-None-Match` names the current version (answer 304).
pub fn not_modified(headers: &HeaderMap, version: i64) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| {
            t == "*" || {
                let t = t.strip_prefix("W/").unwrap_or(t).trim_matches('"');
                t.parse::<i64>().ok() == Some(version)
            }
        })
}

pub fn not_modified_response(version: i64) -> Response {
    let mut resp = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(tag) = HeaderValue::from_str(&user::version_tag(version)) {
        resp.headers_mut().insert(header::ETAG, tag);
    }
    resp
}

/// An id in a URL: a malformed one names nothing.
pub fn parse_id(raw: &str, what: &'static str) -> ScimResult<uuid::Uuid> {
    uuid::Uuid::parse_str(raw).map_err(|_| ScimError::not_found(format!("no such {what}")))
}

/// `attributes` / `excludedAttributes` of a request's query string.
#[derive(Debug, Default, serde::Deserialize)]
pub struct AttrParams {
    pub attributes: Option<String>,
    #[serde(rename = "excludedAttributes")]
    pub excluded_attributes: Option<String>,
}
