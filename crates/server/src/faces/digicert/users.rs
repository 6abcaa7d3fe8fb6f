//! DigiCert users: create (also API-only users with their key), read, list,
//! edit, roles, container assignments and delete.

use super::*;

#[derive(Deserialize)]
pub(super) struct RoleId {
    pub(super) id: Value,
}

/// The fields DigiCert documents for "Add user" (`is_api_only: false`
/// included: clients send it on every create).
pub(super) const NEW_USER_FIELDS: &[&str] = &[
    "username",
    "first_name",
    "last_name",
    "email",
    "job_title",
    "telephone",
    "container",
    "access_roles",
    "container_id_assignments",
    "is_saml_sso_only",
    "is_api_only",
];

#[derive(Deserialize)]
pub(super) struct NewUser {
    pub(super) username: String,
    pub(super) first_name: String,
    pub(super) last_name: String,
    pub(super) email: String,
    pub(super) job_title: Option<String>,
    pub(super) telephone: Option<String>,
    pub(super) container: Option<RoleId>,
    pub(super) access_roles: Vec<RoleId>,
    pub(super) container_id_assignments: Option<Value>,
    pub(super) is_saml_sso_only: Option<bool>,
    /// Checked for its type; `true` takes the service-user path first.
    #[allow(dead_code)]
    pub(super) is_api_only: Option<bool>,
}

pub(super) fn role_grants(roles: &[RoleId], scope: &[Uuid]) -> Result<Vec<RoleGrant>, DcError> {
    if roles.is_empty() {
        return Err(DcError::bad("access_roles", "access_roles needs one role"));
    }
    roles
        .iter()
        .map(|r| {
            let id = int(&r.id)
                .filter(|i| ACCESS_ROLES.contains(i))
                .ok_or_else(|| {
                    DcError::bad(
                        "access_roles",
                        "access role ids are 1 (Administrator) to 5 (Standard User)",
                    )
                })?;
            Ok(RoleGrant {
                role: RoleRef::Seq(id),
                all_objects: false,
                containers: scope.to_vec(),
            })
        })
        .collect()
}

pub(super) async fn create_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    bytes: Bytes,
) -> DcResult {
    let raw: Map<String, Value> = body(&bytes)?;
    if raw.get("is_api_only") == Some(&Value::Bool(true)) {
        return create_service_user(&state, &ctx, raw).await;
    }
    let n: NewUser = crate::extract::from_known(Value::Object(raw), NEW_USER_FIELDS)?;
    let home = match &n.container {
        Some(c) => {
            let seq = int(&c.id)
                .ok_or_else(|| DcError::bad("container", "container.id must be an integer"))?;
            container_ids(&state, &ctx, &[seq]).await?[0]
        }
        None => ctx.who.container_id,
    };
    let divisions = container_ids(
        &state,
        &ctx,
        &ints(
            n.container_id_assignments.as_ref(),
            "container_id_assignments",
        )?
        .unwrap_or_default(),
    )
    .await?;
    let scope = if divisions.is_empty() {
        vec![home]
    } else {
        divisions
    };
    let input = CreateUser {
        profile: UserDraft {
            username: n.username,
            email: Some(n.email),
            first_name: Some(n.first_name),
            last_name: Some(n.last_name),
            job_title: n.job_title.filter(|s| !s.is_empty()),
            phone: n.telephone.filter(|s| !s.is_empty()),
            saml_sso_only: n.is_saml_sso_only.unwrap_or(false),
            active: true,
            ..Default::default()
        },
        container_id: Some(home),
        roles: role_grants(&n.access_roles, &scope)?,
        rules: Some(RULES),
        ..Default::default()
    };
    // DigiCert's "Add user" emails the new user an invitation: with mail
    // configured, so does this face (SSO-only users have no password to set).
    let user = if state.roster.mail_configured() && !input.profile.saml_sso_only {
        state.roster.create_user_invited(&ctx, input).await?.user
    } else {
        state.roster.create_user(&ctx, input).await?.user
    };
    Ok((StatusCode::CREATED, axum::Json(json!({ "id": user.seq }))).into_response())
}

