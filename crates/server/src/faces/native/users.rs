//! `/api/v1/users`: thin handlers that translate to the core and back.

use std::sync::Arc;

use crate::extract::Path;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use roster_core::FieldError;
use roster_core::user::{IdempotencyKey, UserQuery};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::dto::{CreateUserIn, UserList, UserOut, UserPatchDoc, user_patch};
use crate::extract::{Caller, Json, MergePatch, etag, if_match, parse_json, read_json};
use super::problem::{ApiError, ApiResult, Problem};
use crate::json::SizedJson;
use crate::state::AppState;

pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

pub fn user_response(status: StatusCode, user: roster_core::user::User) -> Response {
    let tag = etag(user.version);
    let location = (status == StatusCode::CREATED).then(|| format!("/api/v1/users/{}", user.id));
    let mut resp = (
        status,
        SizedJson(UserOut::from(user), crate::json::USER_BYTES),
    )
        .into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    if let Some(v) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::LOCATION, v);
    }
    resp
}

/// An id that is not a UUID cannot name anything: that is "not found".
pub fn parse_uuid(id: &str, what: &'static str) -> ApiResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| ApiError::Core(roster_core::CoreError::NotFound(what)))
}

fn parse_id(id: &str) -> ApiResult<Uuid> {
    parse_uuid(id, "user")
}

/// Canonical JSON (object keys sorted), so a retry that reorders keys still
/// counts as the same request.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn idempotency_key(headers: &HeaderMap, body: &Value) -> ApiResult<Option<IdempotencyKey>> {
    let Some(raw) = headers.get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let key = raw
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::BadRequest(vec![FieldError::new(
                "Idempotency-Key",
                "format",
                "must be 1-255 visible ASCII characters",
            )])
        })?;
    let mut text = String::new();
    canonical(body, &mut text);
    let digest = Sha256::digest(text.as_bytes());
    Ok(Some(IdempotencyKey {
        key: key.to_string(),
        request_hash: roster_core::auth::hex_lower(&digest),
    }))
}

#[utoipa::path(
    post, path = "/users", tag = "users",
    request_body(content = CreateUserIn, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key and body return the first response")),
    responses(
        (status = 201, description = "Created", body = UserOut,
            headers(("Location" = String), ("ETag" = String))),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Username taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Idempotency key reused with another body", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Password hashing saturated, or `invite` without mail configured", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn create_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    req: Request,
) -> ApiResult<Response> {
    let headers = req.headers().clone();
    let (doc, _) = read_json::<Json, Value>(req, &state).await?;
    let idempotency = idempotency_key(&headers, &doc)?;
    let body: CreateUserIn = parse_json(doc.to_string().as_bytes())?;
    let invite = body.invite;
    let mut input = body.into_core();
    input.idempotency = idempotency;
    let created = if invite {
        state.roster.create_user_invited(&ctx, input).await?
    } else {
        state.roster.create_user(&ctx, input).await?
    };
    let mut resp = user_response(StatusCode::CREATED, created.user);
    if created.replayed {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

#[utoipa::path(
    get, path = "/users/{id}", tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserOut, headers(("ETag" = String))),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let user = state.roster.get_user(&ctx, parse_id(&id)?).await?;
    Ok(user_response(StatusCode::OK, user))
}

pub fn bad_param(field: &str, rule: &'static str, message: &str) -> ApiError {
    ApiError::BadRequest(vec![FieldError::new(field, rule, message)])
}

fn query_id(field: &str, value: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(value).map_err(|_| bad_param(field, "format", "must be a container id (UUID)"))
}

pub fn decode_cursor(cursor: &str) -> ApiResult<i64> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("s:").and_then(|n| n.parse::<i64>().ok()))
        .filter(|n| *n >= 0)
        .ok_or_else(|| bad_param("cursor", "cursor", "is not a cursor this server issued"))
}

pub fn encode_cursor(seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("s:{seq}"))
}

