//! Roles and privileges (roster's privilege catalogue; keys are its names).

use super::*;

pub(super) fn role_json(r: &roster_core::access::Role, links: bool) -> Value {
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

pub(super) fn privilege_json(p: roster_core::authz::Privilege) -> Value {
    json!({ "key": p.as_str(), "name": p.as_str(), "description": p.description() })
}

pub(super) async fn list_roles(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
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

pub(super) async fn role_by_name(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
) -> Result<roster_core::access::Role, AriaError> {
    Ok(state
        .roster
        .get_role(ctx, RoleRef::Name(name.to_string()))
        .await?)
}

pub(super) fn keys(m: &Map<String, Value>, field: &str) -> Result<Vec<String>, AriaError> {
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

pub(super) async fn create_role(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
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

pub(super) async fn modify_role(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
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

pub(super) async fn get_role(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(name): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> AriaResult {
    let r = role_by_name(&state, &ctx, &name).await?;
    Ok(axum::Json(role_json(&r, links_wanted(&params))).into_response())
}

pub(super) async fn delete_role(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(name): Path<String>,
) -> AriaResult {
    let r = role_by_name(&state, &ctx, &name).await?;
    state.roster.delete_role(&ctx, r.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn role_privileges(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(name): Path<String>,
) -> AriaResult {
    let r = role_by_name(&state, &ctx, &name).await?;
    Ok(axum::Json(json!({ "privileges": r.privileges.iter().map(|p| privilege_json(*p)).collect::<Vec<_>>() })).into_response())
}

/// Adds, replaces or removes privilege keys, answering with the result.
pub(super) async fn change_privileges(
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

pub(super) async fn add_role_privileges(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(name): Path<String>,
    bytes: Bytes,
) -> AriaResult {
    change_privileges(&state, &ctx, &name, &bytes, PrivilegeChange::Add).await
}

pub(super) async fn set_role_privileges(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(name): Path<String>,
    bytes: Bytes,
) -> AriaResult {
    change_privileges(&state, &ctx, &name, &bytes, PrivilegeChange::Set).await
}

pub(super) async fn remove_role_privileges(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(name): Path<String>,
    bytes: Bytes,
) -> AriaResult {
    change_privileges(&state, &ctx, &name, &bytes, PrivilegeChange::Remove).await
}

pub(super) async fn privileges(
    Caller(_): Caller,
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
pub(super) async fn privilege_groups(
    Caller(_): Caller,
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

pub(super) async fn current_role_privileges(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(name): Path<String>,
) -> AriaResult {
    let r = state.roster.own_role(&ctx, &name).await?;
    Ok(axum::Json(json!({ "privileges": r.privileges.iter().map(|p| privilege_json(*p)).collect::<Vec<_>>() })).into_response())
}
