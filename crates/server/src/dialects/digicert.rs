//! DigiCert CertCentral Services API v2 (`/services/v2`, header
//! `X-DC-DEVKEY`): users, service users, roles, containers (divisions) and
//! keys. Integer ids are roster's `seq`s. Errors are
//! `{"errors":[{"code","message"}]}`; a bad key is 403.

use std::collections::HashMap;
use std::sync::Arc;

use crate::extract::FaceBytes as Bytes;
use crate::extract::Path;
use axum::Router;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use roster_core::CoreError;
use roster_core::access::{Container, Holder, RoleRef};
use roster_core::service::{Ctx, NewKey};
use roster_core::user::{
    CreateUser, Patch, RoleGrant, User, UserDraft, UserPatch, UserQuery, UserRules, UserSort,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::extract::{authenticate, header, parse_json};
use crate::problem::ApiError;
use crate::state::AppState;

pub const PREFIX: &str = "/services/v2";

/// DigiCert's field limits, as data for the core.
const RULES: UserRules = UserRules {
    name_max: 128,
    email_max: 255,
    phone_max: 64,
    job_title_max: 64,
    username_extra_chars: Some("@-_+."),
    username_forbidden_chars: None,
    required: &["email", "first_name", "last_name"],
};

/// DigiCert's access roles are roster's built-in roles 1-5.
const ACCESS_ROLES: std::ops::RangeInclusive<i64> = 1..=5;

/// API-key roles, and the roster role each restricts a key to.
const API_ROLES: &[(i64, &str, Option<i64>)] = &[
    (0, "N/A", None),
    (100, "Orders", Some(2)),
    (101, "Orders, Domains, Organizations", Some(2)),
    (102, "View Only", Some(13)),
    (103, "User Management", Some(4)),
];

pub fn owns(path: &str) -> bool {
    path == PREFIX || path.starts_with("/services/v2/")
}

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/services/v2/user", get(list_users).post(create_user))
        .route("/services/v2/user/me", get(me))
        .route(
            "/services/v2/user/{id}",
            get(get_user).put(edit_user).delete(delete_user),
        )
        .route("/services/v2/user/{id}/role", put(change_role))
        .route(
            "/services/v2/user/{id}/container-assignments",
            put(container_assignments),
        )
        .route("/services/v2/container", get(list_containers))
        .route("/services/v2/container/{id}", get(get_container))
        .route("/services/v2/container/{id}/role", get(container_roles))
        .route(
            "/services/v2/container/{id}/user-assignments",
            put(container_user_assignments),
        )
        .route("/services/v2/key", get(list_keys))
        .route("/services/v2/key/api-roles", get(api_roles))
        .route("/services/v2/account", get(account))
}

// ---- errors

pub struct DcError(StatusCode, String, String, Option<u64>);

impl DcError {
    fn new(status: StatusCode, code: impl Into<String>, msg: impl Into<String>) -> Self {
        DcError(status, code.into(), msg.into(), None)
    }

    fn bad(field: &str, msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, format!("invalid_{field}"), msg)
    }

    fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("The specified {what} was not found."),
        )
    }
}

impl From<CoreError> for DcError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Unauthenticated | CoreError::MfaRequired => DcError::new(
                StatusCode::FORBIDDEN,
                "access_denied|access_denied_invalid_key",
                "Access denied due to access_denied_invalid_key.",
            ),
            CoreError::Forbidden => DcError::new(
                StatusCode::FORBIDDEN,
                "access_denied|missing_permission",
                "Access denied due to missing_permission.",
            ),
            CoreError::NotFound(what) => DcError::not_found(what),
            CoreError::Invalid(errors) => {
                let first = errors.first().map(|e| e.field.clone()).unwrap_or_default();
                let msg = errors
                    .iter()
                    .map(|e| format!("{} {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                DcError::bad(first.split(['.', '[']).next().unwrap_or("input"), msg)
            }
            CoreError::Conflict(e) => DcError::new(
                StatusCode::BAD_REQUEST,
                format!("duplicate_{}", e.field),
                e.message,
            ),
            CoreError::PreconditionFailed | CoreError::IdempotencyMismatch => DcError::new(
                StatusCode::CONFLICT,
                "conflict",
                "The object changed; retry.",
            ),
            CoreError::RateLimited { retry_after_secs }
            | CoreError::Overloaded { retry_after_secs } => DcError(
                StatusCode::TOO_MANY_REQUESTS,
                "request_limit_exceeded".into(),
                "Service unavailable, please limit request volume".into(),
                Some(retry_after_secs),
            ),
            CoreError::StorageUnavailable {
                retry_after_secs,
                message,
            } => {
                tracing::error!(error = %message, "storage unavailable");
                DcError(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable".into(),
                    "Service temporarily unavailable, please try again later.".into(),
                    Some(retry_after_secs),
                )
            }
            CoreError::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                DcError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "An internal error occurred.",
                )
            }
        }
    }
}

