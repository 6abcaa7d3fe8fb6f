//! VMware Aria Operations suite-api, `/suite-api/api/auth` — first part:
//! tokens, users, user role permissions, the current user and auth source
//! types. Errors are Aria's `{"message", "httpStatusCode", "apiErrorCode",
//! "validationFailures"}`. Passwords are never echoed (the vendor's sample
//! does; roster does not).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use roster_core::access::Holder;
use roster_core::service::{Ctx, LoginInput};
use roster_core::store::RoleRef;
use roster_core::user::{CreateUser, Patch, RoleGrant, User, UserDraft, UserPatch, UserRules};
use roster_core::{CoreError, Secret};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::extract::{RequestOrigin, origin, parse_json};
use crate::problem::ApiError;
use crate::state::AppState;

const BASE: &str = "/suite-api/api/auth";
/// Aria's token lifetime.
const TOKEN_SECS: u64 = 6 * 3600;
/// Aria's username pattern `^[^\s,<&"'?+%=>;/#]+$`, as data for the core.
const RULES: UserRules = UserRules {
    name_max: 255,
    email_max: 254,
    phone_max: 64,
    job_title_max: 255,
    username_extra_chars: None,
    username_forbidden_chars: Some(",<&\"'?+%=>;/#"),
    required: &[],
};

pub fn owns(path: &str) -> bool {
    path.starts_with("/suite-api/")
}

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/suite-api/api/auth/token/acquire", post(acquire))
        .route("/suite-api/api/auth/token/release", post(release))
        .route(
            "/suite-api/api/auth/users",
            get(list_users)
                .post(create_user)
                .put(modify_user)
                .delete(delete_users),
        )
        .route(
            "/suite-api/api/auth/users/passwordchange",
            put(change_password),
        )
        .route(
            "/suite-api/api/auth/users/{id}",
            get(get_user).delete(delete_user),
        )
        .route(
            "/suite-api/api/auth/users/{id}/permissions",
            get(user_permissions).put(put_user_permission),
        )
        .route(
            "/suite-api/api/auth/users/{id}/permissions/{role}",
            axum::routing::delete(delete_user_permission),
        )
        .route("/suite-api/api/auth/currentuser", get(current_user))
        .route(
            "/suite-api/api/auth/currentuser/permissions",
            get(current_permissions),
        )
        .route("/suite-api/api/auth/sourcetypes", get(source_types))
}

// ---- errors

pub struct AriaError {
    status: StatusCode,
    message: String,
    failures: Vec<(String, String)>,
    retry_after: Option<u64>,
}

impl AriaError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
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
            CoreError::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                AriaError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
            }
        }
    }
}

impl From<ApiError> for AriaError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Core(c) => c.into(),
            ApiError::BadRequest(errors) => AriaError {
                status: StatusCode::BAD_REQUEST,
                message: "Invalid request body".into(),
                failures: errors.into_iter().map(|e| (e.message, e.field)).collect(),
                retry_after: None,
            },
            ApiError::PayloadTooLarge(n) => AriaError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("The body exceeds {n} bytes"),
            ),
            ApiError::UnsupportedMediaType(t) => {
                AriaError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("Send {t}"))
            }
            ApiError::NotFound | ApiError::MethodNotAllowed => {
                AriaError::new(StatusCode::NOT_FOUND, "No such operation")
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
        let mut r = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

pub fn error_response(e: CoreError) -> Response {
    AriaError::from(e).into_response()
}

type AriaResult = Result<Response, AriaError>;

// ---- the caller: `Authorization: OpsToken <t>` (or the legacy
// `vRealizeOpsToken`, or `Bearer` with a roster key or token)

fn credential(parts: &Parts) -> Option<&str> {
    let v = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    ["opstoken", "vrealizeopstoken", "bearer"]
        .contains(&scheme.to_ascii_lowercase().as_str())
        .then(|| rest.trim())
}

pub struct Caller(Ctx, String);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = AriaError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let cred = credential(parts).ok_or_else(|| AriaError::from(CoreError::Unauthenticated))?;
        let who = state.roster.authenticate(cred).await?;
        Ok(Caller(
            Ctx {
                who,
                origin: origin(parts),
            },
            cred.to_string(),
        ))
    }
}

fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, AriaError> {
    parse_json(bytes).map_err(AriaError::from)
}

fn links_wanted(params: &[(String, String)]) -> bool {
    !params
        .iter()
        .any(|(k, v)| k == "_no_links" && v.eq_ignore_ascii_case("true"))
}

// ---- tokens

/// `Friday, August 5, 2016 6:22:05 PM UTC`
fn long_date(t: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!(
        "[weekday], [month repr:long] [day padding:none], [year] [hour repr:12 padding:none]:[minute]:[second] [period] UTC"
    );
    t.format(&fmt).unwrap_or_default()
}