#[utoipa::path(
    get, path = "/users", tag = "users",
    params(
        ("username" = Option<String>, Query, description = "Exact username, case-insensitive"),
        ("email" = Option<String>, Query, description = "Exact email, case-insensitive"),
        ("q" = Option<String>, Query, description = "Text to find in username, email, first, last or display name, case-insensitive: at the start of one (default) or anywhere in one (`match=contains`)"),
        ("match" = Option<String>, Query, description = "How `q` matches: `prefix` (default) or `contains`"),
        ("active" = Option<bool>, Query, description = "Only active (true) or inactive (false) users"),
        ("limit" = Option<u32>, Query, description = "Page size, 1-1000 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("deleted" = Option<bool>, Query, description = "Also list soft-deleted users (shown with `deleted_at`)"),
        ("container" = Option<Uuid>, Query, description = "Only users homed in this container or below it"),
        ("site" = Option<Uuid>, Query, description = "Only users homed in this container or below it, or belonging to one of those containers as a further site (D3's `siteIds`)"),
    ),
    responses(
        (status = 200, description = "A page of users, oldest first", body = UserList),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_users(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<SizedJson<UserList>> {
    let mut q = UserQuery::default();
    for (name, value) in params {
        match name.as_str() {
            "username" => q.username = Some(value),
            "email" => q.email = Some(value),
            "q" => q.q = Some(value),
            "match" => {
                q.q_contains = match value.as_str() {
                    "prefix" => false,
                    "contains" => true,
                    _ => return Err(bad_param("match", "enum", "must be prefix or contains")),
                }
            }
            "active" => {
                q.active = Some(
                    value
                        .parse()
                        .map_err(|_| bad_param("active", "type", "must be true or false"))?,
                )
            }
            "limit" => {
                q.limit = value.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    bad_param("limit", "range", "must be an integer between 1 and 1000")
                })?
            }
            "cursor" => q.after_seq = Some(decode_cursor(&value)?),
            "container" => q.container = Some(query_id("container", &value)?),
            "site" => q.site = Some(query_id("site", &value)?),
            "deleted" => {
                q.include_deleted = value
                    .parse()
                    .map_err(|_| bad_param("deleted", "type", "must be true or false"))?
            }
            _ => {}
        }
    }
    let page = state.roster.list_users(&ctx, q).await?;
    let capacity = 64 + page.items.len() * crate::json::USER_BYTES;
    Ok(SizedJson(
        UserList {
            items: page.items.into_iter().map(UserOut::from).collect(),
            next_cursor: page.next.map(encode_cursor),
        },
        capacity,
    ))
}

#[utoipa::path(
    patch, path = "/users/{id}", tag = "users",
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the user is still at this ETag"),
    ),
    request_body(content = UserPatchDoc, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The updated user", body = UserOut, headers(("ETag" = String))),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Username taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn patch_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    let version = if_match(req.headers())?;
    let (doc, _) = read_json::<MergePatch, Value>(req, &state).await?;
    let (patch, move_to) = user_patch(doc)?;
    let user = state
        .roster
        .update_user(&ctx, id, patch, move_to, version)
        .await?;
    Ok(user_response(StatusCode::OK, user))
}

#[utoipa::path(
    delete, path = "/users/{id}", tag = "users",
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "Delete only if the user is still at this ETag"),
        ("purge" = Option<bool>, Query, description = "Remove for good (also a soft-deleted user) instead of a soft delete"),
    ),
    responses(
        (status = 204, description = "Deleted (soft: restorable until purged) or purged"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Cannot delete yourself", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn delete_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id)?;
    let mut purge = false;
    for (name, value) in params {
        if name == "purge" {
            purge = value
                .parse()
                .map_err(|_| bad_param("purge", "type", "must be true or false"))?;
        }
    }
    if purge {
        state
            .roster
            .purge_user(&ctx, id, if_match(&headers)?)
            .await?;
    } else {
        state
            .roster
            .delete_user(&ctx, id, if_match(&headers)?)
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/users/{id}/restore", tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Restored", body = UserOut),
        (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not deleted", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn restore_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::response::Response> {
    let user = state.roster.restore_user(&ctx, parse_id(&id)?).await?;
    Ok(user_response(StatusCode::OK, user))
}
