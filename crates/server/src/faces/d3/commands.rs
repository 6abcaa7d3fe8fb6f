//! D3's user commands, each one core call translated both ways.

use super::*;

pub(super) async fn create_user(
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
    // The first site is the user's home; the others are further sites it
    // belongs to (listed by GetUsersBySite for each).
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
        sites: sites.iter().skip(1).copied().collect(),
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

pub(super) async fn update_user(state: &AppState, ctx: &Ctx, params: &Map<String, Value>) -> Outcome {
    let seq = int_field(params, "User ID")?.ok_or_else(|| fail("User ID is required."))?;
    let user = match state.roster.find_user(ctx, UserKey::Seq(seq)).await {
        Err(CoreError::NotFound(_)) => return Err(fail(format!("User {seq} was not found."))),
        other => other?,
    };
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
    // `siteIds` is the whole list of the user's sites: the home stays if it
    // is listed (else the first site becomes it), the rest are further sites.
    let mut move_to = None;
    if info.get("siteIds").is_some_and(Value::is_array) {
        if let Some(first) = sites.first().filter(|_| !sites.contains(&user.container_id)) {
            move_to = Some(*first);
        }
        access.sites = Some(sites.clone());
        changed.push(json!({ "FieldName": "SiteIds", "UpdateValue": ints(&info, "siteIds")? }));
    }
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
        move_to,
        if_match: None,
        rules: &UserRules::default(),
    };
    state
        .roster
        .update_user_and_access(ctx, user.id, change, access)
        .await?;
    Ok(json!({ "error": "", "returnData": { "Status": "Successful", "Data": changed } }))
}

pub(super) async fn inactivate(state: &AppState, ctx: &Ctx, params: &Map<String, Value>) -> Outcome {
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
pub(super) async fn role_of(state: &AppState, ctx: &Ctx, user: &User) -> (String, String) {
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

pub(super) fn full_name(u: &User) -> String {
    match (&u.profile.first_name, &u.profile.last_name) {
        (Some(f), Some(l)) => format!("{f} {l}"),
        (Some(f), None) => f.clone(),
        (None, Some(l)) => l.clone(),
        (None, None) => u.profile.display_name.clone().unwrap_or_default(),
    }
}

/// GetUserByUsername's shape: every value a string.
pub(super) async fn user_strings(state: &AppState, ctx: &Ctx, u: &User) -> Value {
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
pub(super) async fn user_row(state: &AppState, ctx: &Ctx, u: &User) -> Value {
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

pub(super) async fn get_by_username(state: &AppState, ctx: &Ctx, params: &Map<String, Value>) -> Outcome {
    let name = text(params, "User Name").ok_or_else(|| fail("User Name is required."))?;
    let user = find_user(state, ctx, &name).await?;
    Ok(json!({
        "error": "",
        "returnData": "Succeed",
        "contextData": user_strings(state, ctx, &user).await,
    }))
}

/// "Online" means signed in within the last token lifetime: roster keeps no sessions.
pub(super) fn online(u: &User) -> bool {
    u.last_login_at
        .is_some_and(|t| OffsetDateTime::now_utc() - t < time::Duration::minutes(15))
}

pub(super) async fn all_users(state: &AppState, ctx: &Ctx, q: UserQuery) -> Result<Vec<User>, Failure> {
    Ok(state.roster.all_users(ctx, q).await?)
}

pub(super) async fn rows(state: &AppState, ctx: &Ctx, users: Vec<User>, only_online: bool) -> Vec<Value> {
    let mut out = Vec::new();
    for u in users.iter().filter(|u| !only_online || online(u)) {
        out.push(user_row(state, ctx, u).await);
    }
    out
}

pub(super) async fn users_by_site(state: &AppState, ctx: &Ctx, params: &Map<String, Value>) -> Outcome {
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
            site: Some(site.id),
            ..Default::default()
        },
    )
    .await?;
    Ok(json!({ "error": "", "returnData": rows(state, ctx, users, only_online).await }))
}

pub(super) async fn users_by_role(
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

/// GetOnlineUsers: users signed in within the last token lifetime (roster
/// keeps no sessions), as `contextData` rows with D3's session fields, and
/// an HTML table in `result`. roster has no login-log ids, device ids or
/// per-client counts: those fields are empty.
pub(super) async fn online_users(state: &AppState, ctx: &Ctx) -> Outcome {
    let users = all_users(state, ctx, UserQuery::default()).await?;
    let mut rows_out = Vec::new();
    let mut html = String::from(
        "<table><tr><th>User Name</th><th>Full Name</th><th>Email</th><th>Role</th></tr>",
    );
    for u in users.iter().filter(|u| online(u)) {
        let mut row = user_strings(state, ctx, u).await;
        for key in ["loginLogID", "SourceIP", "factoryDeviceID"] {
            row[key] = json!("");
        }
        row["activeVSOCUsers"] = json!(1);
        row["activeMobileUsers"] = json!(0);
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&u.profile.username),
            escape(&full_name(u)),
            escape(u.profile.email.as_deref().unwrap_or_default()),
            escape(row["role"].as_str().unwrap_or_default()),
        ));
        rows_out.push(row);
    }
    html.push_str("</table>");
    Ok(json!({ "error": "", "returnData": "Succeed", "result": html, "contextData": rows_out }))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// SyncAllUserGroupRole re-syncs users, groups and roles across an MSSP's
/// tenants. roster is one tenant whose users, groups and roles are always
/// in one database, so there is nothing to copy: the parameters are
/// checked and the command succeeds without changing anything.
pub(super) fn sync_all(params: &Map<String, Value>) -> Outcome {
    if let Some(v) = params.get("allTenant").filter(|v| !v.is_null()) {
        flag(v).ok_or_else(|| fail("allTenant must be True or False."))?;
    }
    for key in ["Region", "TenantName"] {
        if params.get(key).is_some_and(|v| !v.is_null() && !v.is_string()) {
            return Err(fail(format!("{key} must be a string.")));
        }
    }
    Ok(json!({ "error": "", "returnData": "Successful" }))
}
