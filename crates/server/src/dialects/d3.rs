//! D3 SOAR Command API: `POST /api/Command/{Name}` (also `/Command/{Name}`,
//! names case-insensitive) with the `{"Username", "Site", "CommandParams"}`
//! envelope, `d3key` / `d3jwt` headers, transport errors as
//! `{"Error": "..."}` and command failures as 200 with a non-empty `error`.

use std::sync::Arc;

use crate::extract::FaceBytes as Bytes;
use crate::extract::Path;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use roster_core::access::{GroupRef, Holder, RoleRef};
use roster_core::service::{AccessChange, Ctx, UserChange};
use roster_core::user::{
    CreateUser, Patch, RoleGrant, User, UserDraft, UserPatch, UserQuery, UserRules,
};
use roster_core::{CoreError, Secret};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::extract::{RequestOrigin, parse_json};
use crate::state::AppState;

const BAD_BODY: &str = "The body of the request must be a valid JSON object";
const BAD_KEY: &str = "Invalid authentication key.";
const RATE_LIMITED: &str =
    "The request exceeds rate limits or is otherwise blocked by rate limiting policies.";
const UNEXPECTED: &str = "Unexpected Error.";
const UNAVAILABLE: &str = "Service temporarily unavailable. Retry later.";

/// Whether a path belongs to this face.
pub fn owns(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    p.starts_with("/api/command/") || p.starts_with("/command/")
}

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/Command/{name}", post(command))
        .route("/api/command/{name}", post(command))
        .route("/Command/{name}", post(command))
        .route("/command/{name}", post(command))
}

