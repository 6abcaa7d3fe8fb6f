//! Aria local users: create, read, search, update (with roles and groups in
//! one change), delete, and password changes.

use super::*;

pub(super) fn permission_json(a: &roster_core::access::Assignment) -> Value {
    let mut p = json!({ "roleName": a.role_name, "allowAllObjects": a.all_objects });
    if let Some(scope) = a.container_ids.first() {
        p["scopeId"] = json!(scope.to_string());
    }
    p
}

pub(super) async fn user_json(state: &AppState, ctx: &Ctx, u: &User, links: bool) -> Result<Value, AriaError> {
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
pub(super) fn without_nulls(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.retain(|_, x| !x.is_null());
    }
    v
}

/// Aria's `role-permission` objects as core role grants.
pub(super) fn grants(list: Option<&Value>) -> Result<Vec<RoleGrant>, AriaError> {
    let Some(list) = list.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let items = list.as_array().ok_or_else(|| {
        AriaError::new(StatusCode::BAD_REQUEST, "role-permissions must be an array")
    })?;
    items.iter().map(grant).collect()
}

pub(super) fn grant(v: &Value) -> Result<RoleGrant, AriaError> {
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

pub(super) fn uuids(v: Option<&Value>, field: &str) -> Result<Vec<Uuid>, AriaError> {
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

pub(super) fn opt_text(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k).and_then(Value::as_str).map(str::to_owned)
}

pub(super) async fn create_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
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

pub(super) async fn list_users(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> AriaResult {
    // Ids and usernames (which match partially, as Aria's do) narrow the
    // list in the store; role names are checked on what it returns.
    let any_of = |key: &str, term: &dyn Fn(&str) -> UserFilter| {
        let terms: Vec<UserFilter> = param_values(&params, key).into_iter().map(term).collect();
        (!terms.is_empty()).then_some(UserFilter::Or(terms))
    };
    let ids = any_of("id", &|raw| match Uuid::parse_str(raw) {
        Ok(id) => UserFilter::Compare(UserField::Id, Cmp::Eq, FilterValue::Uuid(id)),
        Err(_) => UserFilter::Nothing,
    });
    let names = any_of("username", &|name| {
        UserFilter::Compare(
            UserField::Username,
            Cmp::Co,
            FilterValue::Text(name.to_string()),
        )
    });
    let filter = UserFilter::And(ids.into_iter().chain(names).collect());
    let roles: Vec<&str> = param_values(&params, "roleName");
    let query = UserQuery {
        filter: Some(filter),
        ..Default::default()
    };
    let all = state.roster.all_users(&ctx, query).await?;
    let links = links_wanted(&params);
    let mut out = Vec::new();
    for u in &all {
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

pub(super) fn user_id(raw: &str) -> Result<Uuid, AriaError> {
    Uuid::parse_str(raw).map_err(|_| AriaError::from(CoreError::NotFound("user")))
}

pub(super) async fn get_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> AriaResult {
    let u = state.roster.get_user(&ctx, user_id(&raw)?).await?;
    Ok(axum::Json(user_json(&state, &ctx, &u, links_wanted(&params)).await?).into_response())
}

pub(super) async fn current_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> AriaResult {
    let u = state.roster.get_user(&ctx, ctx.who.user_id).await?;
    Ok(axum::Json(user_json(&state, &ctx, &u, links_wanted(&params)).await?).into_response())
}

pub(super) async fn modify_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
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
    change_user(&state, &ctx, id, &m, &params).await
}

/// `PATCH /users/{id}`, which VMware's PowerValidatedSolutions sends
/// (`Update-vROPSUserAccount`; not in the OpenAPI document): the `user`
/// fields given change, the others stay; an empty body changes nothing and
/// answers the user. An `id` in the body must be the path's.
pub(super) async fn patch_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    bytes: Bytes,
) -> AriaResult {
    let id = user_id(&raw)?;
    let m: Map<String, Value> = if bytes.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        body(&bytes)?
    };
    if let Some(other) = m.get("id").filter(|v| !v.is_null())
        && other.as_str().and_then(|s| Uuid::parse_str(s).ok()) != Some(id)
    {
        return Err(AriaError {
            failures: vec![("id must be the user's id in the path".into(), "id".into())],
            ..AriaError::new(StatusCode::BAD_REQUEST, "Invalid input")
        });
    }
    change_user(&state, &ctx, id, &m, &params).await
}

/// The `user` fields present in `m` change; those absent stay.
async fn change_user(
    state: &AppState,
    ctx: &Ctx,
    id: Uuid,
    m: &Map<String, Value>,
    params: &[(String, String)],
) -> AriaResult {
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
        password: opt_text(m, "password").map_or(Patch::Keep, |p| Patch::Set(Secret::new(p))),
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
        .update_user_and_access(ctx, id, change, access)
        .await?;
    Ok(axum::Json(user_json(state, ctx, &user, links_wanted(params)).await?).into_response())
}

pub(super) async fn delete_users(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> AriaResult {
    let ids: Vec<Uuid> = param_values(&params, "id")
        .into_iter()
        .map(user_id)
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Err(AriaError::new(
            StatusCode::BAD_REQUEST,
            "Give the users to delete as id parameters",
        ));
    }
    let users: Vec<_> = ids.into_iter().map(|id| (id, None)).collect();
    state.roster.delete_users(&ctx, &users).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn delete_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> AriaResult {
    state.roster.delete_user(&ctx, user_id(&raw)?, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn change_password(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
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

pub(super) async fn user_permissions(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> AriaResult {
    holder_permissions(&state, &ctx, Holder::User(user_id(&raw)?)).await
}

pub(super) async fn current_permissions(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
) -> AriaResult {
    let holder = Holder::User(ctx.who.user_id);
    holder_permissions(&state, &ctx, holder).await
}

pub(super) async fn put_user_permission(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> AriaResult {
    put_permission(&state, &ctx, Holder::User(user_id(&raw)?), &bytes).await
}

pub(super) async fn delete_user_permission(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path((raw, role)): Path<(String, String)>,
) -> AriaResult {
    delete_permission(&state, &ctx, Holder::User(user_id(&raw)?), &role).await
}
