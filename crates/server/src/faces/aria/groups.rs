//! Aria user groups: roster groups with members and role permissions.

use super::*;

pub(super) fn group_id(raw: &str) -> Result<Uuid, AriaError> {
    Uuid::parse_str(raw).map_err(|_| AriaError::from(CoreError::NotFound("user group")))
}

pub(super) async fn group_json(
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

pub(super) async fn all_groups(
    state: &AppState,
    ctx: &Ctx,
) -> Result<Vec<roster_core::access::Group>, AriaError> {
    Ok(state.roster.all_groups(ctx).await?)
}

pub(super) async fn list_groups(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
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

pub(super) async fn get_group(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> AriaResult {
    let g = state.roster.get_group(&ctx, group_id(&raw)?).await?;
    Ok(axum::Json(group_json(&state, &ctx, &g, links_wanted(&params)).await?).into_response())
}

pub(super) async fn create_group(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
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

/// `id` and `name` are fixed (VMware's spec): a different `name` is
/// ignored, as Aria does, and every other field applies; `userIds` becomes
/// the member list. Broadcom's SDK sample sends a changed name and expects
/// 200. The name must still be a string when given.
pub(super) async fn modify_group(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    bytes: Bytes,
) -> AriaResult {
    let m: Map<String, Value> = body(&bytes)?;
    let id = group_id(m.get("id").and_then(Value::as_str).unwrap_or_default())?;
    match m.get("name") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(_) => {
            return Err(AriaError {
                failures: vec![("name must be a string".into(), "name".into())],
                ..AriaError::new(StatusCode::BAD_REQUEST, "Invalid input")
            });
        }
    }
    if let Some(n) = opt_text(&m, "name") {
        tracing::debug!(group = %id, name = %n, "a user group's name cannot change; kept");
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

pub(super) async fn delete_groups(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> AriaResult {
    let ids: Vec<Uuid> = param_values(&params, "id")
        .into_iter()
        .map(group_id)
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Err(AriaError::new(
            StatusCode::BAD_REQUEST,
            "Give the user groups to delete as id parameters",
        ));
    }
    state.roster.delete_groups(&ctx, &ids).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn delete_group(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> AriaResult {
    state.roster.delete_group(&ctx, group_id(&raw)?, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn holder_permissions(state: &AppState, ctx: &Ctx, holder: Holder) -> AriaResult {
    let list = state.roster.assignments_of(ctx, holder).await?;
    Ok(
        axum::Json(json!({ "permissions": list.iter().map(permission_json).collect::<Vec<_>>() }))
            .into_response(),
    )
}

pub(super) async fn group_permissions(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> AriaResult {
    holder_permissions(&state, &ctx, Holder::Group(group_id(&raw)?)).await
}

pub(super) async fn put_group_permission(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> AriaResult {
    put_permission(&state, &ctx, Holder::Group(group_id(&raw)?), &bytes).await
}

pub(super) async fn delete_group_permission(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path((raw, role)): Path<(String, String)>,
) -> AriaResult {
    delete_permission(&state, &ctx, Holder::Group(group_id(&raw)?), &role).await
}

/// Replaces the holder's permission for one role; answers with all of them.
pub(super) async fn put_permission(state: &AppState, ctx: &Ctx, holder: Holder, bytes: &[u8]) -> AriaResult {
    let g = grant(&body::<Value>(bytes)?)?;
    state
        .roster
        .assign_role(ctx, holder, g.role, g.all_objects, g.containers)
        .await?;
    holder_permissions(state, ctx, holder).await
}

pub(super) async fn delete_permission(state: &AppState, ctx: &Ctx, holder: Holder, role: &str) -> AriaResult {
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
