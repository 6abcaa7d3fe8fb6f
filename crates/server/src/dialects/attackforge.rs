//! AttackForge Self-Service RESTful API (`/api/ss`, header `X-SSAPI-KEY`).
//! Create answers with the create-side names (`email`, `mfa`), reads with
//! the read-side names (`email_address`, `mfa_enabled`), as AttackForge does.
//! Errors are `{"error": "..."}`.

use std::sync::Arc;

use crate::extract::FaceBytes as Bytes;
use crate::extract::Path;
use axum::Router;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use roster_core::access::{Group, Holder, RoleRef};
use roster_core::audit::{AuditQuery, Outcome};
use roster_core::service::{Ctx, GroupChange, GroupInput};
use roster_core::user::{CreateUser, Patch, RoleGrant, User, UserDraft, UserPatch, UserQuery};
use roster_core::{CoreError, Secret};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::extract::{authenticate, header, parse_json};
use crate::problem::ApiError;
use crate::state::AppState;

pub const PREFIX: &str = "/api/ss";

/// Roles a created user may get, as AttackForge names them.
const ROLES: &[&str] = &[
    "admin",
    "librarymod",
    "client",
    "consultant",
    "projectoperator",
];
/// AttackForge's own minimum password length.
const MIN_PASSWORD: usize = 15;

pub fn owns(path: &str) -> bool {
    path == PREFIX || path.starts_with("/api/ss/")
}

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/ss/user", post(create_user))
        .route("/api/ss/users", post(create_users).get(list_users))
        .route("/api/ss/users/{id}", get(get_user))
        .route("/api/ss/users/email/{email}", get(get_user_by_email))
        .route(
            "/api/ss/users/username/{username}",
            get(get_user_by_username),
        )
        .route("/api/ss/user/{id}", put(update_user))
        .route("/api/ss/user/{id}/activate", put(activate))
        .route("/api/ss/user/{id}/deactivate", put(deactivate))
        .route("/api/ss/user/{id}/groups", get(user_groups))
        .route("/api/ss/user/{id}/auditlogs", get(user_audit_logs))
        .route("/api/ss/user/{id}/logins", get(user_logins))
        .route("/api/ss/group", post(create_group))
        .route("/api/ss/groups", get(list_groups))
        .route("/api/ss/group/{id}", get(get_group).put(update_group))
        .route("/api/ss/group/user", post(add_to_group))
        .route("/api/ss/group/user/{user_id}", put(update_group_access))
        .route("/api/ss/apikey/regenerate", post(regenerate_key))
}

// ---- errors

pub struct AfError(StatusCode, String, Option<u64>);

impl AfError {
    fn new(status: StatusCode, msg: impl Into<String>) -> Self {
        AfError(status, msg.into(), None)
    }

    fn bad(msg: impl Into<String>) -> Self {
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

fn e_text() -> String {
    "Request reused with a different body".into()
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

impl From<ApiError> for AfError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Core(c) => c.into(),
            ApiError::BadRequest(errors) => AfError::bad(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ApiError::PayloadTooLarge(n) => AfError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Body exceeds {n} bytes"),
            ),
            ApiError::UnsupportedMediaType(t) => {
                AfError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("Send {t}"))
            }
            ApiError::NotFound | ApiError::MethodNotAllowed => {
                AfError::new(StatusCode::NOT_FOUND, "Method not found")
            }
        }
    }
}

impl IntoResponse for AfError {
    fn into_response(self) -> Response {
        let mut r = (self.0, axum::Json(json!({ "error": self.1 }))).into_response();
        if let Some(secs) = self.2 {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

pub fn error_response(e: CoreError) -> Response {
    AfError::from(e).into_response()
}

type AfResult = Result<axum::Json<Value>, AfError>;

// ---- the caller

/// The caller, authenticated by `X-SSAPI-KEY` (a roster API key).
pub struct Caller(Ctx);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = AfError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        Ok(Caller(
            authenticate(parts, state, header(parts, "x-ssapi-key")).await?,
        ))
    }
}

fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, AfError> {
    parse_json(bytes).map_err(AfError::from)
}

fn id(raw: &str) -> Result<Uuid, AfError> {
    Uuid::parse_str(raw).map_err(|_| AfError::from(CoreError::NotFound("user")))
}

fn group_id(raw: &str) -> Result<Uuid, AfError> {
    Uuid::parse_str(raw).map_err(|_| AfError::from(CoreError::NotFound("group")))
}

fn time_text(t: Option<OffsetDateTime>) -> Value {
    t.and_then(|t| t.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

fn yes_no(b: bool) -> &'static str {
    if b { "Yes" } else { "No" }
}

// ---- users

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    first_name: String,
    last_name: String,
    username: String,
    email: String,
    password: Secret,
    role: String,
    mfa: String,
}

fn status(u: &User) -> &'static str {
    if u.profile.attributes.get("is_deleted") == Some(&Value::Bool(true)) {
        "Deleted"
    } else if u.profile.active {
        "Active"
    } else {
        "Inactive"
    }
}

