//! AttackForge users: create (one or many), read, list, update, activate,
//! and their groups, audit logs and logins.

use super::*;

/// The fields AttackForge documents for CreateUser / CreateUsers.
pub(super) const NEW_USER_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "username",
    "email",
    "password",
    "role",
    "mfa",
];

#[derive(Deserialize)]
pub(super) struct NewUser {
    pub(super) first_name: String,
    pub(super) last_name: String,
    pub(super) username: String,
    pub(super) email: String,
    pub(super) password: Secret,
    pub(super) role: String,
    pub(super) mfa: String,
}

pub(super) fn status(u: &User) -> &'static str {
    if u.profile.attributes.get("is_deleted") == Some(&Value::Bool(true)) {
        "Deleted"
    } else if u.profile.active {
        "Active"
    } else {
        "Inactive"
    }
}

/// The AttackForge role among the user's role assignments.
pub(super) async fn role_of(state: &AppState, ctx: &Ctx, u: &User) -> Result<String, AfError> {
    let assignments = state.roster.assignments_of(ctx, Holder::User(u.id)).await?;
    Ok(assignments
        .iter()
        .map(|a| a.role_name.as_str())
        .find(|r| ROLES.contains(r))
        .or_else(|| assignments.first().map(|a| a.role_name.as_str()))
        .unwrap_or_default()
        .to_string())
}

pub(super) async fn read_side(state: &AppState, ctx: &Ctx, u: &User) -> Result<Value, AfError> {
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

pub(super) fn to_core(n: NewUser) -> Result<CreateUser, AfError> {
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

pub(super) async fn create_one(state: &AppState, ctx: &Ctx, n: NewUser) -> Result<Value, AfError> {
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

pub(super) async fn create_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    bytes: Bytes,
) -> AfResult {
    let n: NewUser = known_body(&bytes, NEW_USER_FIELDS)?;
    Ok(axum::Json(
        json!({ "user": create_one(&state, &ctx, n).await? }),
    ))
}

pub(super) async fn create_users(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    bytes: Bytes,
) -> AfResult {
    let items: Vec<Value> = body(&bytes)?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let result = match crate::extract::from_known::<NewUser>(item, NEW_USER_FIELDS) {
            Ok(n) => create_one(&state, &ctx, n).await,
            Err(r) => Err(AfError::from(r)),
        };
        out.push(match result {
            Ok(user) => json!({ "status": "Created", "user": user }),
            Err(AfError(_, msg, _)) => json!({ "status": "Failed", "error": msg }),
        });
    }
    Ok(axum::Json(Value::Array(out)))
}

pub(super) async fn all_users(state: &AppState, ctx: &Ctx, q: UserQuery) -> Result<Vec<User>, AfError> {
    Ok(state.roster.all_users(ctx, q).await?)
}

pub(super) async fn list_users(
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

pub(super) async fn one(state: &AppState, ctx: &Ctx, key: UserKey) -> Result<User, AfError> {
    Ok(state.roster.find_user(ctx, key).await?)
}

pub(super) async fn get_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> AfResult {
    let u = state.roster.get_user(&ctx, id(&raw)?).await?;
    Ok(axum::Json(
        json!({ "user": read_side(&state, &ctx, &u).await? }),
    ))
}

pub(super) async fn get_user_by_email(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(email): Path<String>,
) -> AfResult {
    let u = one(&state, &ctx, UserKey::Email(email))
    .await?;
    Ok(axum::Json(
        json!({ "user": read_side(&state, &ctx, &u).await? }),
    ))
}

pub(super) async fn get_user_by_username(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(username): Path<String>,
) -> AfResult {
    let u = one(&state, &ctx, UserKey::Username(username))
    .await?;
    Ok(axum::Json(
        json!({ "user": read_side(&state, &ctx, &u).await? }),
    ))
}

/// The fields AttackForge documents for UpdateUser.
const USER_UPDATE_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "email_address",
    "username",
    "is_deleted",
];

#[derive(Deserialize)]
pub(super) struct UserUpdate {
    pub(super) first_name: Option<String>,
    pub(super) last_name: Option<String>,
    pub(super) email_address: Option<String>,
    pub(super) username: Option<String>,
    pub(super) is_deleted: Option<bool>,
}

pub(super) async fn update_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> AfResult {
    let change: UserUpdate = known_body(&bytes, USER_UPDATE_FIELDS)?;
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

pub(super) async fn set_active(state: &AppState, ctx: &Ctx, raw: &str, active: bool) -> Result<(), AfError> {
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

pub(super) async fn activate(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> AfResult {
    set_active(&state, &ctx, &raw, true).await?;
    Ok(axum::Json(json!({ "status": "User Activated" })))
}

pub(super) async fn deactivate(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> AfResult {
    set_active(&state, &ctx, &raw, false).await?;
    Ok(axum::Json(json!({ "status": "User Deactivated" })))
}

pub(super) async fn user_groups(
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

pub(super) fn paging(params: &[(String, String)], default_limit: u32) -> Result<(u32, u32), AfError> {
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
pub(super) async fn events(
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

pub(super) async fn user_audit_logs(
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

pub(super) async fn user_logins(
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
