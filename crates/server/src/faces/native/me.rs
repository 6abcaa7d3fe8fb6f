//! The caller's own account, and credential operations on users.

use std::sync::Arc;

use crate::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use roster_core::Secret;
use serde::Deserialize;
use utoipa::ToSchema;

use super::dto::UserOut;
use super::users::{parse_uuid, user_response};
use crate::extract::{Caller, JsonBody};
use super::problem::{ApiResult, Problem};
use crate::state::AppState;

const PROBLEM: &str = "application/problem+json";

#[utoipa::path(get, path = "/me", tag = "me",
    responses((status = 200, body = UserOut), (status = 401, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn me(State(state): State<Arc<AppState>>, Caller(ctx): Caller) -> ApiResult<Response> {
    let user = state.roster.get_user(&ctx, ctx.who.user_id).await?;
    Ok(user_response(StatusCode::OK, user))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[schema(value_type = String, write_only)]
    pub current_password: Secret,
    #[schema(value_type = String, write_only)]
    pub new_password: Secret,
}

#[utoipa::path(post, path = "/me/password", tag = "me", request_body = PasswordChange,
    responses((status = 204, description = "Changed"), (status = 400, body = Problem, content_type = PROBLEM),
        (status = 401, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn change_password(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    JsonBody(body): JsonBody<PasswordChange>,
) -> ApiResult<StatusCode> {
    state
        .roster
        .change_own_password(&ctx, &body.current_password, &body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordSet {
    #[schema(value_type = String, write_only)]
    pub password: Secret,
}

#[utoipa::path(post, path = "/users/{id}/password", tag = "users", params(("id" = uuid::Uuid, Path)), request_body = PasswordSet,
    responses((status = 204, description = "Set"), (status = 400, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn set_password(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PasswordSet>,
) -> ApiResult<StatusCode> {
    state
        .roster
        .set_password(&ctx, parse_uuid(&id, "user")?, &body.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/users/{id}/unlock", tag = "users", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = UserOut), (status = 403, body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn unlock(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let user = state.roster.unlock(&ctx, parse_uuid(&id, "user")?).await?;
    Ok(user_response(StatusCode::OK, user))
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct TotpEnrollment {
    /// Base32 secret; shown this once.
    pub secret: String,
    /// `otpauth://` URI for authenticator apps; shown this once.
    pub otpauth_uri: String,
}

#[utoipa::path(post, path = "/me/mfa/totp", tag = "me",
    responses((status = 201, description = "Enrollment started: load the secret into an app, then confirm", body = TotpEnrollment),
        (status = 401, body = Problem, content_type = PROBLEM), (status = 409, description = "Already enrolled", body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn begin_totp(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
) -> ApiResult<(StatusCode, axum::Json<TotpEnrollment>)> {
    let e = state.roster.begin_totp(&ctx).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(TotpEnrollment {
            secret: e.secret.expose().to_string(),
            otpauth_uri: e.otpauth_uri.expose().to_string(),
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    /// The current 6-digit code.
    pub code: String,
}

#[utoipa::path(post, path = "/me/mfa/totp/confirm", tag = "me", request_body = TotpCode,
    responses((status = 204, description = "Enrolled"), (status = 400, body = Problem, content_type = PROBLEM),
        (status = 401, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn confirm_totp(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    JsonBody(body): JsonBody<TotpCode>,
) -> ApiResult<StatusCode> {
    state.roster.confirm_totp(&ctx, &body.code).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/me/mfa/totp/remove", tag = "me", request_body = TotpCode,
    responses((status = 204, description = "Removed"), (status = 400, body = Problem, content_type = PROBLEM),
        (status = 401, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn remove_totp(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    JsonBody(body): JsonBody<TotpCode>,
) -> ApiResult<StatusCode> {
    state.roster.remove_own_totp(&ctx, &body.code).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/users/{id}/mfa", tag = "users", params(("id" = uuid::Uuid, Path)),
    responses((status = 204, description = "The user's TOTP factor is removed"), (status = 403, body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn reset_mfa(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .roster
        .reset_totp(&ctx, parse_uuid(&id, "user")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
