//! DigiCert containers: roster containers, and the roles assignable in them.

use super::*;

pub(super) async fn list_containers(State(state): State<Arc<AppState>>, Caller(ctx): Caller) -> DcResult {
    let index = container_index(&state, &ctx).await;
    let mut all: Vec<&Container> = index.values().collect();
    all.sort_by_key(|c| c.seq);
    ok(json!({ "containers": all.iter().map(|c| container_json(c, &index)).collect::<Vec<_>>() }))
}

pub(super) async fn container_by_path(state: &AppState, ctx: &Ctx, raw: &str) -> Result<Container, DcError> {
    Ok(state
        .roster
        .container_by_seq(ctx, seq_path(raw, "container")?)
        .await?)
}

pub(super) async fn get_container(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> DcResult {
    let c = container_by_path(&state, &ctx, &raw).await?;
    let index = container_index(&state, &ctx).await;
    ok(container_json(&c, &index))
}

pub(super) async fn container_roles(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> DcResult {
    container_by_path(&state, &ctx, &raw).await?;
    let mut roles = Vec::new();
    for seq in ACCESS_ROLES {
        let r = state.roster.get_role(&ctx, RoleRef::Seq(seq)).await?;
        roles.push(json!({ "id": r.seq, "name": r.name }));
    }
    ok(json!({ "access_roles": roles }))
}

pub(super) async fn container_user_assignments(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> DcResult {
    let c = container_by_path(&state, &ctx, &raw).await?;
    let m: Map<String, Value> = body(&bytes)?;
    let seqs = ints(m.get("user_id_assignments"), "user_id_assignments")?
        .ok_or_else(|| DcError::bad("user_id_assignments", "user_id_assignments is required"))?;
    let mut users = Vec::new();
    for s in seqs {
        users.push(user_by_seq(&state, &ctx, s).await?.id);
    }
    state.roster.set_container_users(&ctx, c.id, users).await?;
    no_content()
}
