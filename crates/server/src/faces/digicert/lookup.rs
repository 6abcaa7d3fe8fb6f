//! Finding users, containers and roles by the integer ids DigiCert uses.

use super::*;

pub(super) async fn user_by_seq(state: &AppState, ctx: &Ctx, seq: i64) -> Result<User, DcError> {
    match state.roster.find_user(ctx, UserKey::Seq(seq)).await {
        Err(CoreError::NotFound(_)) => Err(DcError::not_found("user")),
        other => Ok(other?),
    }
}

pub(super) async fn container_ids(state: &AppState, ctx: &Ctx, seqs: &[i64]) -> Result<Vec<Uuid>, DcError> {
    let mut out = Vec::new();
    for s in seqs {
        match state.roster.container_by_seq(ctx, *s).await {
            Ok(c) => out.push(c.id),
            Err(CoreError::NotFound(_)) => {
                return Err(DcError::bad(
                    "container_id",
                    format!("container {s} does not exist"),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// The containers the caller can see, by id, for rendering.
pub(super) async fn container_index(state: &AppState, ctx: &Ctx) -> HashMap<Uuid, Container> {
    state
        .roster
        .list_containers(ctx)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.id, c))
        .collect()
}

pub(super) fn container_json(c: &Container, index: &HashMap<Uuid, Container>) -> Value {
    json!({
        "id": c.seq,
        "public_id": c.id.to_string(),
        "name": c.name,
        "parent_id": c.parent_id.and_then(|p| index.get(&p)).map_or(0, |p| p.seq),
        "template_id": null,
        "ekey": null,
        "has_logo": false,
        "is_active": true,
    })
}

pub(super) async fn user_json(
    state: &AppState,
    ctx: &Ctx,
    u: &User,
    index: &HashMap<Uuid, Container>,
) -> Result<Value, DcError> {
    let assignments = state.roster.assignments_of(ctx, Holder::User(u.id)).await?;
    let mut roles = Vec::new();
    let mut assigned: Vec<Uuid> = Vec::new();
    for a in &assignments {
        if let Ok(role) = state.roster.get_role(ctx, RoleRef::Id(a.role_id)).await {
            roles.push(json!({ "id": role.seq, "name": role.name }));
        }
        for c in &a.container_ids {
            if !assigned.contains(c) {
                assigned.push(*c);
            }
        }
    }
    let home = index.get(&u.container_id).map(|c| container_json(c, index));
    let divisions: Vec<Value> = assigned
        .iter()
        .filter_map(|c| index.get(c))
        .map(|c| container_json(c, index))
        .collect();
    let api_only = u.profile.attributes.get("digicert_api_only") == Some(&Value::Bool(true));
    Ok(json!({
        "id": u.seq,
        "username": u.profile.username,
        "account_id": 1,
        "first_name": u.profile.first_name.clone().unwrap_or_default(),
        "last_name": u.profile.last_name.clone().unwrap_or_default(),
        "email": u.profile.email.clone().unwrap_or_default(),
        "job_title": u.profile.job_title.clone().unwrap_or_default(),
        "telephone": u.profile.phone.clone().unwrap_or_default(),
        "status": if u.profile.active { "active" } else { "inactive" },
        "last_login_date": time_text(u.last_login_at),
        "container": home,
        "access_roles": roles,
        "is_cert_central": true,
        "is_enterprise": false,
        "is_saml_sso_only": u.profile.saml_sso_only,
        "type": if api_only { "api_only" } else { "standard" },
        "has_container_assignments": !divisions.is_empty(),
        "container_assignments": divisions,
        "container_visibility": assigned.iter().filter_map(|c| index.get(c)).map(|c| c.seq).collect::<Vec<_>>(),
    }))
}
