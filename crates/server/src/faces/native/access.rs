//! `/api/v1` containers, roles, privileges, groups and role assignments.

use std::sync::Arc;

use crate::extract::Path;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use roster_core::access::{Assignment, Container, Group, Holder, Role, RoleRef};
use roster_core::authz::Privilege;
use roster_core::service::{
    ContainerChange, ContainerInput, EffectiveGrant, GroupChange, GroupInput, RoleInput};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::{MemberList, UserOut};
use super::users::{bad_param, decode_cursor, encode_cursor, parse_uuid};
use crate::extract::{Caller, JsonBody, if_match};
use super::problem::{ApiResult, Problem};
use crate::state::AppState;

use axum::Json;
use axum::response::{IntoResponse, Response};

#[derive(Debug, Serialize, ToSchema)]
pub struct ContainerOut {
    pub id: Uuid,
    pub seq: i64,
    pub name: String,
    /// Free text; "" when none.
    pub description: String,
    /// Null for the root.
    pub parent_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

impl From<Container> for ContainerOut {
    fn from(c: Container) -> Self {
        Self {
            id: c.id,
            seq: c.seq,
            name: c.name,
            description: c.description,
            parent_id: c.parent_id,
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: c.version,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerIn {
    pub name: String,
    /// At most 4096 characters; "" when absent.
    #[serde(default)]
    pub description: String,
    /// The root when absent.
    pub parent_id: Option<Uuid>,
    /// A preserved integer id (administrators only).
    pub seq: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerPatch {
    pub name: Option<String>,
    /// At most 4096 characters; absent leaves it as it is.
    pub description: Option<String>,
    /// Moves the container (and everything below it).
    pub parent_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

const PROBLEM: &str = "application/problem+json";

/// A body with its version as the `ETag`, which `If-Match` takes back.
pub struct Tagged<T>(i64, T);

impl<T> Tagged<T> {
    pub fn new(version: i64, body: T) -> Self {
        Tagged(version, body)
    }
}

/// Containers, roles and groups answer with their version as the `ETag`.
trait Versioned {
    fn version(&self) -> i64;
}

impl Versioned for Container {
    fn version(&self) -> i64 {
        self.version
    }
}

impl Versioned for Role {
    fn version(&self) -> i64 {
        self.version
    }
}

impl Versioned for Group {
    fn version(&self) -> i64 {
        self.version
    }
}

fn tagged<M: Versioned, T: From<M>>(m: M) -> Tagged<T> {
    Tagged(m.version(), T::from(m))
}

impl<T: serde::Serialize> IntoResponse for Tagged<T> {
    fn into_response(self) -> Response {
        let mut resp = Json(self.1).into_response();
        if let Ok(v) = axum::http::HeaderValue::from_str(&crate::extract::etag(self.0)) {
            resp.headers_mut().insert(axum::http::header::ETAG, v);
        }
        resp
    }
}

#[utoipa::path(post, path = "/containers", tag = "containers",
    request_body = ContainerIn,
    responses((status = 201, body = ContainerOut, headers(("ETag" = String))), (status = 400, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM), (status = 409, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn create_container(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    JsonBody(body): JsonBody<ContainerIn>,
) -> ApiResult<(StatusCode, Tagged<ContainerOut>)> {
    let c = state
        .roster
        .create_container(
            &ctx,
            ContainerInput {
                name: body.name,
                description: body.description,
                parent_id: body.parent_id,
                seq: body.seq,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, tagged(c)))
}

#[utoipa::path(get, path = "/containers", tag = "containers",
    responses((status = 200, body = Items<ContainerOut>), (status = 403, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn list_containers(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
) -> ApiResult<Json<Items<ContainerOut>>> {
    let items = state.roster.list_containers(&ctx).await?;
    Ok(Json(Items {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(get, path = "/containers/{id}", tag = "containers",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ContainerOut, headers(("ETag" = String))), (status = 403, body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn get_container(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<Tagged<ContainerOut>> {
    Ok(tagged(
        state
            .roster
            .get_container(&ctx, parse_uuid(&id, "container")?)
            .await?,
    ))
}

#[utoipa::path(patch, path = "/containers/{id}", tag = "containers",
    params(("id" = Uuid, Path)), request_body = ContainerPatch,
    responses((status = 200, body = ContainerOut, headers(("ETag" = String))), (status = 400, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM),
        (status = 409, body = Problem, content_type = PROBLEM), (status = 412, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn patch_container(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ContainerPatch>,
) -> ApiResult<Tagged<ContainerOut>> {
    let id = parse_uuid(&id, "container")?;
    let c = state
        .roster
        .update_container(
            &ctx,
            id,
            ContainerChange {
                name: body.name,
                description: body.description,
                parent_id: body.parent_id,
            },
            if_match(&headers)?,
        )
        .await?;
    Ok(tagged(c))
}

#[utoipa::path(delete, path = "/containers/{id}", tag = "containers",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM), (status = 409, description = "Not empty", body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn delete_container(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .roster
        .delete_container(&ctx, parse_uuid(&id, "container")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- roles and privileges

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleOut {
    pub id: Uuid,
    pub seq: i64,
    pub name: String,
    pub description: String,
    pub privileges: Vec<String>,
    /// Built in: cannot be changed or deleted.
    pub system: bool,
    pub version: i64,
}

impl From<Role> for RoleOut {
    fn from(r: Role) -> Self {
        Self {
            id: r.id,
            seq: r.seq,
            name: r.name,
            description: r.description,
            privileges: r
                .privileges
                .iter()
                .map(|p| p.as_str().to_string())
                .collect(),
            system: r.system,
            version: r.version,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleIn {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Names from `GET /privileges`.
    #[serde(default)]
    pub privileges: Vec<String>,
    /// A preserved integer id.
    pub seq: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub privileges: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PrivilegeOut {
    pub name: &'static str,
    pub description: &'static str,
}

#[utoipa::path(get, path = "/privileges", tag = "roles",
    responses((status = 200, body = Items<PrivilegeOut>)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn list_privileges(Caller(_): Caller) -> Json<Items<PrivilegeOut>> {
    Json(Items {
        items: Privilege::ALL
            .iter()
            .map(|p| PrivilegeOut {
                name: p.as_str(),
                description: p.description(),
            })
            .collect(),
    })
}

#[utoipa::path(get, path = "/roles", tag = "roles",
    responses((status = 200, body = Items<RoleOut>), (status = 403, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn list_roles(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
) -> ApiResult<Json<Items<RoleOut>>> {
    let items = state.roster.list_roles(&ctx).await?;
    Ok(Json(Items {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(post, path = "/roles", tag = "roles", request_body = RoleIn,
    responses((status = 201, body = RoleOut, headers(("ETag" = String))), (status = 400, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM), (status = 409, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn create_role(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    JsonBody(body): JsonBody<RoleIn>,
) -> ApiResult<(StatusCode, Tagged<RoleOut>)> {
    let input = RoleInput {
        name: body.name,
        description: body.description,
        privileges: body.privileges,
        seq: body.seq,
    };
    Ok((
        StatusCode::CREATED,
        tagged(state.roster.create_role(&ctx, input).await?),
    ))
}

/// A role is named by its id, or by its integer `seq`.
fn role_ref(id: &str) -> ApiResult<RoleRef> {
    if let Ok(seq) = id.parse::<i64>() {
        return Ok(RoleRef::Seq(seq));
    }
    Ok(RoleRef::Id(parse_uuid(id, "role")?))
}

#[utoipa::path(get, path = "/roles/{id}", tag = "roles",
    params(("id" = String, Path, description = "Role id or integer seq")),
    responses((status = 200, body = RoleOut, headers(("ETag" = String))), (status = 403, body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn get_role(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<Tagged<RoleOut>> {
    Ok(tagged(state.roster.get_role(&ctx, role_ref(&id)?).await?))
}

#[utoipa::path(patch, path = "/roles/{id}", tag = "roles",
    params(("id" = Uuid, Path)), request_body = RolePatch,
    responses((status = 200, body = RoleOut, headers(("ETag" = String))), (status = 400, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM),
        (status = 409, description = "Built-in or name taken", body = Problem, content_type = PROBLEM),
        (status = 412, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn patch_role(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<RolePatch>,
) -> ApiResult<Tagged<RoleOut>> {
    let current = state.roster.get_role(&ctx, role_ref(&id)?).await?;
    let input = RoleInput {
        name: body.name.unwrap_or(current.name),
        description: body.description.unwrap_or(current.description),
        privileges: body.privileges.unwrap_or_else(|| {
            current
                .privileges
                .iter()
                .map(|p| p.as_str().to_string())
                .collect()
        }),
        seq: None,
    };
    Ok(tagged(
        state
            .roster
            .update_role(&ctx, current.id, input, if_match(&headers)?)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/roles/{id}", tag = "roles",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM), (status = 409, description = "Built-in", body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn delete_role(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let role = state.roster.get_role(&ctx, role_ref(&id)?).await?;
    state.roster.delete_role(&ctx, role.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- groups

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupOut {
    pub id: Uuid,
    pub seq: i64,
    pub name: String,
    pub description: String,
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub version: i64,
}

impl From<Group> for GroupOut {
    fn from(g: Group) -> Self {
        Self {
            id: g.id,
            seq: g.seq,
            name: g.name,
            description: g.description,
            attributes: g.attributes,
            version: g.version,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupIn {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A preserved integer id.
    pub seq: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Merged key by key; null removes a key.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberIn {
    pub user_id: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupList {
    pub items: Vec<GroupOut>,
    pub next_cursor: Option<String>,
}

fn page_params(params: &[(String, String)]) -> ApiResult<(i64, u32)> {
    let mut after = 0;
    let mut limit = 50u32;
    for (k, v) in params {
        match k.as_str() {
            "cursor" => after = decode_cursor(v)?,
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| {
                        bad_param("limit", "range", "must be an integer between 1 and 1000")
                    })?
            }
            _ => {}
        }
    }
    Ok((after, limit))
}

#[utoipa::path(get, path = "/groups", tag = "groups",
    params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = GroupList), (status = 403, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn list_groups(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<Json<GroupList>> {
    let (after, limit) = page_params(&params)?;
    let page = state.roster.list_groups(&ctx, after, limit).await?;
    Ok(Json(GroupList {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next.map(encode_cursor),
    }))
}

#[utoipa::path(post, path = "/groups", tag = "groups", request_body = GroupIn,
    responses((status = 201, body = GroupOut, headers(("ETag" = String))), (status = 400, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM), (status = 409, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn create_group(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    JsonBody(body): JsonBody<GroupIn>,
) -> ApiResult<(StatusCode, Tagged<GroupOut>)> {
    let g = state
        .roster
        .create_group(
            &ctx,
            GroupInput {
                name: body.name,
                description: body.description,
                seq: body.seq,
                attributes: body.attributes,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, tagged(g)))
}

#[utoipa::path(get, path = "/groups/{id}", tag = "groups", params(("id" = Uuid, Path)),
    responses((status = 200, body = GroupOut, headers(("ETag" = String))), (status = 403, body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn get_group(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<Tagged<GroupOut>> {
    Ok(tagged(
        state
            .roster
            .get_group(&ctx, parse_uuid(&id, "group")?)
            .await?,
    ))
}

#[utoipa::path(patch, path = "/groups/{id}", tag = "groups", params(("id" = Uuid, Path)), request_body = GroupPatch,
    responses((status = 200, body = GroupOut, headers(("ETag" = String))), (status = 400, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM),
        (status = 409, body = Problem, content_type = PROBLEM), (status = 412, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn patch_group(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<GroupPatch>,
) -> ApiResult<Tagged<GroupOut>> {
    let id = parse_uuid(&id, "group")?;
    let g = state
        .roster
        .update_group(
            &ctx,
            id,
            GroupChange {
                name: body.name,
                description: body.description,
                attributes: body.attributes,
            },
            if_match(&headers)?,
        )
        .await?;
    Ok(tagged(g))
}

#[utoipa::path(delete, path = "/groups/{id}", tag = "groups",
    params(("id" = Uuid, Path),
        ("If-Match" = Option<String>, Header, description = "Delete only if the group is still at this ETag")),
    responses((status = 204), (status = 403, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn delete_group(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    state
        .roster
        .delete_group(&ctx, parse_uuid(&id, "group")?, if_match(&headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/groups/{id}/members", tag = "groups",
    params(("id" = Uuid, Path), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = MemberList), (status = 403, body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn list_members(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<Json<MemberList>> {
    let (after, limit) = page_params(&params)?;
    let page = state
        .roster
        .members(&ctx, parse_uuid(&id, "group")?, after, limit)
        .await?;
    Ok(Json(MemberList {
        items: page.items.into_iter().map(UserOut::from).collect(),
        hidden: page.hidden,
        next_cursor: page.next.map(encode_cursor),
    }))
}

#[utoipa::path(post, path = "/groups/{id}/members", tag = "groups", params(("id" = Uuid, Path)), request_body = MemberIn,
    responses((status = 204, description = "The user is a member"), (status = 400, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn add_member(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MemberIn>,
) -> ApiResult<StatusCode> {
    state
        .roster
        .add_member(&ctx, parse_uuid(&id, "group")?, body.user_id, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/groups/{id}/members/{user_id}", tag = "groups",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn remove_member(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .roster
        .remove_member(
            &ctx,
            parse_uuid(&id, "group")?,
            parse_uuid(&user_id, "membership")?,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/users/{id}/groups", tag = "groups", params(("id" = Uuid, Path)),
    responses((status = 200, body = Items<GroupOut>), (status = 403, body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn groups_of_user(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Items<GroupOut>>> {
    let items = state
        .roster
        .groups_of(&ctx, parse_uuid(&id, "user")?)
        .await?;
    Ok(Json(Items {
        items: items.into_iter().map(|m| m.group.into()).collect(),
    }))
}

// ---- role assignments

#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentOut {
    pub id: Uuid,
    pub role_id: Uuid,
    pub role: String,
    /// The role applies to every object.
    pub all_objects: bool,
    /// Otherwise to these containers and everything below them.
    pub container_ids: Vec<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<Assignment> for AssignmentOut {
    fn from(a: Assignment) -> Self {
        Self {
            id: a.id,
            role_id: a.role_id,
            role: a.role_name,
            all_objects: a.all_objects,
            container_ids: a.container_ids,
            created_at: a.created_at,
        }
    }
}

/// Names a role by `role_id`, `role` (name) or `role_seq`, and where it applies.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentIn {
    pub role_id: Option<Uuid>,
    pub role: Option<String>,
    pub role_seq: Option<i64>,
    #[serde(default)]
    pub all_objects: bool,
    #[serde(default)]
    pub container_ids: Vec<Uuid>,
}

fn assigned_role(body: &AssignmentIn) -> ApiResult<RoleRef> {
    match (&body.role_id, &body.role, body.role_seq) {
        (Some(id), None, None) => Ok(RoleRef::Id(*id)),
        (None, Some(name), None) => Ok(RoleRef::Name(name.clone())),
        (None, None, Some(seq)) => Ok(RoleRef::Seq(seq)),
        _ => Err(bad_param(
            "role_id",
            "one_of",
            "give exactly one of role_id, role or role_seq",
        )),
    }
}

async fn assign(
    state: &AppState,
    ctx: &roster_core::service::Ctx,
    holder: Holder,
    body: AssignmentIn,
) -> ApiResult<(StatusCode, Json<AssignmentOut>)> {
    let role = assigned_role(&body)?;
    let a = state
        .roster
        .assign_role(ctx, holder, role, body.all_objects, body.container_ids)
        .await?;
    Ok((StatusCode::CREATED, Json(a.into())))
}

#[utoipa::path(post, path = "/users/{id}/roles", tag = "roles", params(("id" = Uuid, Path)), request_body = AssignmentIn,
    responses((status = 201, body = AssignmentOut), (status = 400, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn assign_user_role(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AssignmentIn>,
) -> ApiResult<(StatusCode, Json<AssignmentOut>)> {
    assign(&state, &ctx, Holder::User(parse_uuid(&id, "user")?), body).await
}

#[utoipa::path(post, path = "/groups/{id}/roles", tag = "roles", params(("id" = Uuid, Path)), request_body = AssignmentIn,
    responses((status = 201, body = AssignmentOut), (status = 400, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn assign_group_role(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AssignmentIn>,
) -> ApiResult<(StatusCode, Json<AssignmentOut>)> {
    assign(&state, &ctx, Holder::Group(parse_uuid(&id, "group")?), body).await
}

#[utoipa::path(get, path = "/users/{id}/roles", tag = "roles", params(("id" = Uuid, Path)),
    responses((status = 200, body = Items<AssignmentOut>), (status = 403, body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn user_roles(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Items<AssignmentOut>>> {
    let items = state
        .roster
        .assignments_of(&ctx, Holder::User(parse_uuid(&id, "user")?))
        .await?;
    Ok(Json(Items {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(get, path = "/groups/{id}/roles", tag = "roles", params(("id" = Uuid, Path)),
    responses((status = 200, body = Items<AssignmentOut>), (status = 403, body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn group_roles(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Items<AssignmentOut>>> {
    let items = state
        .roster
        .assignments_of(&ctx, Holder::Group(parse_uuid(&id, "group")?))
        .await?;
    Ok(Json(Items {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(delete, path = "/users/{id}/roles/{assignment_id}", tag = "roles",
    params(("id" = Uuid, Path), ("assignment_id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn unassign_user_role(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path((id, assignment)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let holder = Holder::User(parse_uuid(&id, "user")?);
    state
        .roster
        .unassign_role(&ctx, holder, parse_uuid(&assignment, "assignment")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/groups/{id}/roles/{assignment_id}", tag = "roles",
    params(("id" = Uuid, Path), ("assignment_id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn unassign_group_role(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path((id, assignment)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let holder = Holder::Group(parse_uuid(&id, "group")?);
    state
        .roster
        .unassign_role(&ctx, holder, parse_uuid(&assignment, "assignment")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EffectiveOut {
    pub privilege: &'static str,
    pub all_objects: bool,
    pub container_ids: Vec<Uuid>,
    pub role_id: Uuid,
    pub role: String,
    pub assignment_id: Uuid,
    /// `direct`, or `group:NAME` when held through a group.
    pub via: String,
}

impl From<EffectiveGrant> for EffectiveOut {
    fn from(g: EffectiveGrant) -> Self {
        Self {
            privilege: g.privilege,
            all_objects: g.all_objects,
            container_ids: g.container_ids,
            role_id: g.role_id,
            role: g.role,
            assignment_id: g.assignment_id,
            via: g.via,
        }
    }
}

#[utoipa::path(get, path = "/users/{id}/effective-permissions", tag = "roles", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Every privilege the user holds, where, and which assignment grants it", body = Items<EffectiveOut>),
        (status = 403, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn effective_permissions(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Items<EffectiveOut>>> {
    let items = state
        .roster
        .effective_permissions(&ctx, parse_uuid(&id, "user")?)
        .await?;
    Ok(Json(Items {
        items: items.into_iter().map(Into::into).collect(),
    }))
}
