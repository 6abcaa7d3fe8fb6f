//! VMware Aria Operations suite-api, `/suite-api/api/auth` — first part:
//! tokens, users, user role permissions, the current user and auth source
//! types. Errors are Aria's `{"message", "httpStatusCode", "apiErrorCode",
//! "validationFailures"}`. Passwords are never echoed (the vendor's sample
//! does; roster does not).

use std::sync::Arc;

use crate::extract::FaceBytes as Bytes;
use crate::extract::Path;
use axum::Router;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use roster_core::access::{Holder, RoleRef};
use roster_core::service::{AccessChange, Ctx, LoginInput, PrivilegeChange, UserChange};
use roster_core::user::{CreateUser, Patch, RoleGrant, User, UserDraft, UserPatch, UserRules};
use roster_core::{CoreError, Secret};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::extract::{RequestOrigin, authenticate, parse_json};
use crate::problem::ApiError;
use crate::state::AppState;

const BASE: &str = "/suite-api/api/auth";
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
        .route(
            "/suite-api/api/auth/usergroups",
            get(list_groups)
                .post(create_group)
                .put(modify_group)
                .delete(delete_groups),
        )
        .route(
            "/suite-api/api/auth/usergroups/{id}",
            get(get_group).delete(delete_group),
        )
        .route(
            "/suite-api/api/auth/usergroups/{id}/permissions",
            get(group_permissions).put(put_group_permission),
        )
        .route(
            "/suite-api/api/auth/usergroups/{id}/permissions/{role}",
            axum::routing::delete(delete_group_permission),
        )
        .route(
            "/suite-api/api/auth/roles",
            get(list_roles).post(create_role).put(modify_role),
        )
        .route(
            "/suite-api/api/auth/roles/{name}",
            get(get_role).delete(delete_role),
        )
        .route(
            "/suite-api/api/auth/roles/{name}/privileges",
            get(role_privileges)
                .post(add_role_privileges)
                .put(set_role_privileges)
                .delete(remove_role_privileges),
        )
        .route("/suite-api/api/auth/privileges", get(privileges))
        .route("/suite-api/api/auth/privilegegroups", get(privilege_groups))
        .route(
            "/suite-api/api/auth/currentuser/roles/{name}/privileges",
            get(current_role_privileges),
        )
        .route(
            "/suite-api/api/auth/scopes",
            get(list_scopes)
                .post(create_scope)
                .put(modify_scope)
                .delete(delete_scopes),
        )
        .route("/suite-api/api/auth/scopes/{id}", get(get_scope))
        .route("/suite-api/api/auth/sourcetypes/{id}", get(source_type))
        .route(
            "/suite-api/api/auth/sources",
            get(list_sources)
                .post(unsupported_source)
                .put(unsupported_source)
                .patch(unsupported_source),
        )
        .route(
            "/suite-api/api/auth/sources/test",
            post(unsupported_source).patch(unsupported_source),
        )
        .route(
            "/suite-api/api/auth/sources/vidb/well-known-url",
            get(vidb_url),
        )
        .route(
            "/suite-api/api/auth/sources/{id}",
            get(get_source).delete(delete_source),
        )
        .route("/suite-api/api/auth/sources/{id}/users", post(import_users))
        .route(
            "/suite-api/api/auth/sources/{id}/users/search",
            post(search_users),
        )
        .route(
            "/suite-api/api/auth/sources/{id}/usergroups/search",
            post(search_groups),
        )
        .route(
            "/suite-api/api/auth/sources/{id}/usergroups/synchronize",
            put(synchronize_groups),
        )
        .route("/suite-api/api/auth/traversalspecs", get(traversal_specs))
        .route(
            "/suite-api/api/auth/users/{id}/traversalspecs",
            put(user_traversal_spec),
        )
        .route(
            "/suite-api/api/auth/usergroups/{id}/traversalspecs",
            put(group_traversal_spec),
        )
        .route("/suite-api/api/auth/token/exchange", post(token_exchange))
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
            CoreError::StorageUnavailable {
                retry_after_secs,
                message,
            } => {
                tracing::error!(error = %message, "storage unavailable");
                AriaError {
                    retry_after: Some(retry_after_secs),
                    ..AriaError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Service temporarily unavailable; retry later",
                    )
                }
            }
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
        let cred = credential(parts);
        let ctx = authenticate(parts, state, cred).await?;
        Ok(Caller(ctx, cred.unwrap_or_default().to_string()))
    }
}

fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, AriaError> {
    parse_json(bytes).map_err(AriaError::from)
}

/// Every value of a repeatable query parameter.
fn param_values<'a>(params: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    params
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
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
        ttl_secs: Some(state.http.aria_token_idle_secs),
        sliding: true,
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
    Ok(without_nulls(out))
}

/// Aria's schemas type optional fields as plain strings: an absent value is
/// left out rather than sent as null.
fn without_nulls(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.retain(|_, x| !x.is_null());
    }
    v
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
            .map(roster_core::access::GroupRef::Id)
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
    let ids: Vec<&str> = param_values(&params, "id");
    let names: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "username")
        .map(|(_, v)| v.to_lowercase())
        .collect();
    let roles: Vec<&str> = param_values(&params, "roleName");
    let all = state.roster.all_users(&ctx, Default::default()).await?;
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
    // The profile and the permissions change together or not at all.
    let access = AccessChange {
        set_roles: match m.contains_key("role-permissions") {
            true => Some(grants(m.get("role-permissions"))?),
            false => None,
        },
        ..Default::default()
    };
    let change = UserChange {
        patch,
        move_to: None,
        if_match: None,
        rules: &RULES,
    };
    let user = state
        .roster
        .update_user_and_access(&ctx, id, change, access)
        .await?;
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

async fn user_permissions(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(raw): Path<String>,
) -> AriaResult {
    holder_permissions(&state, &ctx, Holder::User(user_id(&raw)?)).await
}

async fn current_permissions(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
) -> AriaResult {
    let holder = Holder::User(ctx.who.user_id);
    holder_permissions(&state, &ctx, holder).await
}

