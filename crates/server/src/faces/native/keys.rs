//! `/api/v1/api-keys`.

use std::sync::Arc;

use crate::extract::Path;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use roster_core::access::ApiKeyInfo;
use roster_core::service::NewKey;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::access::Items;
use super::users::{bad_param, parse_uuid};
use crate::extract::{Caller, JsonBody};
use super::problem::{ApiResult, Problem};
use crate::state::AppState;

const PROBLEM: &str = "application/problem+json";

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyOut {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    /// The first characters of the secret, to tell keys apart.
    pub prefix: String,
    /// The key may use only this role's privileges (of its owner's).
    pub role_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
    /// To the minute.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<OffsetDateTime>,
}

impl From<ApiKeyInfo> for ApiKeyOut {
    fn from(k: ApiKeyInfo) -> Self {
        Self {
            id: k.id,
            user_id: k.user_id,
            name: k.name,
            prefix: k.prefix,
            role_id: k.role_id,
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            last_used_at: k.last_used_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0191d5a2-9a41-7c20-8b3d-1e2f3a4b5c6d", "user_id": "0191d5a2-7c3e-7b1a-9f2e-3c4d5e6f7a8b",
    "name": "ci", "prefix": "rst_Ab3d", "role_id": null, "created_at": "2025-01-15T09:31:00Z",
    "expires_at": null, "revoked_at": null, "last_used_at": null,
    "secret": "rst_Ab3dEf5gHi7jKl9mNo1pQr3sTu5vWx7yZa9bCd1eFg3"
}))]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: ApiKeyOut,
    /// The key itself. Shown this once; store it now.
    pub secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "ci", "user_id": "0191d5a2-7c3e-7b1a-9f2e-3c4d5e6f7a8b"}))]
pub struct ApiKeyIn {
    pub name: String,
    /// Whose key (needs `keys.manage`); your own when absent.
    pub user_id: Option<Uuid>,
    /// Restrict the key to this role's privileges.
    pub role_id: Option<Uuid>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

#[utoipa::path(post, path = "/api-keys", tag = "api-keys", request_body = ApiKeyIn,
    responses((status = 201, body = CreatedKey), (status = 400, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn create_key(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    JsonBody(body): JsonBody<ApiKeyIn>,
) -> ApiResult<(StatusCode, axum::Json<CreatedKey>)> {
    let input = NewKey {
        name: body.name,
        user_id: body.user_id,
        role_id: body.role_id,
        expires_at: body.expires_at,
    };
    let (info, secret) = state.roster.create_key(&ctx, input).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedKey {
            key: info.into(),
            secret: secret.expose().to_string(),
        }),
    ))
}

#[utoipa::path(get, path = "/api-keys", tag = "api-keys",
    params(("user_id" = Option<Uuid>, Query, description = "Another user's keys (keys.manage)"),
        ("all" = Option<bool>, Query, description = "Everyone's keys (keys.manage over all objects)")),
    responses((status = 200, body = Items<ApiKeyOut>), (status = 403, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn list_keys(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<axum::Json<Items<ApiKeyOut>>> {
    let mut user = None;
    let mut all = false;
    for (k, v) in params {
        match k.as_str() {
            "user_id" => {
                user = Some(
                    Uuid::parse_str(&v)
                        .map_err(|_| bad_param("user_id", "uuid", "must be a UUID"))?,
                )
            }
            "all" => {
                all = v
                    .parse()
                    .map_err(|_| bad_param("all", "type", "must be true or false"))?
            }
            _ => {}
        }
    }
    let keys = state.roster.list_keys(&ctx, user, all).await?;
    Ok(axum::Json(Items {
        items: keys.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(get, path = "/api-keys/{id}", tag = "api-keys", params(("id" = Uuid, Path)),
    responses((status = 200, body = ApiKeyOut), (status = 403, body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn get_key(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ApiKeyOut>> {
    Ok(axum::Json(
        state
            .roster
            .get_key(&ctx, parse_uuid(&id, "key")?)
            .await?
            .into(),
    ))
}

#[utoipa::path(delete, path = "/api-keys/{id}", tag = "api-keys", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Revoked"), (status = 403, body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn revoke_key(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .roster
        .revoke_key(&ctx, parse_uuid(&id, "key")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