/// A service (API-only) user: no password, one API key returned once.
pub(super) async fn create_service_user(state: &AppState, ctx: &Ctx, raw: Map<String, Value>) -> DcResult {
    let email = raw
        .get("email")
        .and_then(Value::as_str)
        .ok_or_else(|| DcError::bad("email", "email is required"))?;
    let api_name = raw
        .get("api_name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| DcError::bad("api_name", "api_name is required"))?;
    let api_role = match raw.get("restricted_to_role_id") {
        None | Some(Value::Null) => 0,
        Some(v) => {
            int(v).ok_or_else(|| DcError::bad("restricted_to_role_id", "must be an integer"))?
        }
    };
    let (_, _, restricted) = API_ROLES
        .iter()
        .find(|(id, _, _)| *id == api_role)
        .ok_or_else(|| {
            DcError::bad(
                "restricted_to_role_id",
                "must be one of 0, 100, 101, 102, 103",
            )
        })?;
    let divisions = container_ids(
        state,
        ctx,
        &ints(
            raw.get("container_id_assignments"),
            "container_id_assignments",
        )?
        .unwrap_or_default(),
    )
    .await?;
    let scope = if divisions.is_empty() {
        vec![ctx.who.container_id]
    } else {
        divisions
    };
    let mut attributes = Map::new();
    attributes.insert("digicert_api_only".into(), Value::Bool(true));
    let input = CreateUser {
        profile: UserDraft {
            username: format!("api-{}", &Uuid::now_v7().simple().to_string()[20..]),
            display_name: Some(api_name.to_string()),
            email: Some(email.to_string()),
            active: true,
            attributes,
            ..Default::default()
        },
        container_id: Some(scope[0]),
        // A service user manages what its key is for; the key's restriction narrows it.
        roles: vec![RoleGrant {
            role: RoleRef::Seq(4),
            all_objects: false,
            containers: scope,
        }],
        rules: Some(UserRules {
            required: &["email"],
            ..RULES
        }),
        ..Default::default()
    };
    let role_id = match restricted {
        Some(seq) => Some(state.roster.get_role(ctx, RoleRef::Seq(*seq)).await?.id),
        None => None,
    };
    let (user, _, secret) = state
        .roster
        .create_service_user(
            ctx,
            input,
            NewKey {
                name: api_name.to_string(),
                user_id: None,
                role_id,
                expires_at: None,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "id": user.seq, "api_key": secret.expose() })),
    )
        .into_response())
}