/// How a command ends when it does not succeed.
enum Failure {
    /// An HTTP status with `{"Error": ...}`.
    Transport(StatusCode, &'static str, Option<u64>),
    /// 200 with `{"error": ..., "returnData": ""}`.
    Command(String),
}

impl From<CoreError> for Failure {
    fn from(e: CoreError) -> Self {
        match e {
            // D3 reports "no permission" as an authentication failure.
            CoreError::Unauthenticated | CoreError::Forbidden | CoreError::MfaRequired => {
                Failure::Transport(StatusCode::UNAUTHORIZED, BAD_KEY, None)
            }
            CoreError::RateLimited { retry_after_secs }
            | CoreError::Overloaded { retry_after_secs } => Failure::Transport(
                StatusCode::TOO_MANY_REQUESTS,
                RATE_LIMITED,
                Some(retry_after_secs),
            ),
            CoreError::StorageUnavailable {
                retry_after_secs,
                message,
            } => {
                tracing::error!(error = %message, "storage unavailable");
                Failure::Transport(
                    StatusCode::SERVICE_UNAVAILABLE,
                    UNAVAILABLE,
                    Some(retry_after_secs),
                )
            }
            CoreError::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                Failure::Transport(StatusCode::INTERNAL_SERVER_ERROR, UNEXPECTED, None)
            }
            CoreError::Invalid(errors) => Failure::Command(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            CoreError::Conflict(e) => Failure::Command(format!("{}: {}", e.field, e.message)),
            CoreError::NotFound(what) => Failure::Command(format!("The {what} was not found.")),
            other => Failure::Command(other.to_string()),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::Transport(status, msg, retry) => {
                let mut r = (status, axum::Json(json!({ "Error": msg }))).into_response();
                if let Some(secs) = retry {
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                r
            }
            Failure::Command(msg) => {
                axum::Json(json!({ "error": msg, "returnData": "" })).into_response()
            }
        }
    }
}

/// D3 documents one answer for a body it cannot take.
pub fn rejected() -> Response {
    Failure::Transport(StatusCode::BAD_REQUEST, BAD_BODY, None).into_response()
}

/// The D3 envelope of a core error raised outside the handlers.
pub fn error_response(e: CoreError) -> Response {
    Failure::from(e).into_response()
}

type Outcome = Result<Value, Failure>;

fn fail(msg: impl Into<String>) -> Failure {
    Failure::Command(msg.into())
}

async fn command(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RequestOrigin(origin): RequestOrigin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match run(&state, &name, origin, &headers, &body).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(f) => f.into_response(),
    }
}

async fn run(
    state: &AppState,
    name: &str,
    origin: roster_core::audit::Origin,
    headers: &HeaderMap,
    body: &[u8],
) -> Outcome {
    let credential = headers
        .get("d3key")
        .or_else(|| headers.get("d3jwt"))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .ok_or(Failure::Transport(StatusCode::UNAUTHORIZED, BAD_KEY, None))?;
    let who = state.roster.authenticate(credential).await?;
    let ctx = Ctx { who, origin };
    let envelope: Map<String, Value> = match parse_json::<Value>(body) {
        Ok(Value::Object(m)) => m,
        _ => return Err(Failure::Transport(StatusCode::BAD_REQUEST, BAD_BODY, None)),
    };
    let username = text(&envelope, "Username").ok_or_else(|| fail("Username is required."))?;
    // The command runs as the caller; it may name itself or a user it manages.
    state
        .roster
        .check_acting_for(&ctx, &username)
        .await
        .map_err(|_| Failure::Transport(StatusCode::UNAUTHORIZED, BAD_KEY, None))?;
    let site_name = text(&envelope, "Site").ok_or_else(|| fail("Site is required."))?;
    let site = match state
        .roster
        .containers_named(&ctx, &site_name)
        .await?
        .into_iter()
        .next()
    {
        Some(c) => c,
        None => return Err(fail(format!("Site '{site_name}' was not found."))),
    };
    let params = match envelope.get("CommandParams") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(fail("CommandParams must be an object.")),
    };
    match name.to_ascii_lowercase().as_str() {
        "createuser" => create_user(state, &ctx, site.id, &params).await,
        "updateuser" => update_user(state, &ctx, &params).await,
        "inactiveuser" => inactivate(state, &ctx, &params).await,
        "getuserbyusername" => get_by_username(state, &ctx, &params).await,
        "getusersbysite" => users_by_site(state, &ctx, &params).await,
        "getusersbyrole" => users_by_role(state, &ctx, &params, true).await,
        "getalluserofarole" => users_by_role(state, &ctx, &params, false).await,
        _ => Err(fail(format!("The command '{name}' is not available."))),
    }
}

// ---- value helpers: D3 sends ids as numbers or numeric strings

fn text(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn int_field(m: &Map<String, Value>, key: &str) -> Result<Option<i64>, Failure> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => int(v)
            .map(Some)
            .ok_or_else(|| fail(format!("{key} must be an integer."))),
    }
}

fn ints(m: &Map<String, Value>, key: &str) -> Result<Vec<i64>, Failure> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| int(v).ok_or_else(|| fail(format!("{key} must hold integers."))))
            .collect(),
        Some(_) => Err(fail(format!("{key} must be an array."))),
    }
}

fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The Windows time-zone ids D3 uses that public material names.
const TIMEZONES: &[(i64, &str)] = &[
    (3, "Hawaiian Standard Time"),
    (5, "Pacific Standard Time"),
    (30, "W. Europe Standard Time"),
];

fn timezone_name(id: i64) -> String {
    TIMEZONES
        .iter()
        .find(|(i, _)| *i == id)
        .map_or_else(|| id.to_string(), |(_, n)| n.to_string())
}

fn timezone_id(user: &User) -> Option<i64> {
    user.profile
        .attributes
        .get("d3_timezone_id")
        .and_then(int)
        .or_else(|| {
            let tz = user.profile.timezone.as_deref()?;
            TIMEZONES.iter().find(|(_, n)| *n == tz).map(|(i, _)| *i)
        })
}

