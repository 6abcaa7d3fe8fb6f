//! Scopes: roster containers.

use super::*;

pub(super) fn scope_json(c: &roster_core::access::Container) -> Value {
    let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
    json!({
        "id": c.id.to_string(),
        "name": c.name,
        "description": c.description,
        "traversalSpecInstances": [],
        "creationTime": ms(c.created_at),
        "lastModifiedTime": ms(c.updated_at),
    })
}

pub(super) fn scope_id(raw: &str) -> Result<Uuid, AriaError> {
    Uuid::parse_str(raw).map_err(|_| AriaError::from(CoreError::NotFound("scope")))
}

pub(super) async fn list_scopes(State(state): State<Arc<AppState>>, Caller(ctx): Caller) -> AriaResult {
    let list = state.roster.list_containers(&ctx).await?;
    Ok(
        axum::Json(json!({ "scopesDetails": list.iter().map(scope_json).collect::<Vec<_>>() }))
            .into_response(),
    )
}

pub(super) async fn get_scope(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(raw): Path<String>,
) -> AriaResult {
    let c = state.roster.get_container(&ctx, scope_id(&raw)?).await?;
    Ok(axum::Json(scope_json(&c)).into_response())
}

pub(super) async fn create_scope(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    bytes: Bytes,
) -> AriaResult {
    let m: Map<String, Value> = body(&bytes)?;
    let c = state
        .roster
        .create_container(
            &ctx,
            roster_core::service::ContainerInput {
                name: opt_text(&m, "name").unwrap_or_default(),
                description: opt_text(&m, "description").unwrap_or_default(),
                parent_id: None,
                seq: None,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(scope_json(&c))).into_response())
}

pub(super) async fn modify_scope(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    bytes: Bytes,
) -> AriaResult {
    let m: Map<String, Value> = body(&bytes)?;
    let id = scope_id(m.get("id").and_then(Value::as_str).unwrap_or_default())?;
    let c = state
        .roster
        .update_container(
            &ctx,
            id,
            roster_core::service::ContainerChange {
                name: opt_text(&m, "name"),
                // Absent: kept, as `name` is.
                description: opt_text(&m, "description"),
                parent_id: None,
            },
            None,
        )
        .await?;
    Ok(axum::Json(scope_json(&c)).into_response())
}

pub(super) async fn delete_scopes(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    bytes: Bytes,
) -> AriaResult {
    let m: Map<String, Value> = body(&bytes)?;
    let ids = uuids(m.get("uuids"), "uuids")?;
    if ids.is_empty() {
        return Err(AriaError::new(StatusCode::BAD_REQUEST, "uuids is required"));
    }
    state.roster.delete_containers(&ctx, &ids).await?;
    Ok(StatusCode::OK.into_response())
}
