//! AttackForge groups and the access levels of their members.

use super::*;

/// AttackForge's group fields beside the name, kept as group attributes.
pub(super) const GROUP_FIELDS: &[&str] = &[
    "group_owner",
    "primary_contact_name",
    "primary_contact_number",
    "primary_contact_email",
    "custom_fields",
    "access",
    "auto_add_project_request",
    "enable_project_team_notifications",
];

pub(super) fn group_attributes(
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
    // Fields from newer AttackForge versions are ignored, not stored.
    m.retain(|k, _| {
        let keep = GROUP_FIELDS.contains(&k.as_str());
        if !keep {
            tracing::debug!(field = %k, "ignoring a group field AttackForge does not document");
        }
        keep
    });
    Ok((name, m))
}

pub(super) fn group_json(g: &Group) -> Value {
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

pub(super) async fn create_group(
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

pub(super) async fn list_groups(State(state): State<Arc<AppState>>, Caller(ctx): Caller) -> AfResult {
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

pub(super) async fn get_group(
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

pub(super) async fn update_group(
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
pub(super) struct GroupAccess {
    pub(super) group_id: String,
    pub(super) user_id: Option<String>,
    pub(super) access_level: String,
}

pub(super) async fn add_to_group(
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
pub(super) async fn update_group_access(
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

pub(super) async fn regenerate_key(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    _headers: HeaderMap,
) -> AfResult {
    let (_, secret) = state.roster.regenerate_own_key(&ctx).await?;
    Ok(axum::Json(json!({ "apikey": secret.expose() })))
}