impl From<ApiError> for DcError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Core(c) => c.into(),
            ApiError::BadRequest(errors) => DcError::new(
                StatusCode::BAD_REQUEST,
                "bad_request_format",
                errors
                    .first()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .unwrap_or_default(),
            ),
            ApiError::PayloadTooLarge(n) => DcError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                format!("The request body exceeds {n} bytes."),
            ),
            ApiError::UnsupportedMediaType(t) => DcError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "bad_request_format",
                format!("Send {t}."),
            ),
            ApiError::NotFound | ApiError::MethodNotAllowed => route_not_found(),
        }
    }
}

fn route_not_found() -> DcError {
    DcError::new(
        StatusCode::NOT_FOUND,
        "not_found|route",
        "The specified route was not found.",
    )
}

impl IntoResponse for DcError {
    fn into_response(self) -> Response {
        let mut r = (
            self.0,
            axum::Json(json!({ "errors": [{ "code": self.1, "message": self.2 }] })),
        )
            .into_response();
        if let Some(secs) = self.3 {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

pub fn error_response(e: CoreError) -> Response {
    DcError::from(e).into_response()
}

pub fn not_found_response() -> Response {
    route_not_found().into_response()
}

type DcResult = Result<Response, DcError>;

fn ok(v: Value) -> DcResult {
    Ok(axum::Json(v).into_response())
}

fn no_content() -> DcResult {
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- the caller

pub struct Caller(Ctx);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = DcError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        Ok(Caller(
            authenticate(parts, state, header(parts, "x-dc-devkey")).await?,
        ))
    }
}

fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, DcError> {
    parse_json(bytes).map_err(DcError::from)
}

/// DigiCert sends integer ids as numbers or numeric strings.
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn ints(v: Option<&Value>, field: &str) -> Result<Option<Vec<i64>>, DcError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                int(i).ok_or_else(|| DcError::bad(field, format!("{field} must hold integer ids")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(DcError::bad(field, format!("{field} must be an array"))),
    }
}

fn seq_path(raw: &str, what: &str) -> Result<i64, DcError> {
    raw.parse().map_err(|_| DcError::not_found(what))
}

fn time_text(t: Option<OffsetDateTime>) -> Value {
    t.and_then(|t| t.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

// ---- lookups through the core

async fn user_by_seq(state: &AppState, ctx: &Ctx, seq: i64) -> Result<User, DcError> {
    state
        .roster
        .list_users(
            ctx,
            UserQuery {
                seq: Some(seq),
                limit: 1,
                ..Default::default()
            },
        )
        .await?
        .items
        .into_iter()
        .next()
        .ok_or_else(|| DcError::not_found("user"))
}

async fn container_ids(state: &AppState, ctx: &Ctx, seqs: &[i64]) -> Result<Vec<Uuid>, DcError> {
    let mut out = Vec::new();
    for s in seqs {
        match state.roster.container_by_seq(ctx, *s).await {
            Ok(c) => out.push(c.id),
            Err(CoreError::NotFound(_)) => {
                return Err(DcError::bad(
                    "container_id",
                    format!("container {s} does not exist"),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// The containers the caller can see, by id, for rendering.
async fn container_index(state: &AppState, ctx: &Ctx) -> HashMap<Uuid, Container> {
    state
        .roster
        .list_containers(ctx)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.id, c))
        .collect()
}

fn container_json(c: &Container, index: &HashMap<Uuid, Container>) -> Value {
    json!({
        "id": c.seq,
        "public_id": c.id.to_string(),
        "name": c.name,
        "parent_id": c.parent_id.and_then(|p| index.get(&p)).map_or(0, |p| p.seq),
        "template_id": null,
        "ekey": null,
        "has_logo": false,
        "is_active": true,
    })
}

async fn user_json(
    state: &AppState,
    ctx: &Ctx,
    u: &User,
    index: &HashMap<Uuid, Container>,
) -> Result<Value, DcError> {
    let assignments = state.roster.assignments_of(ctx, Holder::User(u.id)).await?;
    let mut roles = Vec::new();
    let mut assigned: Vec<Uuid> = Vec::new();
    for a in &assignments {
        if let Ok(role) = state.roster.get_role(ctx, RoleRef::Id(a.role_id)).await {
            roles.push(json!({ "id": role.seq, "name": role.name }));
        }
        for c in &a.container_ids {
            if !assigned.contains(c) {
                assigned.push(*c);
            }
        }
    }
    let home = index.get(&u.container_id).map(|c| container_json(c, index));
    let divisions: Vec<Value> = assigned
        .iter()
        .filter_map(|c| index.get(c))
        .map(|c| container_json(c, index))
        .collect();
    let api_only = u.profile.attributes.get("digicert_api_only") == Some(&Value::Bool(true));
    Ok(json!({
        "id": u.seq,
        "username": u.profile.username,
        "account_id": 1,
        "first_name": u.profile.first_name.clone().unwrap_or_default(),
        "last_name": u.profile.last_name.clone().unwrap_or_default(),
        "email": u.profile.email.clone().unwrap_or_default(),
        "job_title": u.profile.job_title.clone().unwrap_or_default(),
        "telephone": u.profile.phone.clone().unwrap_or_default(),
        "status": if u.profile.active { "active" } else { "inactive" },
        "last_login_date": time_text(u.last_login_at),
        "container": home,
        "access_roles": roles,
        "is_cert_central": true,
        "is_enterprise": false,
        "is_saml_sso_only": u.profile.saml_sso_only,
        "type": if api_only { "api_only" } else { "standard" },
        "has_container_assignments": !divisions.is_empty(),
        "container_assignments": divisions,
        "container_visibility": assigned.iter().filter_map(|c| index.get(c)).map(|c| c.seq).collect::<Vec<_>>(),
    }))
}

// ---- users

#[derive(Deserialize)]
struct RoleId {
    id: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    username: String,
    first_name: String,
    last_name: String,
    email: String,
    job_title: Option<String>,
    telephone: Option<String>,
    container: Option<RoleId>,
    access_roles: Vec<RoleId>,
    container_id_assignments: Option<Value>,
    is_saml_sso_only: Option<bool>,
}

fn role_grants(roles: &[RoleId], scope: &[Uuid]) -> Result<Vec<RoleGrant>, DcError> {
    if roles.is_empty() {
        return Err(DcError::bad("access_roles", "access_roles needs one role"));
    }
    roles
        .iter()
        .map(|r| {
            let id = int(&r.id)
                .filter(|i| ACCESS_ROLES.contains(i))
                .ok_or_else(|| {
                    DcError::bad(
                        "access_roles",
                        "access role ids are 1 (Administrator) to 5 (Standard User)",
                    )
                })?;
            Ok(RoleGrant {
                role: RoleRef::Seq(id),
                all_objects: false,
                containers: scope.to_vec(),
            })
        })
        .collect()
}

async fn create_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    bytes: Bytes,
) -> DcResult {
    let raw: Map<String, Value> = body(&bytes)?;
    if raw.get("is_api_only") == Some(&Value::Bool(true)) {
        return create_service_user(&state, &ctx, raw).await;
    }
    let n: NewUser = serde_json::from_value(Value::Object(raw))
        .map_err(|e| DcError::new(StatusCode::BAD_REQUEST, "bad_request_format", e.to_string()))?;
    let home = match &n.container {
        Some(c) => {
            let seq = int(&c.id)
                .ok_or_else(|| DcError::bad("container", "container.id must be an integer"))?;
            container_ids(&state, &ctx, &[seq]).await?[0]
        }
        None => ctx.who.container_id,
    };
    let divisions = container_ids(
        &state,
        &ctx,
        &ints(
            n.container_id_assignments.as_ref(),
            "container_id_assignments",
        )?
        .unwrap_or_default(),
    )
    .await?;
    let scope = if divisions.is_empty() {
        vec![home]
    } else {
        divisions
    };
    let input = CreateUser {
        profile: UserDraft {
            username: n.username,
            email: Some(n.email),
            first_name: Some(n.first_name),
            last_name: Some(n.last_name),
            job_title: n.job_title.filter(|s| !s.is_empty()),
            phone: n.telephone.filter(|s| !s.is_empty()),
            saml_sso_only: n.is_saml_sso_only.unwrap_or(false),
            active: true,
            ..Default::default()
        },
        container_id: Some(home),
        roles: role_grants(&n.access_roles, &scope)?,
        rules: Some(RULES),
        ..Default::default()
    };
    let user = state.roster.create_user(&ctx, input).await?.user;
    Ok((StatusCode::CREATED, axum::Json(json!({ "id": user.seq }))).into_response())
}

/// A service (API-only) user: no password, one API key returned once.
async fn create_service_user(state: &AppState, ctx: &Ctx, raw: Map<String, Value>) -> DcResult {
    let email = raw
        .get("email")
        .and_then(Value::as_str)
        .ok_or_else(|| DcError::bad("email", "email is required"))?;
    let api_name = raw
        .get("api_name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| DcError::bad("api_name", "api_name is required"))?;
    let api_role = match raw.get("restricted_to_role_id") {
        None | Some(Value::Null) => 0,
        Some(v) => {
            int(v).ok_or_else(|| DcError::bad("restricted_to_role_id", "must be an integer"))?
        }
    };
    let (_, _, restricted) = API_ROLES
        .iter()
        .find(|(id, _, _)| *id == api_role)
        .ok_or_else(|| {
            DcError::bad(
                "restricted_to_role_id",
                "must be one of 0, 100, 101, 102, 103",
            )
        })?;
    let divisions = container_ids(
        state,
        ctx,
        &ints(
            raw.get("container_id_assignments"),
            "container_id_assignments",
        )?
        .unwrap_or_default(),
    )
    .await?;
    let scope = if divisions.is_empty() {
        vec![ctx.who.container_id]
    } else {
        divisions
    };
    let mut attributes = Map::new();
    attributes.insert("digicert_api_only".into(), Value::Bool(true));
    let input = CreateUser {
        profile: UserDraft {
            username: format!("api-{}", &Uuid::now_v7().simple().to_string()[20..]),
            display_name: Some(api_name.to_string()),
            email: Some(email.to_string()),
            active: true,
            attributes,
            ..Default::default()
        },
        container_id: Some(scope[0]),
        // A service user manages what its key is for; the key's restriction narrows it.
        roles: vec![RoleGrant {
            role: RoleRef::Seq(4),
            all_objects: false,
            containers: scope,
        }],
        rules: Some(UserRules {
            required: &["email"],
            ..RULES
        }),
        ..Default::default()
    };
    let role_id = match restricted {
        Some(seq) => Some(state.roster.get_role(ctx, RoleRef::Seq(*seq)).await?.id),
        None => None,
    };
    let (user, _, secret) = state
        .roster
        .create_service_user(
            ctx,
            input,
            NewKey {
                name: api_name.to_string(),
                user_id: None,
                role_id,
                expires_at: None,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "id": user.seq, "api_key": secret.expose() })),
    )
        .into_response())
}

async fn list_users(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> DcResult {
    let mut q = UserQuery::default();
    let (mut offset, mut limit) = (0u64, 0u32);
    for (k, v) in &params {
        let bad = |f: &str| DcError::bad(f, format!("{f} has an invalid value"));
        match k.as_str() {
            "offset" => offset = v.parse().map_err(|_| bad("offset"))?,
            "limit" => limit = v.parse().map_err(|_| bad("limit"))?,
            "container_id" => {
                let seq = v.parse().map_err(|_| bad("container_id"))?;
                q.container = Some(container_ids(&state, &ctx, &[seq]).await?[0]);
            }
            "access_role_id" => {
                let seq = v.parse().map_err(|_| bad("access_role_id"))?;
                q.role = Some(state.roster.get_role(&ctx, RoleRef::Seq(seq)).await?.id);
            }
            "filters[status]" => match v.as_str() {
                "active" => q.active = Some(true),
                "inactive" => q.active = Some(false),
                _ => return Err(bad("status")),
            },
            "filters[search]" => match v.strip_prefix('%') {
                Some(rest) => {
                    q.q = Some(rest.to_string());
                    q.q_contains = true;
                }
                None => q.q = Some(v.clone()),
            },
            "sort" => {
                for key in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let (desc, name) = key.strip_prefix('-').map_or((false, key), |k| (true, k));
                    let sort = match name {
                        "id" => UserSort::Seq,
                        "username" => UserSort::Username,
                        "first_name" => UserSort::FirstName,
                        "last_name" => UserSort::LastName,
                        "email" => UserSort::Email,
                        "date_created" | "create_date" => UserSort::CreatedAt,
                        _ => return Err(bad("sort")),
                    };
                    q.sort.push((sort, desc));
                }
            }
            _ => {}
        }
    }
    q.offset = Some(offset);
    // DigiCert's limit 0 means "no limit"; roster caps a page at 1000.
    q.limit = if limit == 0 { 1000 } else { limit.min(1000) };
    let (users, total) = state.roster.list_users_counted(&ctx, q).await?;
    let index = container_index(&state, &ctx).await;
    let mut out = Vec::with_capacity(users.len());
    for u in &users {
        out.push(user_json(&state, &ctx, u, &index).await?);
    }
    ok(json!({ "users": out, "page": { "total": total, "limit": limit, "offset": offset } }))
}

async fn get_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> DcResult {
    let u = user_by_seq(&state, &ctx, seq_path(&raw, "user")?).await?;
    let index = container_index(&state, &ctx).await;
    ok(user_json(&state, &ctx, &u, &index).await?)
}

async fn me(State(state): State<Arc<AppState>>, Caller(ctx): Caller) -> DcResult {
    let u = state.roster.get_user(&ctx, ctx.who.user_id).await?;
    let index = container_index(&state, &ctx).await;
    ok(user_json(&state, &ctx, &u, &index).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditUser {
    email: String,
    username: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    job_title: Option<String>,
    telephone: Option<String>,
    is_saml_sso_only: Option<bool>,
}

/// PUT semantics as documented: `job_title` and `telephone` are cleared
/// when omitted; names and username stay when omitted.
async fn edit_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> DcResult {
    let u = user_by_seq(&state, &ctx, seq_path(&raw, "user")?).await?;
    let e: EditUser = body(&bytes)?;
    let or_clear = |v: Option<String>| v.filter(|s| !s.is_empty()).map_or(Patch::Clear, Patch::Set);
    let keep_or_set = |v: Option<String>| v.map_or(Patch::Keep, Patch::Set);
    let patch = UserPatch {
        email: Patch::Set(e.email),
        username: keep_or_set(e.username),
        first_name: keep_or_set(e.first_name),
        last_name: keep_or_set(e.last_name),
        job_title: or_clear(e.job_title),
        phone: or_clear(e.telephone),
        saml_sso_only: e.is_saml_sso_only.map_or(Patch::Keep, Patch::Set),
        ..Default::default()
    };
    state
        .roster
        .update_user_with(&ctx, u.id, patch, None, None, &RULES)
        .await?;
    no_content()
}

async fn delete_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> DcResult {
    let u = user_by_seq(&state, &ctx, seq_path(&raw, "user")?).await?;
    state.roster.delete_user(&ctx, u.id, None).await?;
    no_content()
}

/// The containers a user's current roles apply to (its divisions).
async fn current_scope(state: &AppState, ctx: &Ctx, u: &User) -> Result<Vec<Uuid>, DcError> {
    let mut scope: Vec<Uuid> = Vec::new();
    for a in state.roster.assignments_of(ctx, Holder::User(u.id)).await? {
        for c in a.container_ids {
            if !scope.contains(&c) {
                scope.push(c);
            }
        }
    }
    if scope.is_empty() {
        scope.push(u.container_id);
    }
    Ok(scope)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleChange {
    access_roles: Vec<RoleId>,
}

async fn change_role(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> DcResult {
    let u = user_by_seq(&state, &ctx, seq_path(&raw, "user")?).await?;
    let change: RoleChange = body(&bytes)?;
    let scope = current_scope(&state, &ctx, &u).await?;
    state
        .roster
        .set_user_roles(&ctx, u.id, role_grants(&change.access_roles, &scope)?)
        .await?;
    no_content()
}

async fn container_assignments(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> DcResult {
    let u = user_by_seq(&state, &ctx, seq_path(&raw, "user")?).await?;
    let m: Map<String, Value> = body(&bytes)?;
    let seqs = ints(
        m.get("container_id_assignments"),
        "container_id_assignments",
    )?
    .ok_or_else(|| {
        DcError::bad(
            "container_id_assignments",
            "container_id_assignments is required",
        )
    })?;
    let mut scope = container_ids(&state, &ctx, &seqs).await?;
    if scope.is_empty() {
        // An empty list removes the restriction: the user's own container again.
        scope.push(u.container_id);
    }
    let grants: Vec<RoleGrant> = state
        .roster
        .assignments_of(&ctx, Holder::User(u.id))
        .await?
        .into_iter()
        .map(|a| RoleGrant {
            role: RoleRef::Id(a.role_id),
            all_objects: a.all_objects,
            containers: if a.all_objects {
                Vec::new()
            } else {
                scope.clone()
            },
        })
        .collect();
    state.roster.set_user_roles(&ctx, u.id, grants).await?;
    no_content()
}

// ---- containers

async fn list_containers(State(state): State<Arc<AppState>>, Caller(ctx): Caller) -> DcResult {
    let index = container_index(&state, &ctx).await;
    let mut all: Vec<&Container> = index.values().collect();
    all.sort_by_key(|c| c.seq);
    ok(json!({ "containers": all.iter().map(|c| container_json(c, &index)).collect::<Vec<_>>() }))
}

async fn container_by_path(state: &AppState, ctx: &Ctx, raw: &str) -> Result<Container, DcError> {
    Ok(state
        .roster
        .container_by_seq(ctx, seq_path(raw, "container")?)
        .await?)
}

async fn get_container(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> DcResult {
    let c = container_by_path(&state, &ctx, &raw).await?;
    let index = container_index(&state, &ctx).await;
    ok(container_json(&c, &index))
}

async fn container_roles(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> DcResult {
    container_by_path(&state, &ctx, &raw).await?;
    let mut roles = Vec::new();
    for seq in ACCESS_ROLES {
        let r = state.roster.get_role(&ctx, RoleRef::Seq(seq)).await?;
        roles.push(json!({ "id": r.seq, "name": r.name }));
    }
    ok(json!({ "access_roles": roles }))
}

async fn container_user_assignments(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> DcResult {
    let c = container_by_path(&state, &ctx, &raw).await?;
    let m: Map<String, Value> = body(&bytes)?;
    let seqs = ints(m.get("user_id_assignments"), "user_id_assignments")?
        .ok_or_else(|| DcError::bad("user_id_assignments", "user_id_assignments is required"))?;
    let mut users = Vec::new();
    for s in seqs {
        users.push(user_by_seq(&state, &ctx, s).await?.id);
    }
    state.roster.set_container_users(&ctx, c.id, users).await?;
    no_content()
}

// ---- keys and account

async fn list_keys(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> DcResult {
    let user = match params.iter().find(|(k, _)| k == "user_id") {
        Some((_, v)) => Some(
            user_by_seq(
                &state,
                &ctx,
                v.parse()
                    .map_err(|_| DcError::bad("user_id", "user_id must be an integer"))?,
            )
            .await?,
        ),
        None => None,
    };
    let keys = state
        .roster
        .list_keys(&ctx, user.as_ref().map(|u| u.id), false)
        .await?;
    let mut out = Vec::new();
    for k in keys {
        let owner = match &user {
            Some(u) => u.clone(),
            None => state.roster.get_user(&ctx, k.user_id).await?,
        };
        let api_role = match k.role_id {
            None => 0,
            Some(r) => {
                let seq = state
                    .roster
                    .get_role(&ctx, RoleRef::Id(r))
                    .await
                    .map(|r| r.seq)
                    .unwrap_or(0);
                API_ROLES
                    .iter()
                    .find(|(_, _, s)| *s == Some(seq))
                    .map_or(0, |(id, _, _)| *id)
            }
        };
        out.push(json!({
            "id": k.id.to_string(),
            "user": { "id": owner.seq, "first_name": owner.profile.first_name, "last_name": owner.profile.last_name },
            "status": if k.revoked_at.is_some() { "revoked" } else { "active" },
            "create_date": time_text(Some(k.created_at)),
            "last_used_date": time_text(k.last_used_at),
            "name": k.name,
            "is_legacy": false,
            "restricted_to_role_id": api_role,
        }));
    }
    ok(json!({ "api_keys": out }))
}

async fn api_roles(Caller(_): Caller) -> DcResult {
    let roles: Vec<Value> = API_ROLES
        .iter()
        .filter(|(id, _, _)| *id != 0)
        .map(|(id, name, _)| json!({ "id": id, "name": name }))
        .collect();
    ok(json!({ "access_roles": roles }))
}

/// Enough of the account for clients that call it to check their key.
async fn account(State(state): State<Arc<AppState>>, Caller(ctx): Caller) -> DcResult {
    let me = state.roster.get_user(&ctx, ctx.who.user_id).await?;
    let index = container_index(&state, &ctx).await;
    ok(json!({
        "id": 1,
        "primary_organization_id": null,
        "container": index.get(&me.container_id).map(|c| container_json(c, &index)),
        "admin_email": me.profile.email,
    }))
}