async fn containers_by_seq(
    state: &AppState,
    ctx: &Ctx,
    seqs: &[i64],
) -> Result<Vec<Uuid>, Failure> {
    let mut out = Vec::new();
    for seq in seqs {
        match state.roster.container_by_seq(ctx, *seq).await {
            Ok(c) => out.push(c.id),
            Err(CoreError::NotFound(_)) => return Err(fail(format!("Site {seq} was not found."))),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

async fn find_user(state: &AppState, ctx: &Ctx, username: &str) -> Result<User, Failure> {
    let q = UserQuery {
        username: Some(username.to_string()),
        limit: 1,
        ..Default::default()
    };
    state
        .roster
        .list_users(ctx, q)
        .await?
        .items
        .into_iter()
        .next()
        .ok_or_else(|| fail(format!("User '{username}' was not found.")))
}

// ---- commands

async fn create_user(
    state: &AppState,
    ctx: &Ctx,
    site: Uuid,
    params: &Map<String, Value>,
) -> Outcome {
    let info = match params.get("UserInfo") {
        Some(Value::Object(m)) => m,
        _ => return Err(fail("UserInfo is required.")),
    };
    let username = text(info, "username").unwrap_or_default();
    let timezone = int_field(info, "timezoneId")?;
    let mut attributes = Map::new();
    if let Some(tz) = timezone {
        attributes.insert("d3_timezone_id".into(), json!(tz));
    }
    let site_ids = ints(info, "siteIds")?;
    let sites = containers_by_seq(state, ctx, &site_ids).await?;
    let home = sites.first().copied().unwrap_or(site);
    let mut roles = Vec::new();
    if let Some(role) = int_field(info, "roleId")? {
        roles.push(RoleGrant {
            role: RoleRef::Seq(role),
            all_objects: false,
            containers: if sites.is_empty() {
                vec![site]
            } else {
                sites.clone()
            },
        });
    }
    let input = CreateUser {
        profile: UserDraft {
            username,
            email: text(info, "emailAddress"),
            first_name: text(info, "firstName"),
            last_name: text(info, "lastName"),
            phone: text(info, "phoneNumber"),
            timezone: timezone.map(timezone_name),
            active: info.get("isActive").and_then(flag).unwrap_or(true),
            security_level: int_field(info, "securityLevel")?,
            attributes,
            ..Default::default()
        },
        password: text(info, "password").map(Secret::new),
        container_id: Some(home),
        groups: ints(info, "groupIds")?
            .into_iter()
            .map(GroupRef::Seq)
            .collect(),
        roles,
        ..Default::default()
    };
    state.roster.create_user(ctx, input).await?;
    Ok(json!({ "error": "", "returnData": "Successful" }))
}

async fn update_user(state: &AppState, ctx: &Ctx, params: &Map<String, Value>) -> Outcome {
    let seq = int_field(params, "User ID")?.ok_or_else(|| fail("User ID is required."))?;
    let q = UserQuery {
        seq: Some(seq),
        limit: 1,
        ..Default::default()
    };
    let user = state
        .roster
        .list_users(ctx, q)
        .await?
        .items
        .into_iter()
        .next()
        .ok_or_else(|| fail(format!("User {seq} was not found.")))?;
    let info = match params.get("User Information") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(fail("User Information must be an object.")),
    };
    let mut patch = UserPatch::default();
    let mut changed = Vec::new();
    let set_text =
        |key: &str, label: &str, target: &mut Patch<String>, changed: &mut Vec<Value>| {
            if let Some(v) = info.get(key).and_then(Value::as_str) {
                *target = if v.is_empty() {
                    Patch::Clear
                } else {
                    Patch::Set(v.to_string())
                };
                changed.push(json!({ "FieldName": label, "UpdateValue": v }));
            }
        };
    set_text("username", "UserName", &mut patch.username, &mut changed);
    set_text("emailAddress", "Email", &mut patch.email, &mut changed);
    set_text(
        "firstName",
        "FirstName",
        &mut patch.first_name,
        &mut changed,
    );
    set_text("lastName", "LastName", &mut patch.last_name, &mut changed);
    set_text("phoneNumber", "Phone", &mut patch.phone, &mut changed);
    if let Some(v) = info.get("isActive") {
        let active = flag(v).ok_or_else(|| fail("isActive must be true or false."))?;
        patch.active = Patch::Set(active);
        changed.push(json!({ "FieldName": "IsActive", "UpdateValue": v }));
    }
    if let Some(tz) = int_field(&info, "timezoneId")? {
        patch.timezone = Patch::Set(timezone_name(tz));
        let mut attrs = Map::new();
        attrs.insert("d3_timezone_id".into(), json!(tz));
        patch.attributes = Patch::Set(attrs);
        changed.push(json!({ "FieldName": "TimezoneId", "UpdateValue": tz }));
    }
    if let Some(level) = int_field(&info, "securityLevel")? {
        patch.security_level = Patch::Set(level);
        changed.push(json!({ "FieldName": "SecurityLevel", "UpdateValue": level }));
    }
    // The profile, the role and the groups change together or not at all.
    let mut access = AccessChange::default();
    let sites = containers_by_seq(state, ctx, &ints(&info, "siteIds")?).await?;
    if let Some(role) = int_field(&info, "roleId")? {
        let containers = if sites.is_empty() {
            vec![user.container_id]
        } else {
            sites.clone()
        };
        access.assign.push(RoleGrant {
            role: RoleRef::Seq(role),
            all_objects: false,
            containers,
        });
        changed.push(json!({ "FieldName": "RoleId", "UpdateValue": role }));
    }
    for g in ints(&info, "groupIds")? {
        access.join.push(GroupRef::Seq(g));
        changed.push(json!({ "FieldName": "GroupId", "UpdateValue": g }));
    }
    let change = UserChange {
        patch,
        move_to: None,
        if_match: None,
        rules: &UserRules::default(),
    };
    state
        .roster
        .update_user_and_access(ctx, user.id, change, access)
        .await?;
    Ok(json!({ "error": "", "returnData": { "Status": "Successful", "Data": changed } }))
}

async fn inactivate(state: &AppState, ctx: &Ctx, params: &Map<String, Value>) -> Outcome {
    let name = text(params, "User Name").ok_or_else(|| fail("User Name is required."))?;
    let user = find_user(state, ctx, &name).await?;
    let patch = UserPatch {
        active: Patch::Set(false),
        ..Default::default()
    };
    state
        .roster
        .update_user(ctx, user.id, patch, None, None)
        .await?;
    Ok(json!({ "error": "", "returnData": "Successful" }))
}

/// The user's first role assignment, as D3 shows a single role.
async fn role_of(state: &AppState, ctx: &Ctx, user: &User) -> (String, String) {
    match state
        .roster
        .assignments_of(ctx, Holder::User(user.id))
        .await
    {
        Ok(a) => a
            .first()
            .map(|a| (a.role_name.clone(), a.role_name.clone()))
            .unwrap_or_default(),
        Err(_) => Default::default(),
    }
}

fn full_name(u: &User) -> String {
    match (&u.profile.first_name, &u.profile.last_name) {
        (Some(f), Some(l)) => format!("{f} {l}"),
        (Some(f), None) => f.clone(),
        (None, Some(l)) => l.clone(),
        (None, None) => u.profile.display_name.clone().unwrap_or_default(),
    }
}

/// GetUserByUsername's shape: every value a string.
async fn user_strings(state: &AppState, ctx: &Ctx, u: &User) -> Value {
    let (role, description) = role_of(state, ctx, u).await;
    json!({
        "userID": u.seq.to_string(),
        "userName": u.profile.username,
        "firstName": u.profile.first_name.clone().unwrap_or_default(),
        "lastName": u.profile.last_name.clone().unwrap_or_default(),
        "fullName": full_name(u),
        "timezoneId": timezone_id(u).map(|t| t.to_string()).unwrap_or_default(),
        "description": description,
        "email": u.profile.email.clone().unwrap_or_default(),
        "phone": u.profile.phone.clone().unwrap_or_default(),
        "role": role,
    })
}

/// GetUsersBySite / GetUsersByRole rows: typed values.
async fn user_row(state: &AppState, ctx: &Ctx, u: &User) -> Value {
    let (role, description) = role_of(state, ctx, u).await;
    json!({
        "userID": u.seq,
        "userName": u.profile.username,
        "firstName": u.profile.first_name.clone().unwrap_or_default(),
        "lastName": u.profile.last_name.clone().unwrap_or_default(),
        "fullName": full_name(u),
        "timezone": u.profile.timezone.clone().unwrap_or_default(),
        "timezoneId": timezone_id(u),
        "roleDescription": description,
        "email": u.profile.email.clone().unwrap_or_default(),
        "phone": u.profile.phone.clone().unwrap_or_default(),
        "role": role,
    })
}

async fn get_by_username(state: &AppState, ctx: &Ctx, params: &Map<String, Value>) -> Outcome {
    let name = text(params, "User Name").ok_or_else(|| fail("User Name is required."))?;
    let user = find_user(state, ctx, &name).await?;
    Ok(json!({
        "error": "",
        "returnData": "Succeed",
        "contextData": user_strings(state, ctx, &user).await,
    }))
}

/// "Online" means signed in within the last token lifetime: roster keeps no sessions.
fn online(u: &User) -> bool {
    u.last_login_at
        .is_some_and(|t| OffsetDateTime::now_utc() - t < time::Duration::minutes(15))
}

async fn all_users(state: &AppState, ctx: &Ctx, q: UserQuery) -> Result<Vec<User>, Failure> {
    Ok(state.roster.all_users(ctx, q).await?)
}

async fn rows(state: &AppState, ctx: &Ctx, users: Vec<User>, only_online: bool) -> Vec<Value> {
    let mut out = Vec::new();
    for u in users.iter().filter(|u| !only_online || online(u)) {
        out.push(user_row(state, ctx, u).await);
    }
    out
}

async fn users_by_site(state: &AppState, ctx: &Ctx, params: &Map<String, Value>) -> Outcome {
    let name = text(params, "Site Name").ok_or_else(|| fail("Site Name is required."))?;
    let site = state
        .roster
        .containers_named(ctx, &name)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| fail(format!("Site '{name}' was not found.")))?;
    let only_online = params.get("Online").and_then(flag).unwrap_or(false);
    let users = all_users(
        state,
        ctx,
        UserQuery {
            container: Some(site.id),
            ..Default::default()
        },
    )
    .await?;
    Ok(json!({ "error": "", "returnData": rows(state, ctx, users, only_online).await }))
}

async fn users_by_role(
    state: &AppState,
    ctx: &Ctx,
    params: &Map<String, Value>,
    rows_shape: bool,
) -> Outcome {
    let name = text(params, "Role Name").ok_or_else(|| fail("Role Name is required."))?;
    let role = match state
        .roster
        .get_role(ctx, RoleRef::Name(name.clone()))
        .await
    {
        Err(CoreError::NotFound(_)) => return Err(fail(format!("Role '{name}' was not found."))),
        other => other?,
    };
    let users = all_users(
        state,
        ctx,
        UserQuery {
            role: Some(role.id),
            ..Default::default()
        },
    )
    .await?;
    if rows_shape {
        let only_online = params.get("Online").and_then(flag).unwrap_or(false);
        return Ok(
            json!({ "error": "", "returnData": rows(state, ctx, users, only_online).await }),
        );
    }
    let mut objects = Vec::new();
    for u in &users {
        objects.push(user_strings(state, ctx, u).await);
    }
    Ok(json!({ "error": "", "returnData": "Succeed", "contextData": objects }))
}