/// The AttackForge role among the user's role assignments.
async fn role_of(state: &AppState, ctx: &Ctx, u: &User) -> Result<String, AfError> {
    let assignments = state.roster.assignments_of(ctx, Holder::User(u.id)).await?;
    Ok(assignments
        .iter()
        .map(|a| a.role_name.as_str())
        .find(|r| ROLES.contains(r))
        .or_else(|| assignments.first().map(|a| a.role_name.as_str()))
        .unwrap_or_default()
        .to_string())
}

async fn read_side(state: &AppState, ctx: &Ctx, u: &User) -> Result<Value, AfError> {
    Ok(json!({
        "status": status(u),
        "role": role_of(state, ctx, u).await?,
        "first_name": u.profile.first_name,
        "last_name": u.profile.last_name,
        "email_address": u.profile.email,
        "username": u.profile.username,
        "mfa_enabled": yes_no(u.profile.mfa_required),
        "last_logged_in": time_text(u.last_login_at),
        "created": time_text(Some(u.created_at)),
        "id": u.id.to_string(),
    }))
}

fn to_core(n: NewUser) -> Result<CreateUser, AfError> {
    if !ROLES.contains(&n.role.as_str()) {
        return Err(AfError::bad(format!(
            "role must be one of: {}",
            ROLES.join(", ")
        )));
    }
    let mfa = match n.mfa.as_str() {
        "Yes" => true,
        "No" => false,
        _ => return Err(AfError::bad("mfa must be one of: Yes, No")),
    };
    Ok(CreateUser {
        profile: UserDraft {
            username: n.username,
            email: Some(n.email),
            first_name: Some(n.first_name),
            last_name: Some(n.last_name),
            active: true,
            mfa_required: mfa,
            ..Default::default()
        },
        password: Some(n.password),
        roles: vec![RoleGrant {
            role: RoleRef::Name(n.role),
            all_objects: true,
            containers: Vec::new(),
        }],
        min_password_length: Some(MIN_PASSWORD),
        ..Default::default()
    })
}

async fn create_one(state: &AppState, ctx: &Ctx, n: NewUser) -> Result<Value, AfError> {
    let role = n.role.clone();
    let created = state.roster.create_user(ctx, to_core(n)?).await?.user;
    Ok(json!({
        "id": created.id.to_string(),
        "first_name": created.profile.first_name,
        "last_name": created.profile.last_name,
        "email": created.profile.email,
        "username": created.profile.username,
        "status": status(&created),
        "role": role,
        "mfa": yes_no(created.profile.mfa_required),
    }))
}

async fn create_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    bytes: Bytes,
) -> AfResult {
    let n: NewUser = body(&bytes)?;
    Ok(axum::Json(
        json!({ "user": create_one(&state, &ctx, n).await? }),
    ))
}

async fn create_users(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    bytes: Bytes,
) -> AfResult {
    let items: Vec<Value> = body(&bytes)?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let result = match serde_json::from_value::<NewUser>(item) {
            Ok(n) => create_one(&state, &ctx, n).await,
            Err(e) => Err(AfError::bad(e.to_string())),
        };
        out.push(match result {
            Ok(user) => json!({ "status": "Created", "user": user }),
            Err(AfError(_, msg, _)) => json!({ "status": "Failed", "error": msg }),
        });
    }
    Ok(axum::Json(Value::Array(out)))
}

async fn all_users(state: &AppState, ctx: &Ctx, q: UserQuery) -> Result<Vec<User>, AfError> {
    Ok(state.roster.all_users(ctx, q).await?)
}