async fn acquire(
    State(state): State<Arc<AppState>>,
    RequestOrigin(origin): RequestOrigin,
    bytes: Bytes,
) -> AriaResult {
    let m: Map<String, Value> = body(&bytes)?;
    let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
    let source = text("authSource").unwrap_or_else(|| "LOCAL".into());
    if !source.eq_ignore_ascii_case("LOCAL") {
        return Err(AriaError::new(
            StatusCode::BAD_REQUEST,
            format!("Auth source '{source}' is not supported; only LOCAL is"),
        ));
    }
    let (Some(username), Some(password)) = (text("username"), text("password")) else {
        return Err(AriaError {
            failures: vec![(
                "username and password are required".into(),
                "username-password".into(),
            )],
            ..AriaError::new(StatusCode::BAD_REQUEST, "Invalid input")
        });
    };
    let input = LoginInput {
        username,
        password: Secret::new(password),
        totp: None,
        ttl_secs: Some(TOKEN_SECS),
    };
    let issued = state.roster.issue_token(input, &origin).await?;
    let expires =
        OffsetDateTime::now_utc() + time::Duration::seconds(issued.expires_in_secs as i64);
    Ok(axum::Json(json!({
        "token": issued.token.expose(),
        "validity": (expires.unix_timestamp_nanos() / 1_000_000) as i64,
        "expiresAt": long_date(expires),
        "roles": [],
    }))
    .into_response())
}

async fn release(State(state): State<Arc<AppState>>, Caller(ctx, cred): Caller) -> AriaResult {
    state.roster.revoke_token(&cred, &ctx.origin).await?;
    Ok(StatusCode::OK.into_response())
}

// ---- users

fn permission_json(a: &roster_core::access::Assignment) -> Value {
    let mut p = json!({ "roleName": a.role_name, "allowAllObjects": a.all_objects });
    if let Some(scope) = a.container_ids.first() {
        p["scopeId"] = json!(scope.to_string());
    }
    p
}

async fn user_json(state: &AppState, ctx: &Ctx, u: &User, links: bool) -> Result<Value, AriaError> {
    let permissions = state.roster.assignments_of(ctx, Holder::User(u.id)).await?;
    let groups = state.roster.groups_of(ctx, u.id).await?;
    let mut out = json!({
        "id": u.id.to_string(),
        "username": u.profile.username,
        "firstName": u.profile.first_name,
        "lastName": u.profile.last_name,
        "emailAddress": u.profile.email,
        "distinguishedName": u.profile.distinguished_name,
        "enabled": u.profile.active,
        "groupIds": groups.iter().map(|m| m.group.id.to_string()).collect::<Vec<_>>(),
        "roleNames": permissions.iter().map(|a| a.role_name.clone()).collect::<Vec<_>>(),
        "role-permissions": permissions.iter().map(permission_json).collect::<Vec<_>>(),
        "lastLoginTime": u.last_login_at.map_or(0, |t| (t.unix_timestamp_nanos() / 1_000_000) as i64),
        "externalId": u.profile.external_id,
    });
    if links {
        out["links"] = json!([{ "href": format!("{BASE}/users/{}", u.id), "rel": "SELF", "name": "linkToSelf" }]);
    }
    Ok(out)
}

/// Aria's `role-permission` objects as core role grants.
fn grants(list: Option<&Value>) -> Result<Vec<RoleGrant>, AriaError> {
    let Some(list) = list.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let items = list.as_array().ok_or_else(|| {
        AriaError::new(StatusCode::BAD_REQUEST, "role-permissions must be an array")
    })?;
    items.iter().map(grant).collect()
}

fn grant(v: &Value) -> Result<RoleGrant, AriaError> {
    let bad = |m: &str| AriaError {
        failures: vec![(m.to_string(), "role-permission".into())],
        ..AriaError::new(StatusCode::BAD_REQUEST, "Invalid input")
    };
    let role = v
        .get("roleName")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("roleName is required"))?;
    let all = v
        .get("allowAllObjects")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let scope = match v.get("scopeId").and_then(Value::as_str) {
        Some(s) => vec![Uuid::parse_str(s).map_err(|_| bad("scopeId must be a scope id"))?],
        None if all => Vec::new(),
        None => return Err(bad("give a scopeId or set allowAllObjects")),
    };
    Ok(RoleGrant {
        role: RoleRef::Name(role.to_string()),
        all_objects: all,
        containers: scope,
    })
}

