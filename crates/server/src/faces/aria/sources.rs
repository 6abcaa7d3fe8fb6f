//! Aria auth sources and their types: LOCAL is roster itself; other
//! source types are answered as not supported.

use super::*;

pub(super) const SOURCE_TYPES: &[(&str, &str)] = &[
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

pub(super) async fn source_types(Caller(_): Caller) -> AriaResult {
    let types: Vec<Value> = SOURCE_TYPES
        .iter()
        .map(|(id, d)| json!({ "id": id, "name": id, "description": d }))
        .collect();
    Ok(axum::Json(json!({ "sourceTypes": types })).into_response())
}

// ---- auth sources: LOCAL is real; other types are not supported
/// The LOCAL auth source's fixed id.
pub(super) const LOCAL_SOURCE: Uuid = Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0a01);

pub(super) fn local_source() -> Value {
    json!({
        "id": LOCAL_SOURCE.to_string(),
        "name": "LOCAL",
        "sourceType": { "id": "LOCAL", "name": "LOCAL", "description": "Local users" },
        "property": [],
        "certificates": [],
    })
}

pub(super) fn not_supported(what: &str) -> AriaError {
    AriaError::new(
        StatusCode::BAD_REQUEST,
        format!("{what} is not supported; roster has the LOCAL auth source only"),
    )
}

pub(super) fn local_only(raw: &str) -> Result<(), AriaError> {
    match Uuid::parse_str(raw) {
        Ok(id) if id == LOCAL_SOURCE => Ok(()),
        _ => Err(AriaError::from(CoreError::NotFound("auth source"))),
    }
}

/// Works without a credential, as Aria's does.
pub(super) async fn list_sources() -> AriaResult {
    Ok(axum::Json(json!({ "sources": [local_source()] })).into_response())
}

pub(super) async fn get_source(Caller(_): Caller, Path(raw): Path<String>) -> AriaResult {
    local_only(&raw)?;
    Ok(axum::Json(local_source()).into_response())
}

pub(super) async fn delete_source(Caller(_): Caller, Path(raw): Path<String>) -> AriaResult {
    local_only(&raw)?;
    Err(AriaError::new(
        StatusCode::BAD_REQUEST,
        "The LOCAL auth source cannot be deleted",
    ))
}

/// Adding, changing or testing LDAP/AD/SSO sources.
pub(super) async fn unsupported_source(Caller(_): Caller, bytes: Bytes) -> AriaResult {
    let m: Map<String, Value> = body(&bytes)?;
    let kind = m
        .get("sourceType")
        .and_then(|t| t.get("id"))
        .and_then(Value::as_str)
        .unwrap_or("This auth source type")
        .to_string();
    Err(not_supported(&format!("Auth source type {kind}")))
}

pub(super) async fn vidb_url(Caller(_): Caller) -> AriaResult {
    Err(AriaError::new(
        StatusCode::CONFLICT,
        "No VIDB auth source is configured",
    ))
}

/// Local groups live in roster itself: they are always in sync.
pub(super) async fn synchronize_groups(Caller(_): Caller, Path(raw): Path<String>) -> AriaResult {
    local_only(&raw)?;
    Ok(StatusCode::OK.into_response())
}

/// Importing into LOCAL creates local users (without passwords).
pub(super) async fn import_users(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
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
/// What the store can narrow a `*` pattern to: the text before the first
/// `*` starts the username, the text after the last ends it, and every
/// piece between occurs in it. The store's matches are then held to the
/// pattern exactly ([`wildcard`]: pieces in order, without overlap).
pub(super) fn wildcard_filter(pattern: &str) -> UserFilter {
    let parts: Vec<&str> = pattern.split('*').collect();
    let last = parts.len() - 1;
    let term = |cmp, piece: &str| {
        UserFilter::Compare(UserField::Username, cmp, FilterValue::Text(piece.into()))
    };
    let terms = parts
        .iter()
        .enumerate()
        .filter(|(_, piece)| !piece.is_empty())
        .map(|(i, piece)| match i {
            0 if last == 0 => term(Cmp::Eq, piece),
            0 => term(Cmp::Sw, piece),
            i if i == last => term(Cmp::Ew, piece),
            _ => term(Cmp::Co, piece),
        })
        .collect();
    UserFilter::And(terms)
}

pub(super) fn wildcard(pattern: &str, text: &str) -> bool {
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

pub(super) fn search_name(bytes: &[u8]) -> Result<String, AriaError> {
    let m: Map<String, Value> = body(bytes)?;
    opt_text(&m, "name").ok_or_else(|| AriaError {
        failures: vec![("name is required".into(), "name".into())],
        ..AriaError::new(StatusCode::BAD_REQUEST, "Invalid input")
    })
}

pub(super) async fn search_users(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> AriaResult {
    local_only(&raw)?;
    let pattern = search_name(&bytes)?;
    let query = UserQuery {
        filter: Some(wildcard_filter(&pattern)),
        ..Default::default()
    };
    let hits: Vec<Value> = state
        .roster
        .all_users(&ctx, query)
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

pub(super) async fn search_groups(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
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

pub(super) async fn source_type(Caller(_): Caller, Path(id): Path<String>) -> AriaResult {
    let (id, d) = SOURCE_TYPES
        .iter()
        .find(|(t, _)| t.eq_ignore_ascii_case(&id))
        .ok_or_else(|| AriaError::from(CoreError::NotFound("auth source type")))?;
    Ok(axum::Json(json!({ "id": id, "name": id, "description": d })).into_response())
}

/// roster has no adapter or resource kinds, so no traversal specs.
pub(super) async fn traversal_specs(Caller(_): Caller) -> AriaResult {
    Ok(axum::Json(json!({ "specs": [] })).into_response())
}

/// Aria's deprecated traversal-spec assignment: roster has no adapter or
/// resource kinds to apply it to, so it keeps the instance with the user or
/// group (attribute `aria_traversal_specs`) for clients that read it back.
pub(super) fn traversal_instance(bytes: &[u8]) -> Result<Value, AriaError> {
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

pub(super) fn appended(existing: Option<&Value>, item: Value) -> Value {
    let mut list = existing
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    list.retain(|x| x.get("name") != item.get("name"));
    list.push(item);
    Value::Array(list)
}

pub(super) async fn user_traversal_spec(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
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

pub(super) async fn group_traversal_spec(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
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

pub(super) async fn token_exchange(Caller(_): Caller) -> AriaResult {
    Err(AriaError::new(
        StatusCode::BAD_REQUEST,
        "No services are registered for token exchange",
    ))
}