async fn list_users(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> AfResult {
    let mut q = UserQuery::default();
    for (k, v) in params {
        match k.as_str() {
            "firstName" => q.first_name = Some(v),
            "lastName" => q.last_name = Some(v),
            "email" => q.email = Some(v),
            "username" => q.username = Some(v),
            _ => {}
        }
    }
    let users = all_users(&state, &ctx, q).await?;
    let mut out = Vec::with_capacity(users.len());
    for u in &users {
        out.push(read_side(&state, &ctx, u).await?);
    }
    Ok(axum::Json(json!({ "count": out.len(), "users": out })))
}

async fn one(state: &AppState, ctx: &Ctx, q: UserQuery) -> Result<User, AfError> {
    state
        .roster
        .list_users(ctx, UserQuery { limit: 1, ..q })
        .await?
        .items
        .into_iter()
        .next()
        .ok_or_else(|| AfError::from(CoreError::NotFound("user")))
}

async fn get_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> AfResult {
    let u = state.roster.get_user(&ctx, id(&raw)?).await?;
    Ok(axum::Json(
        json!({ "user": read_side(&state, &ctx, &u).await? }),
    ))
}

async fn get_user_by_email(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(email): Path<String>,
) -> AfResult {
    let u = one(
        &state,
        &ctx,
        UserQuery {
            email: Some(email),
            ..Default::default()
        },
    )
    .await?;
    Ok(axum::Json(
        json!({ "user": read_side(&state, &ctx, &u).await? }),
    ))
}

async fn get_user_by_username(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(username): Path<String>,
) -> AfResult {
    let u = one(
        &state,
        &ctx,
        UserQuery {
            username: Some(username),
            ..Default::default()
        },
    )
    .await?;
    Ok(axum::Json(
        json!({ "user": read_side(&state, &ctx, &u).await? }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserUpdate {
    first_name: Option<String>,
    last_name: Option<String>,
    email_address: Option<String>,
    username: Option<String>,
    is_deleted: Option<bool>,
}

async fn update_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> AfResult {
    let change: UserUpdate = body(&bytes)?;
    let mut patch = UserPatch::default();
    let set = |v: Option<String>| v.map_or(Patch::Keep, Patch::Set);
    patch.first_name = set(change.first_name);
    patch.last_name = set(change.last_name);
    patch.email = set(change.email_address);
    patch.username = set(change.username);
    if let Some(deleted) = change.is_deleted {
        // AttackForge deletes softly: the account is disabled and marked.
        let mut attrs = Map::new();
        attrs.insert(
            "is_deleted".into(),
            if deleted {
                Value::Bool(true)
            } else {
                Value::Null
            },
        );
        patch.attributes = Patch::Set(attrs);
        patch.active = Patch::Set(!deleted);
    }
    let u = state
        .roster
        .update_user(&ctx, id(&raw)?, patch, None, None)
        .await?;
    Ok(axum::Json(
        json!({ "user": read_side(&state, &ctx, &u).await? }),
    ))
}

async fn set_active(state: &AppState, ctx: &Ctx, raw: &str, active: bool) -> Result<(), AfError> {
    let patch = UserPatch {
        active: Patch::Set(active),
        ..Default::default()
    };
    state
        .roster
        .update_user(ctx, id(raw)?, patch, None, None)
        .await?;
    Ok(())
}

async fn activate(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> AfResult {
    set_active(&state, &ctx, &raw, true).await?;
    Ok(axum::Json(json!({ "status": "User Activated" })))
}

async fn deactivate(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> AfResult {
    set_active(&state, &ctx, &raw, false).await?;
    Ok(axum::Json(json!({ "status": "User Deactivated" })))
}

async fn user_groups(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> AfResult {
    let memberships = state.roster.groups_of(&ctx, id(&raw)?).await?;
    let groups: Vec<Value> = memberships
        .iter()
        .map(|m| {
            json!({
                "group_name": m.group.name,
                "group_id": m.group.id.to_string(),
                "access_level": m.access_level,
                "created": time_text(Some(m.since)),
                "last_updated": time_text(Some(m.updated_at)),
            })
        })
        .collect();
    Ok(axum::Json(
        json!({ "count": groups.len(), "groups": groups }),
    ))
}

fn paging(params: &[(String, String)], default_limit: u32) -> Result<(u32, u32), AfError> {
    let mut skip = 0u32;
    let mut limit = default_limit;
    for (k, v) in params {
        match k.as_str() {
            "skip" => {
                skip = v
                    .parse()
                    .map_err(|_| AfError::bad("skip must be a whole number"))?
            }
            "limit" => {
                limit = v
                    .parse()
                    .map_err(|_| AfError::bad("limit must be a whole number"))?
            }
            _ => {}
        }
    }
    Ok((skip, limit.clamp(1, 500)))
}

/// Audit events, newest first, skipping `skip` of them.
async fn events(
    state: &AppState,
    ctx: &Ctx,
    mut q: AuditQuery,
    skip: u32,
    limit: u32,
) -> Result<Vec<roster_core::audit::AuditRecord>, AfError> {
    let mut out = Vec::new();
    let mut seen = 0u32;
    q.limit = 500;
    loop {
        let page = state.roster.list_audit(ctx, q.clone()).await?;
        for r in page.items {
            if seen >= skip && out.len() < limit as usize {
                out.push(r);
            }
            seen += 1;
        }
        match page.next {
            Some(n) if out.len() < limit as usize => q.before_seq = Some(n),
            _ => return Ok(out),
        }
    }
}

async fn user_audit_logs(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> AfResult {
    let user = state.roster.get_user(&ctx, id(&raw)?).await?;
    let (skip, limit) = paging(&params, 100)?;
    let role = role_of(&state, &ctx, &user).await?;
    let q = AuditQuery {
        actor_id: Some(user.id),
        ..Default::default()
    };
    let logs: Vec<Value> = events(&state, &ctx, q, skip, limit)
        .await?
        .into_iter()
        .map(|r| {
            json!({
                "created_timestamp": time_text(Some(r.event.at)),
                "id": r.event.id.to_string(),
                "endpoint": r.event.action,
                "status_code": if r.event.outcome == Outcome::Success { 200 } else { 400 },
                "user_id": user.id.to_string(),
                "user_role": role,
                "source_ip_address": r.event.source,
                "event_description": format!("{} {}", r.event.action, r.event.target_id.unwrap_or_default()).trim().to_string(),
                "request_id": r.event.request_id,
            })
        })
        .collect();
    Ok(axum::Json(json!({ "count": logs.len(), "logs": logs })))
}

async fn user_logins(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> AfResult {
    let user = state.roster.get_user(&ctx, id(&raw)?).await?;
    let (skip, limit) = paging(&params, 100)?;
    let q = AuditQuery {
        action: Some("login".into()),
        target_id: Some(user.id.to_string()),
        outcome: Some(Outcome::Success),
        ..Default::default()
    };
    let logs: Vec<Value> = events(&state, &ctx, q, skip, limit)
        .await?
        .into_iter()
        .map(|r| json!({ "created": time_text(Some(r.event.at)), "ip": r.event.source }))
        .collect();
    Ok(axum::Json(json!({ "count": logs.len(), "logs": logs })))
}

// ---- groups

/// AttackForge's group fields beside the name, kept as group attributes.
const GROUP_FIELDS: &[&str] = &[
    "group_owner",
    "primary_contact_name",
    "primary_contact_number",
    "primary_contact_email",
    "custom_fields",
    "access",
    "auto_add_project_request",
    "enable_project_team_notifications",
];

fn group_attributes(
    mut m: Map<String, Value>,
) -> Result<(Option<String>, Map<String, Value>), AfError> {
    let name = match m.remove("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(AfError::bad("name must be a string")),
    };
    if let Some(v) = m.remove("enable_project_team_notification") {
        m.insert("enable_project_team_notifications".into(), v);
    }
    if let Some(k) = m.keys().find(|k| !GROUP_FIELDS.contains(&k.as_str())) {
        return Err(AfError::bad(format!("{k} is not a group field")));
    }
    Ok((name, m))
}

fn group_json(g: &Group) -> Value {
    let a = &g.attributes;
    json!({
        "name": g.name,
        "id": g.id.to_string(),
        "group_owner": a.get("group_owner"),
        "primary_contact_name": a.get("primary_contact_name"),
        "primary_contact_number": a.get("primary_contact_number"),
        "primary_contact_email": a.get("primary_contact_email"),
        "custom_fields": a.get("custom_fields").cloned().unwrap_or_else(|| json!([])),
        "access": a.get("access").cloned().unwrap_or_else(|| json!({})),
        "is_deleted": false,
        "created": time_text(Some(g.created_at)),
        "last_modified": time_text(Some(g.updated_at)),
    })
}

async fn create_group(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    bytes: Bytes,
) -> AfResult {
    let (name, attributes) = group_attributes(body(&bytes)?)?;
    let name = name.ok_or_else(|| AfError::bad("name is required"))?;
    let g = state
        .roster
        .create_group(
            &ctx,
            GroupInput {
                name,
                description: String::new(),
                seq: None,
                attributes,
            },
        )
        .await?;
    Ok(axum::Json(
        json!({ "group": group_json(&g), "status": "ok" }),
    ))
}

async fn list_groups(State(state): State<Arc<AppState>>, Caller(ctx): Caller) -> AfResult {
    let groups = state.roster.all_groups(&ctx).await?;
    let items: Vec<Value> = groups
        .iter()
        .map(|g| {
            let a = &g.attributes;
            json!({
                "group_name": g.name,
                "group_owner": a.get("group_owner"),
                "group_primary_contact_name": a.get("primary_contact_name"),
                "group_primary_contact_number": a.get("primary_contact_number"),
                "group_primary_contact_email": a.get("primary_contact_email"),
                "group_id": g.id.to_string(),
                "group_custom_fields": a.get("custom_fields").cloned().unwrap_or_else(|| json!([])),
            })
        })
        .collect();
    Ok(axum::Json(json!({ "count": items.len(), "groups": items })))
}

async fn get_group(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> AfResult {
    let gid = group_id(&raw)?;
    let g = state.roster.get_group(&ctx, gid).await?;
    let mut members = Vec::new();
    for u in state.roster.all_members(&ctx, gid).await? {
        let m = state.roster.groups_of(&ctx, u.id).await?;
        let m = m.into_iter().find(|m| m.group.id == gid);
        members.push(json!({
            "name": u.profile.username,
            "userId": u.id.to_string(),
            "accessLevel": m.as_ref().and_then(|m| m.access_level.clone()),
            "created": time_text(m.as_ref().map(|m| m.since)),
            "last_updated": time_text(m.as_ref().map(|m| m.updated_at)),
        }));
    }
    let mut out = group_json(&g);
    out["members"] = Value::Array(members);
    out["projects"] = json!([]);
    Ok(axum::Json(json!({ "group": out })))
}

async fn update_group(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> AfResult {
    let (name, attributes) = group_attributes(body(&bytes)?)?;
    state
        .roster
        .update_group(
            &ctx,
            group_id(&raw)?,
            GroupChange {
                name,
                description: None,
                attributes,
            },
            None,
        )
        .await?;
    Ok(axum::Json(json!({ "status": "ok" })))
}

#[derive(Deserialize)]
struct GroupAccess {
    group_id: String,
    user_id: Option<String>,
    access_level: String,
}

async fn add_to_group(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    bytes: Bytes,
) -> AfResult {
    let a: GroupAccess = body(&bytes)?;
    if !["View", "Upload", "Edit"].contains(&a.access_level.as_str()) {
        return Err(AfError::bad(
            "access_level must be one of: View, Upload, Edit",
        ));
    }
    let user = a
        .user_id
        .ok_or_else(|| AfError::bad("user_id is required"))?;
    state
        .roster
        .add_member(
            &ctx,
            group_id(&a.group_id)?,
            id(&user)?,
            Some(a.access_level),
        )
        .await?;
    Ok(axum::Json(json!({ "status": "User Added To Group" })))
}

/// The user id comes from the path; a copy in the body is optional.
async fn update_group_access(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> AfResult {
    let a: GroupAccess = body(&bytes)?;
    let (group, user) = (group_id(&a.group_id)?, id(&raw)?);
    match a.access_level.as_str() {
        "Delete" => state.roster.remove_member(&ctx, group, user).await?,
        "View" | "Upload" | "Edit" => {
            state
                .roster
                .add_member(&ctx, group, user, Some(a.access_level))
                .await?;
        }
        _ => {
            return Err(AfError::bad(
                "access_level must be one of: View, Upload, Edit, Delete",
            ));
        }
    }
    Ok(axum::Json(
        json!({ "status": "User Access Updated On Group" }),
    ))
}

async fn regenerate_key(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    _headers: HeaderMap,
) -> AfResult {
    let (_, secret) = state.roster.regenerate_own_key(&ctx).await?;
    Ok(axum::Json(json!({ "apikey": secret.expose() })))
}