pub(super) async fn list_users(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> DcResult {
    list(&state, &ctx, &params, UserQuery::default()).await
}

/// "List service users" (`GET /user/api-only`; newer docs
/// `GET /service-user`): the API-only users, in the list's shape, with the
/// same paging, filters and sort.
pub(super) async fn list_service_users(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> DcResult {
    let q = UserQuery {
        filter: Some(UserFilter::Compare(
            UserField::Attribute("digicert_api_only".into()),
            Cmp::Eq,
            FilterValue::Bool(true),
        )),
        ..Default::default()
    };
    list(&state, &ctx, &params, q).await
}

async fn list(state: &AppState, ctx: &Ctx, params: &[(String, String)], mut q: UserQuery) -> DcResult {
    let (mut offset, mut limit) = (0u64, 0u32);
    for (k, v) in params {
        let bad = |f: &str| DcError::bad(f, format!("{f} has an invalid value"));
        match k.as_str() {
            "offset" => offset = v.parse().map_err(|_| bad("offset"))?,
            "limit" => limit = v.parse().map_err(|_| bad("limit"))?,
            "container_id" => {
                let seq = v.parse().map_err(|_| bad("container_id"))?;
                q.container = Some(container_ids(state, ctx, &[seq]).await?[0]);
            }
            "access_role_id" => {
                let seq = v.parse().map_err(|_| bad("access_role_id"))?;
                q.role = Some(state.roster.get_role(ctx, RoleRef::Seq(seq)).await?.id);
            }
            "filters[status]" => match v.as_str() {
                "active" => q.active = Some(true),
                "inactive" => q.active = Some(false),
                _ => return Err(bad("status")),
            },
            "filters[search]" => match v.strip_prefix('%') {
                Some(rest) => {
                    q.q = Some(rest.to_string());
                    q.q_contains = true;
                }
                None => q.q = Some(v.clone()),
            },
            "sort" => {
                for key in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let (desc, name) = key.strip_prefix('-').map_or((false, key), |k| (true, k));
                    let sort = match name {
                        "id" => UserSort::Seq,
                        "username" => UserSort::Username,
                        "first_name" => UserSort::FirstName,
                        "last_name" => UserSort::LastName,
                        "email" => UserSort::Email,
                        "date_created" | "create_date" => UserSort::CreatedAt,
                        _ => return Err(bad("sort")),
                    };
                    q.sort.push((sort, desc));
                }
            }
            _ => {}
        }
    }
    q.offset = Some(offset);
    // DigiCert's limit 0 means "no limit"; roster caps a page at 1000.
    q.limit = if limit == 0 { 1000 } else { limit.min(1000) };
    let (users, total) = state.roster.list_users_counted(ctx, q).await?;
    let index = container_index(state, ctx).await;
    let mut out = Vec::with_capacity(users.len());
    for u in &users {
        out.push(user_json(state, ctx, u, &index).await?);
    }
    ok(json!({ "users": out, "page": { "total": total, "limit": limit, "offset": offset } }))
}

pub(super) async fn get_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> DcResult {
    let u = user_by_seq(&state, &ctx, seq_path(&raw, "user")?).await?;
    let index = container_index(&state, &ctx).await;
    ok(user_json(&state, &ctx, &u, &index).await?)
}

pub(super) async fn me(State(state): State<Arc<AppState>>, Caller(ctx): Caller) -> DcResult {
    let u = state.roster.get_user(&ctx, ctx.who.user_id).await?;
    let index = container_index(&state, &ctx).await;
    ok(user_json(&state, &ctx, &u, &index).await?)
}

/// The fields DigiCert documents for "Edit user".
const EDIT_USER_FIELDS: &[&str] = &[
    "email",
    "username",
    "first_name",
    "last_name",
    "job_title",
    "telephone",
    "is_saml_sso_only",
];

#[derive(Deserialize)]
pub(super) struct EditUser {
    pub(super) email: String,
    pub(super) username: Option<String>,
    pub(super) first_name: Option<String>,
    pub(super) last_name: Option<String>,
    pub(super) job_title: Option<String>,
    pub(super) telephone: Option<String>,
    pub(super) is_saml_sso_only: Option<bool>,
}

/// PUT semantics as documented: `job_title` and `telephone` are cleared
/// when omitted; names and username stay when omitted.
pub(super) async fn edit_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> DcResult {
    let u = user_by_seq(&state, &ctx, seq_path(&raw, "user")?).await?;
    let e: EditUser = known_body(&bytes, EDIT_USER_FIELDS)?;
    let or_clear = |v: Option<String>| v.filter(|s| !s.is_empty()).map_or(Patch::Clear, Patch::Set);
    let keep_or_set = |v: Option<String>| v.map_or(Patch::Keep, Patch::Set);
    let patch = UserPatch {
        email: Patch::Set(e.email),
        username: keep_or_set(e.username),
        first_name: keep_or_set(e.first_name),
        last_name: keep_or_set(e.last_name),
        job_title: or_clear(e.job_title),
        phone: or_clear(e.telephone),
        saml_sso_only: e.is_saml_sso_only.map_or(Patch::Keep, Patch::Set),
        ..Default::default()
    };
    state
        .roster
        .update_user_with(&ctx, u.id, patch, None, None, &RULES)
        .await?;
    no_content()
}

pub(super) async fn delete_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> DcResult {
    let u = user_by_seq(&state, &ctx, seq_path(&raw, "user")?).await?;
    state.roster.delete_user(&ctx, u.id, None).await?;
    no_content()
}

/// The containers a user's current roles apply to (its divisions).
pub(super) async fn current_scope(state: &AppState, ctx: &Ctx, u: &User) -> Result<Vec<Uuid>, DcError> {
    let mut scope: Vec<Uuid> = Vec::new();
    for a in state.roster.assignments_of(ctx, Holder::User(u.id)).await? {
        for c in a.container_ids {
            if !scope.contains(&c) {
                scope.push(c);
            }
        }
    }
    if scope.is_empty() {
        scope.push(u.container_id);
    }
    Ok(scope)
}

#[derive(Deserialize)]
pub(super) struct RoleChange {
    pub(super) access_roles: Vec<RoleId>,
}

pub(super) async fn change_role(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> DcResult {
    let u = user_by_seq(&state, &ctx, seq_path(&raw, "user")?).await?;
    let change: RoleChange = known_body(&bytes, &["access_roles"])?;
    let scope = current_scope(&state, &ctx, &u).await?;
    state
        .roster
        .set_user_roles(&ctx, u.id, role_grants(&change.access_roles, &scope)?)
        .await?;
    no_content()
}

pub(super) async fn container_assignments(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> DcResult {
    let u = user_by_seq(&state, &ctx, seq_path(&raw, "user")?).await?;
    let m: Map<String, Value> = body(&bytes)?;
    let seqs = ints(
        m.get("container_id_assignments"),
        "container_id_assignments",
    )?
    .ok_or_else(|| {
        DcError::bad(
            "container_id_assignments",
            "container_id_assignments is required",
        )
    })?;
    let mut scope = container_ids(&state, &ctx, &seqs).await?;
    if scope.is_empty() {
        // An empty list removes the restriction: the user's own container again.
        scope.push(u.container_id);
    }
    let grants: Vec<RoleGrant> = state
        .roster
        .assignments_of(&ctx, Holder::User(u.id))
        .await?
        .into_iter()
        .map(|a| RoleGrant {
            role: RoleRef::Id(a.role_id),
            all_objects: a.all_objects,
            containers: if a.all_objects {
                Vec::new()
            } else {
                scope.clone()
            },
        })
        .collect();
    state.roster.set_user_roles(&ctx, u.id, grants).await?;
    no_content()
}
