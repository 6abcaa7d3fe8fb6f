//! DigiCert API keys, API roles and the account.

use super::*;

pub(super) async fn list_keys(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> DcResult {
    let user = match params.iter().find(|(k, _)| k == "user_id") {
        Some((_, v)) => Some(
            user_by_seq(
                &state,
                &ctx,
                v.parse()
                    .map_err(|_| DcError::bad("user_id", "user_id must be an integer"))?,
            )
            .await?,
        ),
        None => None,
    };
    let keys = state
        .roster
        .list_keys(&ctx, user.as_ref().map(|u| u.id), false)
        .await?;
    let mut out = Vec::new();
    for k in keys {
        let owner = match &user {
            Some(u) => u.clone(),
            None => state.roster.get_user(&ctx, k.user_id).await?,
        };
        let api_role = match k.role_id {
            None => 0,
            Some(r) => {
                let seq = state
                    .roster
                    .get_role(&ctx, RoleRef::Id(r))
                    .await
                    .map(|r| r.seq)
                    .unwrap_or(0);
                API_ROLES
                    .iter()
                    .find(|(_, _, s)| *s == Some(seq))
                    .map_or(0, |(id, _, _)| *id)
            }
        };
        out.push(json!({
            "id": k.id.to_string(),
            "user": { "id": owner.seq, "first_name": owner.profile.first_name, "last_name": owner.profile.last_name },
            "status": if k.revoked_at.is_some() { "revoked" } else { "active" },
            "create_date": time_text(Some(k.created_at)),
            "last_used_date": time_text(k.last_used_at),
            "name": k.name,
            "is_legacy": false,
            "restricted_to_role_id": api_role,
        }));
    }
    ok(json!({ "api_keys": out }))
}

pub(super) async fn api_roles(Caller(_): Caller) -> DcResult {
    let roles: Vec<Value> = API_ROLES
        .iter()
        .filter(|(id, _, _)| *id != 0)
        .map(|(id, name, _)| json!({ "id": id, "name": name }))
        .collect();
    ok(json!({ "access_roles": roles }))
}

/// Enough of the account for clients that call it to check their key.
pub(super) async fn account(State(state): State<Arc<AppState>>, Caller(ctx): Caller) -> DcResult {
    let me = state.roster.get_user(&ctx, ctx.who.user_id).await?;
    let index = container_index(&state, &ctx).await;
    ok(json!({
        "id": 1,
        "primary_organization_id": null,
        "container": index.get(&me.container_id).map(|c| container_json(c, &index)),
        "admin_email": me.profile.email,
    }))
}