fn uuids(v: Option<&Value>, field: &str) -> Result<Vec<Uuid>, AriaError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .ok_or_else(|| {
                        AriaError::new(StatusCode::BAD_REQUEST, format!("{field} must hold ids"))
                    })
            })
            .collect(),
        Some(_) => Err(AriaError::new(
            StatusCode::BAD_REQUEST,
            format!("{field} must be an array"),
        )),
    }
}

fn opt_text(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k).and_then(Value::as_str).map(str::to_owned)
}

async fn create_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Query(params): Query<Vec<(String, String)>>,
    bytes: Bytes,
) -> AriaResult {
    let m: Map<String, Value> = body(&bytes)?;
    let mut roles = grants(m.get("role-permissions"))?;
    if roles.is_empty() {
        // The deprecated form: role names over every object.
        for name in m
            .get("roleNames")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            roles.push(RoleGrant {
                role: RoleRef::Name(name.to_string()),
                all_objects: true,
                containers: Vec::new(),
            });
        }
    }
    let input = CreateUser {
        profile: UserDraft {
            username: opt_text(&m, "username").unwrap_or_default(),
            first_name: opt_text(&m, "firstName"),
            last_name: opt_text(&m, "lastName"),
            email: opt_text(&m, "emailAddress"),
            distinguished_name: opt_text(&m, "distinguishedName"),
            external_id: opt_text(&m, "externalId"),
            active: m.get("enabled").and_then(Value::as_bool).unwrap_or(true),
            ..Default::default()
        },
        password: opt_text(&m, "password").map(Secret::new),
        groups: uuids(m.get("groupIds"), "groupIds")?
            .into_iter()
            .map(roster_core::store::GroupRef::Id)
            .collect(),
        roles,
        rules: Some(RULES),
        ..Default::default()
    };
    if input.password.is_none() {
        return Err(AriaError {
            failures: vec![(
                "password is required for a local user".into(),
                "password".into(),
            )],
            ..AriaError::new(StatusCode::BAD_REQUEST, "Invalid input")
        });
    }
    let user = state.roster.create_user(&ctx, input).await?.user;
    let out = user_json(&state, &ctx, &user, links_wanted(&params)).await?;
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

async fn list_users(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> AriaResult {
    let ids: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "id")
        .map(|(_, v)| v.as_str())
        .collect();
    let names: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "username")
        .map(|(_, v)| v.to_lowercase())
        .collect();
    let roles: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "roleName")
        .map(|(_, v)| v.as_str())
        .collect();
    let mut q = roster_core::user::UserQuery {
        limit: 1000,
        ..Default::default()
    };
    let mut all = Vec::new();
    loop {
        let page = state.roster.list_users(&ctx, q.clone()).await?;
        all.extend(page.items);
        match page.next {
            Some(n) if all.len() < 10_000 => q.after_seq = Some(n),
            _ => break,
        }
    }
    let links = links_wanted(&params);
    let mut out = Vec::new();
    for u in &all {
        if !ids.is_empty() && !ids.contains(&u.id.to_string().as_str()) {
            continue;
        }
        // Usernames match partially, as Aria's do.
        if !names.is_empty()
            && !names
                .iter()
                .any(|n| u.profile.username.to_lowercase().contains(n))
        {
            continue;
        }
        let user = user_json(&state, &ctx, u, links).await?;
        if !roles.is_empty()
            && !user["roleNames"].as_array().is_some_and(|r| {
                r.iter()
                    .any(|n| roles.contains(&n.as_str().unwrap_or_default()))
            })
        {
            continue;
        }
        out.push(user);
    }
    Ok(axum::Json(json!({ "users": out })).into_response())
}

fn user_id(raw: &str) -> Result<Uuid, AriaError> {
    Uuid::parse_str(raw).map_err(|_| AriaError::from(CoreError::NotFound("user")))
}

async fn get_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(raw): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> AriaResult {
    let u = state.roster.get_user(&ctx, user_id(&raw)?).await?;
    Ok(axum::Json(user_json(&state, &ctx, &u, links_wanted(&params)).await?).into_response())
}

async fn current_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> AriaResult {
    let u = state.roster.get_user(&ctx, ctx.who.user_id).await?;
    Ok(axum::Json(user_json(&state, &ctx, &u, links_wanted(&params)).await?).into_response())
}