async fn put_user_permission(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> AriaResult {
    put_permission(&state, &ctx, Holder::User(user_id(&raw)?), &bytes).await
}

async fn delete_user_permission(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path((raw, role)): Path<(String, String)>,
) -> AriaResult {
    delete_permission(&state, &ctx, Holder::User(user_id(&raw)?), &role).await
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

// ---- user groups

fn group_id(raw: &str) -> Result<Uuid, AriaError> {
    Uuid::parse_str(raw).map_err(|_| AriaError::from(CoreError::NotFound("user group")))
}

async fn group_json(
    state: &AppState,
    ctx: &Ctx,
    g: &roster_core::access::Group,
    links: bool,
) -> Result<Value, AriaError> {
    let members: Vec<String> = state
        .roster
        .all_members(ctx, g.id)
        .await?
        .iter()
        .map(|u| u.id.to_string())
        .collect();
    let permissions = state
        .roster
        .assignments_of(ctx, Holder::Group(g.id))
        .await?;
    let mut out = json!({
        "id": g.id.to_string(),
        "name": g.name,
        "displayName": g.attributes.get("displayName").cloned().unwrap_or_else(|| json!(g.name)),
        "description": g.description,
        "userIds": members,
        "roleNames": permissions.iter().map(|a| a.role_name.clone()).collect::<Vec<_>>(),
        "role-permissions": permissions.iter().map(permission_json).collect::<Vec<_>>(),
    });
    if links {
        out["links"] = json!([{ "href": format!("{BASE}/usergroups/{}", g.id), "rel": "SELF", "name": "linkToSelf" }]);
    }
    Ok(out)
}

async fn all_groups(
    state: &AppState,
    ctx: &Ctx,
) -> Result<Vec<roster_core::access::Group>, AriaError> {
    Ok(state.roster.all_groups(ctx).await?)
}

async fn list_groups(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> AriaResult {
    let ids: Vec<&str> = param_values(&params, "id");
    let names: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "name")
        .map(|(_, v)| v.to_lowercase())
        .collect();
    let links = links_wanted(&params);
    let mut out = Vec::new();
    for g in all_groups(&state, &ctx).await? {
        if !ids.is_empty() && !ids.contains(&g.id.to_string().as_str()) {
            continue;
        }
        if !names.is_empty() && !names.iter().any(|n| g.name.to_lowercase().contains(n)) {
            continue;
        }
        out.push(group_json(&state, &ctx, &g, links).await?);
    }
    Ok(axum::Json(json!({ "userGroups": out })).into_response())
}

async fn get_group(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(raw): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> AriaResult {
    let g = state.roster.get_group(&ctx, group_id(&raw)?).await?;
    Ok(axum::Json(group_json(&state, &ctx, &g, links_wanted(&params)).await?).into_response())
}

async fn create_group(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Query(params): Query<Vec<(String, String)>>,
    bytes: Bytes,
) -> AriaResult {
    let m: Map<String, Value> = body(&bytes)?;
    // Groups of the LOCAL source are roster's own; others would be imports.
    let source = m.get("authSourceId").and_then(Value::as_str);
    if source.is_some_and(|s| Uuid::parse_str(s).ok() != Some(LOCAL_SOURCE)) {
        return Err(not_supported(
            "Importing groups from an LDAP/AD/SSO auth source",
        ));
    }
    let mut attributes = Map::new();
    if let Some(d) = opt_text(&m, "displayName") {
        attributes.insert("displayName".into(), json!(d));
    }
    let input = roster_core::service::GroupInput {
        name: opt_text(&m, "name").unwrap_or_default(),
        description: opt_text(&m, "description").unwrap_or_default(),
        seq: None,
        attributes,
    };
    // The group, its members and its permissions, in one transaction.
    let g = state
        .roster
        .create_group_with(
            &ctx,
            input,
            uuids(m.get("userIds"), "userIds")?,
            grants(m.get("role-permissions"))?,
        )
        .await?;
    let out = group_json(&state, &ctx, &g, links_wanted(&params)).await?;
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

/// `id` and `name` are fixed; `userIds` becomes the member list.
async fn modify_group(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    bytes: Bytes,
) -> AriaResult {
    let m: Map<String, Value> = body(&bytes)?;
    let id = group_id(m.get("id").and_then(Value::as_str).unwrap_or_default())?;
    let current = state.roster.get_group(&ctx, id).await?;
    if opt_text(&m, "name").is_some_and(|n| n != current.name) {
        return Err(AriaError::new(
            StatusCode::BAD_REQUEST,
            "A user group's name cannot change",
        ));
    }
    let mut attributes = Map::new();
    if let Some(d) = m.get("displayName") {
        attributes.insert("displayName".into(), d.clone());
    }
    let change = roster_core::service::GroupChange {
        name: None,
        description: opt_text(&m, "description"),
        attributes,
    };
    let members = match m.contains_key("userIds") {
        true => Some(uuids(m.get("userIds"), "userIds")?),
        false => None,
    };
    // The group, its members and its permissions change together or not
    // at all; members the caller may not read are left as they are.
    state
        .roster
        .update_group_with(
            &ctx,
            id,
            change,
            members,
            grants(m.get("role-permissions"))?,
            None,
        )
        .await?;
    Ok(StatusCode::OK.into_response())
}

async fn delete_groups(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> AriaResult {
    let ids: Vec<Uuid> = params
        .iter()
        .filter(|(k, _)| k == "id")
        .map(|(_, v)| group_id(v))
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Err(AriaError::new(
            StatusCode::BAD_REQUEST,
            "Give the user groups to delete as id parameters",
        ));
    }
    for id in ids {
        state.roster.delete_group(&ctx, id).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_group(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(raw): Path<String>,
) -> AriaResult {
    state.roster.delete_group(&ctx, group_id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn holder_permissions(state: &AppState, ctx: &Ctx, holder: Holder) -> AriaResult {
    let list = state.roster.assignments_of(ctx, holder).await?;
    Ok(
        axum::Json(json!({ "permissions": list.iter().map(permission_json).collect::<Vec<_>>() }))
            .into_response(),
    )
}

async fn group_permissions(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(raw): Path<String>,
) -> AriaResult {
    holder_permissions(&state, &ctx, Holder::Group(group_id(&raw)?)).await
}

async fn put_group_permission(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> AriaResult {
    put_permission(&state, &ctx, Holder::Group(group_id(&raw)?), &bytes).await
}

async fn delete_group_permission(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path((raw, role)): Path<(String, String)>,
) -> AriaResult {
    delete_permission(&state, &ctx, Holder::Group(group_id(&raw)?), &role).await
}

/// Replaces the holder's permission for one role; answers with all of them.
async fn put_permission(state: &AppState, ctx: &Ctx, holder: Holder, bytes: &[u8]) -> AriaResult {
    let g = grant(&body::<Value>(bytes)?)?;
    state
        .roster
        .assign_role(ctx, holder, g.role, g.all_objects, g.containers)
        .await?;
    holder_permissions(state, ctx, holder).await
}

async fn delete_permission(state: &AppState, ctx: &Ctx, holder: Holder, role: &str) -> AriaResult {
    let a = state
        .roster
        .assignments_of(ctx, holder)
        .await?
        .into_iter()
        .find(|a| a.role_name.eq_ignore_ascii_case(role))
        .ok_or_else(|| AriaError::from(CoreError::NotFound("role permission")))?;
    state.roster.unassign_role(ctx, holder, a.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- roles and privileges (roster's privilege catalogue; keys are its names)

fn role_json(r: &roster_core::access::Role, links: bool) -> Value {
    let mut out = json!({
        "name": r.name,
        "displayName": r.name,
        "description": r.description,
        "privilege-keys": r.privileges.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "system-created": r.system,
    });
    if links {
        out["links"] = json!([{ "href": format!("{BASE}/roles/{}", r.name), "rel": "SELF", "name": "linkToSelf" }]);
    }
    out
}

fn privilege_json(p: roster_core::authz::Privilege) -> Value {
    json!({ "key": p.as_str(), "name": p.as_str(), "description": p.description() })
}

async fn list_roles(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> AriaResult {
    let names: Vec<&str> = param_values(&params, "roleName");
    let links = links_wanted(&params);
    let roles: Vec<Value> = state
        .roster
        .list_roles(&ctx)
        .await?
        .iter()
        .filter(|r| names.is_empty() || names.iter().any(|n| n.eq_ignore_ascii_case(&r.name)))
        .map(|r| role_json(r, links))
        .collect();
    Ok(axum::Json(json!({ "userRoles": roles })).into_response())
}

async fn role_by_name(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
) -> Result<roster_core::access::Role, AriaError> {
    Ok(state
        .roster
        .get_role(ctx, RoleRef::Name(name.to_string()))
        .await?)
}

fn keys(m: &Map<String, Value>, field: &str) -> Result<Vec<String>, AriaError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    AriaError::new(
                        StatusCode::BAD_REQUEST,
                        format!("{field} must hold strings"),
                    )
                })
            })
            .collect(),
        Some(_) => Err(AriaError::new(
            StatusCode::BAD_REQUEST,
            format!("{field} must be an array"),
        )),
    }
}

async fn create_role(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    bytes: Bytes,
) -> AriaResult {
    let m: Map<String, Value> = body(&bytes)?;
    let input = roster_core::service::RoleInput {
        name: opt_text(&m, "name").unwrap_or_default(),
        description: opt_text(&m, "description").unwrap_or_default(),
        privileges: keys(&m, "privilege-keys")?,
        seq: None,
    };
    let r = state.roster.create_role(&ctx, input).await?;
    Ok((StatusCode::CREATED, axum::Json(role_json(&r, true))).into_response())
}

async fn modify_role(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    bytes: Bytes,
) -> AriaResult {
    let m: Map<String, Value> = body(&bytes)?;
    let current = role_by_name(&state, &ctx, &opt_text(&m, "name").unwrap_or_default()).await?;
    let privileges = if m.contains_key("privilege-keys") {
        keys(&m, "privilege-keys")?
    } else {
        current
            .privileges
            .iter()
            .map(|p| p.as_str().to_string())
            .collect()
    };
    let input = roster_core::service::RoleInput {
        name: current.name.clone(),
        description: opt_text(&m, "description").unwrap_or(current.description.clone()),
        privileges,
        seq: None,
    };
    let r = state
        .roster
        .update_role(&ctx, current.id, input, None)
        .await?;
    Ok(axum::Json(role_json(&r, true)).into_response())
}

async fn get_role(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(name): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> AriaResult {
    let r = role_by_name(&state, &ctx, &name).await?;
    Ok(axum::Json(role_json(&r, links_wanted(&params))).into_response())
}

async fn delete_role(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(name): Path<String>,
) -> AriaResult {
    let r = role_by_name(&state, &ctx, &name).await?;
    state.roster.delete_role(&ctx, r.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn role_privileges(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(name): Path<String>,
) -> AriaResult {
    let r = role_by_name(&state, &ctx, &name).await?;
    Ok(axum::Json(json!({ "privileges": r.privileges.iter().map(|p| privilege_json(*p)).collect::<Vec<_>>() })).into_response())
}

/// Adds, replaces or removes privilege keys, answering with the result.
async fn change_privileges(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    bytes: &[u8],
    how: fn(Vec<String>) -> PrivilegeChange,
) -> AriaResult {
    let r = role_by_name(state, ctx, name).await?;
    let m: Map<String, Value> = body(bytes)?;
    let change = how(keys(&m, "privilege-key")?);
    let updated = state
        .roster
        .change_role_privileges(ctx, r.id, change, None)
        .await?;
    Ok(axum::Json(json!({ "privilege-key": updated.privileges.iter().map(|p| p.as_str()).collect::<Vec<_>>() })).into_response())
}

async fn add_role_privileges(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(name): Path<String>,
    bytes: Bytes,
) -> AriaResult {
    change_privileges(&state, &ctx, &name, &bytes, PrivilegeChange::Add).await
}

async fn set_role_privileges(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(name): Path<String>,
    bytes: Bytes,
) -> AriaResult {
    change_privileges(&state, &ctx, &name, &bytes, PrivilegeChange::Set).await
}

async fn remove_role_privileges(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(name): Path<String>,
    bytes: Bytes,
) -> AriaResult {
    change_privileges(&state, &ctx, &name, &bytes, PrivilegeChange::Remove).await
}

async fn privileges(
    Caller(_, _): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> AriaResult {
    let wanted: Vec<&str> = param_values(&params, "key");
    let list: Vec<Value> = roster_core::authz::Privilege::ALL
        .iter()
        .filter(|p| wanted.is_empty() || wanted.contains(&p.as_str()))
        .map(|p| privilege_json(*p))
        .collect();
    Ok(axum::Json(json!({ "privileges": list })).into_response())
}

/// Privileges grouped by what they act on (`users.*`, `groups.*`, …).
async fn privilege_groups(
    Caller(_, _): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> AriaResult {
    let wanted: Vec<&str> = param_values(&params, "key");
    let mut areas: Vec<&str> = roster_core::authz::Privilege::ALL
        .iter()
        .map(|p| p.as_str().split('.').next().unwrap_or_default())
        .collect();
    areas.dedup();
    let list: Vec<Value> = areas
        .into_iter()
        .filter(|a| wanted.is_empty() || wanted.contains(a))
        .map(|a| json!({ "key": a, "name": a, "description": format!("Privileges on {a}") }))
        .collect();
    Ok(axum::Json(json!({ "privilegeGroups": list })).into_response())
}

async fn current_role_privileges(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(name): Path<String>,
) -> AriaResult {
    let r = state.roster.own_role(&ctx, &name).await?;
    Ok(axum::Json(json!({ "privileges": r.privileges.iter().map(|p| privilege_json(*p)).collect::<Vec<_>>() })).into_response())
}

// ---- scopes: roster containers

fn scope_json(c: &roster_core::access::Container) -> Value {
    let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
    json!({
        "id": c.id.to_string(),
        "name": c.name,
        "description": "",
        "traversalSpecInstances": [],
        "creationTime": ms(c.created_at),
        "lastModifiedTime": ms(c.updated_at),
    })
}

fn scope_id(raw: &str) -> Result<Uuid, AriaError> {
    Uuid::parse_str(raw).map_err(|_| AriaError::from(CoreError::NotFound("scope")))
}

async fn list_scopes(State(state): State<Arc<AppState>>, Caller(ctx, _): Caller) -> AriaResult {
    let list = state.roster.list_containers(&ctx).await?;
    Ok(
        axum::Json(json!({ "scopesDetails": list.iter().map(scope_json).collect::<Vec<_>>() }))
            .into_response(),
    )
}

async fn get_scope(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(raw): Path<String>,
) -> AriaResult {
    let c = state.roster.get_container(&ctx, scope_id(&raw)?).await?;
    Ok(axum::Json(scope_json(&c)).into_response())
}

async fn create_scope(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    bytes: Bytes,
) -> AriaResult {
    let m: Map<String, Value> = body(&bytes)?;
    let c = state
        .roster
        .create_container(
            &ctx,
            roster_core::service::ContainerInput {
                name: opt_text(&m, "name").unwrap_or_default(),
                parent_id: None,
                seq: None,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(scope_json(&c))).into_response())
}

async fn modify_scope(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    bytes: Bytes,
) -> AriaResult {
    let m: Map<String, Value> = body(&bytes)?;
    let id = scope_id(m.get("id").and_then(Value::as_str).unwrap_or_default())?;
    let c = state
        .roster
        .update_container(&ctx, id, opt_text(&m, "name"), None, None)
        .await?;
    Ok(axum::Json(scope_json(&c)).into_response())
}

async fn delete_scopes(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    bytes: Bytes,
) -> AriaResult {
    let m: Map<String, Value> = body(&bytes)?;
    let ids = uuids(m.get("uuids"), "uuids")?;
    if ids.is_empty() {
        return Err(AriaError::new(StatusCode::BAD_REQUEST, "uuids is required"));
    }
    for id in ids {
        state.roster.delete_container(&ctx, id).await?;
    }
    Ok(StatusCode::OK.into_response())
}

// ---- auth sources: LOCAL is real; other types are not supported

/// The LOCAL auth source's fixed id.
const LOCAL_SOURCE: Uuid = Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0a01);

fn local_source() -> Value {
    json!({
        "id": LOCAL_SOURCE.to_string(),
        "name": "LOCAL",
        "sourceType": { "id": "LOCAL", "name": "LOCAL", "description": "Local users" },
        "property": [],
        "certificates": [],
    })
}

fn not_supported(what: &str) -> AriaError {
    AriaError::new(
        StatusCode::BAD_REQUEST,
        format!("{what} is not supported; roster has the LOCAL auth source only"),
    )
}

fn local_only(raw: &str) -> Result<(), AriaError> {
    match Uuid::parse_str(raw) {
        Ok(id) if id == LOCAL_SOURCE => Ok(()),
        _ => Err(AriaError::from(CoreError::NotFound("auth source"))),
    }
}

/// Works without a credential, as Aria's does.
async fn list_sources() -> AriaResult {
    Ok(axum::Json(json!({ "sources": [local_source()] })).into_response())
}

async fn get_source(Caller(_, _): Caller, Path(raw): Path<String>) -> AriaResult {
    local_only(&raw)?;
    Ok(axum::Json(local_source()).into_response())
}

async fn delete_source(Caller(_, _): Caller, Path(raw): Path<String>) -> AriaResult {
    local_only(&raw)?;
    Err(AriaError::new(
        StatusCode::BAD_REQUEST,
        "The LOCAL auth source cannot be deleted",
    ))
}

/// Adding, changing or testing LDAP/AD/SSO sources.
async fn unsupported_source(Caller(_, _): Caller, bytes: Bytes) -> AriaResult {
    let m: Map<String, Value> = body(&bytes)?;
    let kind = m
        .get("sourceType")
        .and_then(|t| t.get("id"))
        .and_then(Value::as_str)
        .unwrap_or("This auth source type")
        .to_string();
    Err(not_supported(&format!("Auth source type {kind}")))
}

async fn vidb_url(Caller(_, _): Caller) -> AriaResult {
    Err(AriaError::new(
        StatusCode::CONFLICT,
        "No VIDB auth source is configured",
    ))
}

/// Local groups live in roster itself: they are always in sync.
async fn synchronize_groups(Caller(_, _): Caller, Path(raw): Path<String>) -> AriaResult {
    local_only(&raw)?;
    Ok(StatusCode::OK.into_response())
}

/// Importing into LOCAL creates local users (without passwords).
async fn import_users(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> AriaResult {
    local_only(&raw)?;
    let m: Map<String, Value> = body(&bytes)?;
    let items = m
        .get("users")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for item in items {
        let u = item.as_object().cloned().unwrap_or_default();
        let input = CreateUser {
            profile: UserDraft {
                username: opt_text(&u, "username").unwrap_or_default(),
                first_name: opt_text(&u, "firstName"),
                last_name: opt_text(&u, "lastName"),
                email: opt_text(&u, "emailAddress"),
                distinguished_name: opt_text(&u, "distinguishedName"),
                external_id: opt_text(&u, "externalId"),
                active: u.get("enabled").and_then(Value::as_bool).unwrap_or(true),
                ..Default::default()
            },
            roles: grants(u.get("role-permissions"))?,
            rules: Some(RULES),
            ..Default::default()
        };
        let user = state.roster.create_user(&ctx, input).await?.user;
        out.push(user_json(&state, &ctx, &user, true).await?);
    }
    Ok((StatusCode::CREATED, axum::Json(json!({ "users": out }))).into_response())
}

/// `name` with `*` wildcards, matched case-insensitively.
fn wildcard(pattern: &str, text: &str) -> bool {
    let p = pattern.to_lowercase();
    let t = text.to_lowercase();
    let parts: Vec<&str> = p.split('*').collect();
    let mut rest = t.as_str();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        match rest.find(part) {
            Some(at) if i > 0 || at == 0 => rest = &rest[at + part.len()..],
            _ => return false,
        }
    }
    parts.last().is_some_and(|l| l.is_empty()) || rest.is_empty()
}

fn search_name(bytes: &[u8]) -> Result<String, AriaError> {
    let m: Map<String, Value> = body(bytes)?;
    opt_text(&m, "name").ok_or_else(|| AriaError {
        failures: vec![("name is required".into(), "name".into())],
        ..AriaError::new(StatusCode::BAD_REQUEST, "Invalid input")
    })
}

async fn search_users(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> AriaResult {
    local_only(&raw)?;
    let pattern = search_name(&bytes)?;
    let hits: Vec<Value> = state
        .roster
        .all_users(&ctx, Default::default())
        .await?
        .iter()
        .filter(|u| wildcard(&pattern, &u.profile.username))
        .map(|u| {
            without_nulls(json!({
                "name": u.profile.username,
                "firstName": u.profile.first_name,
                "lastName": u.profile.last_name,
                "distinguishedName": u.profile.distinguished_name,
                "emailAddress": u.profile.email,
                "externalId": u.profile.external_id,
            }))
        })
        .collect();
    Ok(axum::Json(json!({ "user-search-response": hits })).into_response())
}

async fn search_groups(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> AriaResult {
    local_only(&raw)?;
    let pattern = search_name(&bytes)?;
    let hits: Vec<Value> = all_groups(&state, &ctx)
        .await?
        .iter()
        .filter(|g| wildcard(&pattern, &g.name))
        .map(|g| json!({ "name": g.name, "description": g.description }))
        .collect();
    Ok(axum::Json(json!({ "usergroup-search-response": hits })).into_response())
}

async fn source_type(Caller(_, _): Caller, Path(id): Path<String>) -> AriaResult {
    let (id, d) = SOURCE_TYPES
        .iter()
        .find(|(t, _)| t.eq_ignore_ascii_case(&id))
        .ok_or_else(|| AriaError::from(CoreError::NotFound("auth source type")))?;
    Ok(axum::Json(json!({ "id": id, "name": id, "description": d })).into_response())
}

/// roster has no adapter or resource kinds, so no traversal specs.
async fn traversal_specs(Caller(_, _): Caller) -> AriaResult {
    Ok(axum::Json(json!({ "specs": [] })).into_response())
}

/// Aria's deprecated traversal-spec assignment: roster has no adapter or
/// resource kinds to apply it to, so it keeps the instance with the user or
/// group (attribute `aria_traversal_specs`) for clients that read it back.
fn traversal_instance(bytes: &[u8]) -> Result<Value, AriaError> {
    let v: Value = body(bytes)?;
    let ok = v.get("adapterKind").and_then(Value::as_str).is_some()
        && v.get("name").and_then(Value::as_str).is_some();
    if !ok {
        return Err(AriaError {
            failures: vec![(
                "adapterKind and name are required".into(),
                "traversal-spec-instance".into(),
            )],
            ..AriaError::new(StatusCode::BAD_REQUEST, "Invalid input")
        });
    }
    Ok(v)
}

fn appended(existing: Option<&Value>, item: Value) -> Value {
    let mut list = existing
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    list.retain(|x| x.get("name") != item.get("name"));
    list.push(item);
    Value::Array(list)
}

async fn user_traversal_spec(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> AriaResult {
    let id = user_id(&raw)?;
    let item = traversal_instance(&bytes)?;
    let user = state.roster.get_user(&ctx, id).await?;
    let mut attrs = Map::new();
    attrs.insert(
        "aria_traversal_specs".into(),
        appended(user.profile.attributes.get("aria_traversal_specs"), item),
    );
    let patch = UserPatch {
        attributes: Patch::Set(attrs),
        ..Default::default()
    };
    state
        .roster
        .update_user(&ctx, id, patch, None, None)
        .await?;
    Ok(StatusCode::OK.into_response())
}

async fn group_traversal_spec(
    State(state): State<Arc<AppState>>,
    Caller(ctx, _): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> AriaResult {
    let id = group_id(&raw)?;
    let item = traversal_instance(&bytes)?;
    let group = state.roster.get_group(&ctx, id).await?;
    let mut attrs = Map::new();
    attrs.insert(
        "aria_traversal_specs".into(),
        appended(group.attributes.get("aria_traversal_specs"), item),
    );
    let change = roster_core::service::GroupChange {
        attributes: attrs,
        ..Default::default()
    };
    state.roster.update_group(&ctx, id, change, None).await?;
    Ok(StatusCode::OK.into_response())
}

async fn token_exchange(Caller(_, _): Caller) -> AriaResult {
    Err(AriaError::new(
        StatusCode::BAD_REQUEST,
        "No services are registered for token exchange",
    ))
}