async fn modify_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Query(params): Query<Vec<(String, String)>>,
    bytes: Bytes,
) -> AriaResult {
    let m: Map<String, Value> = body(&bytes)?;
    let id = m
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| AriaError {
            failures: vec![("id is required".into(), "id".into())],
            ..AriaError::new(StatusCode::BAD_REQUEST, "Invalid input")
        })?;
    let id = user_id(id)?;
    let set = |k: &str| match m.get(k) {
        None => Patch::Keep,
        Some(Value::Null) => Patch::Clear,
        Some(v) => v
            .as_str()
            .map_or(Patch::Keep, |s| Patch::Set(s.to_string())),
    };
    let patch = UserPatch {
        username: set("username"),
        first_name: set("firstName"),
        last_name: set("lastName"),
        email: set("emailAddress"),
        distinguished_name: set("distinguishedName"),
        external_id: set("externalId"),
        active: m
            .get("enabled")
            .and_then(Value::as_bool)
            .map_or(Patch::Keep, Patch::Set),
        password: opt_text(&m, "password").map_or(Patch::Keep, |p| Patch::Set(Secret::new(p))),
        ..Default::default()
    };
    let mut user = state
        .roster
        .update_user_with(&ctx, id, patch, None, None, &RULES)
        .await?;
    if m.contains_key("role-permissions") {
        state
            .roster
            .set_user_roles(&ctx, id, grants(m.get("role-permissions"))?)
            .await?;
        user = state.roster.get_user(&ctx, id).await?;
    }
    Ok(axum::Json(user_json(&state, &ctx, &user, links_wanted(&params)).await?).into_response())
}

async fn delete_users(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> AriaResult {
    let ids: Vec<Uuid> = params
        .iter()
        .filter(|(k, _)| k == "id")
        .map(|(_, v)| user_id(v))
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Err(AriaError::new(
            StatusCode::BAD_REQUEST,
            "Give the users to delete as id parameters",
        ));
    }
    for id in ids {
        state.roster.delete_user(&ctx, id, None).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(raw): Path<String>,
) -> AriaResult {
    state.roster.delete_user(&ctx, user_id(&raw)?, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn change_password(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    bytes: Bytes,
) -> AriaResult {
    let m: Map<String, Value> = body(&bytes)?;
    let (Some(current), Some(new)) = (opt_text(&m, "currentPassword"), opt_text(&m, "newPassword"))
    else {
        return Err(AriaError {
            failures: vec![(
                "currentPassword and newPassword are required".into(),
                "password-change".into(),
            )],
            ..AriaError::new(StatusCode::BAD_REQUEST, "Invalid input")
        });
    };
    state
        .roster
        .change_own_password(&ctx, &Secret::new(current), &Secret::new(new))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn permissions(state: &AppState, ctx: &Ctx, id: Uuid) -> AriaResult {
    let list = state.roster.assignments_of(ctx, Holder::User(id)).await?;
    Ok(
        axum::Json(json!({ "permissions": list.iter().map(permission_json).collect::<Vec<_>>() }))
            .into_response(),
    )
}

async fn user_permissions(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(raw): Path<String>,
) -> AriaResult {
    permissions(&state, &ctx, user_id(&raw)?).await
}

async fn current_permissions(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
) -> AriaResult {
    let id = ctx.who.user_id;
    permissions(&state, &ctx, id).await
}

/// Replaces the user's permission for one role.
async fn put_user_permission(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> AriaResult {
    let id = user_id(&raw)?;
    let g = grant(&body::<Value>(&bytes)?)?;
    state
        .roster
        .assign_role(&ctx, Holder::User(id), g.role, g.all_objects, g.containers)
        .await?;
    permissions(&state, &ctx, id).await
}

async fn delete_user_permission(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path((raw, role)): Path<(String, String)>,
) -> AriaResult {
    let id = user_id(&raw)?;
    let assignment = state
        .roster
        .assignments_of(&ctx, Holder::User(id))
        .await?
        .into_iter()
        .find(|a| a.role_name.eq_ignore_ascii_case(&role))
        .ok_or_else(|| AriaError::from(CoreError::NotFound("role permission")))?;
    state
        .roster
        .unassign_role(&ctx, Holder::User(id), assignment.id)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- auth source types

const SOURCE_TYPES: &[(&str, &str)] = &[
    ("LOCAL", "Local users (supported)"),
    ("VC", "vCenter Server (not supported)"),
    ("OPEN_LDAP", "OpenLDAP (not supported)"),
    ("ACTIVE_DIRECTORY", "Active Directory (not supported)"),
    ("OTHER", "Other LDAP (not supported)"),
    ("SSO_SAML", "SSO SAML (not supported)"),
    ("VIDM", "VMware Identity Manager (not supported)"),
    ("VCD", "VMware Cloud Director (not supported)"),
    ("VIDB", "VMware Identity Broker (not supported)"),
];

async fn source_types(Caller(_, _): Caller) -> AriaResult {
    let types: Vec<Value> = SOURCE_TYPES
        .iter()
        .map(|(id, d)| json!({ "id": id, "name": id, "description": d }))
        .collect();
    Ok(axum::Json(json!({ "sourceTypes": types })).into_response())
}
