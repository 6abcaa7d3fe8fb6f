//! The account lifecycle by email: password reset requests, invitations
//! and verification mails. The links themselves are completed on the
//! pages `/invite`, `/reset` and `/verify-email` (the console face).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use roster_core::FieldError;
use roster_core::service::ResetFor;
use serde::Deserialize;
use utoipa::ToSchema;

use super::problem::{ApiError, ApiResult, Problem};
use super::users::parse_uuid;
use crate::extract::{Caller, JsonBody, Path, RequestOrigin};
use crate::state::AppState;

const PROBLEM: &str = "application/problem+json";

/// Body of `POST /api/v1/auth/password-reset`: exactly one of the two.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "username": "ada" }))]
pub struct PasswordResetRequest {
    pub username: Option<String>,
    pub email: Option<String>,
}

#[utoipa::path(
    post, path = "/auth/password-reset", tag = "auth",
    request_body(content = PasswordResetRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted. The same answer whether or not the account exists: when it exists, is active, has an email address and may sign in with a password, a single-use link is mailed to it (at most one per account per minute)"),
        (status = 400, description = "Neither or both of username and email", body = Problem, content_type = PROBLEM),
        (status = 429, description = "Too many requests from this source", body = Problem, content_type = PROBLEM),
        (status = 503, description = "Mail is not configured", body = Problem, content_type = PROBLEM),
    ),
    security(())
)]
pub async fn request_password_reset(
    State(state): State<Arc<AppState>>,
    RequestOrigin(origin): RequestOrigin,
    JsonBody(body): JsonBody<PasswordResetRequest>,
) -> ApiResult<StatusCode> {
    let who = match (body.username, body.email) {
        (Some(u), None) => ResetFor::Username(u),
        (None, Some(e)) => ResetFor::Email(e),
        _ => {
            return Err(ApiError::BadRequest(vec![FieldError::new(
                "username",
                "one_of",
                "send exactly one of username and email",
            )]));
        }
    };
    state.roster.request_password_reset(who, &origin).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(
    post, path = "/users/{id}/invitation", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses(
        (status = 202, description = "A new invitation link is stored and being mailed; an earlier one is dead"),
        (status = 400, description = "The user has no email address, or signs in with SSO only", body = Problem, content_type = PROBLEM),
        (status = 401, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM),
        (status = 503, description = "Mail is not configured", body = Problem, content_type = PROBLEM),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn send_invitation(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .roster
        .send_invitation(&ctx, parse_uuid(&id, "user")?)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(
    delete, path = "/users/{id}/invitation", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses(
        (status = 204, description = "Revoked: the mailed link no longer works"),
        (status = 401, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such user, or no pending invitation", body = Problem, content_type = PROBLEM),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn revoke_invitation(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .roster
        .revoke_invitation(&ctx, parse_uuid(&id, "user")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/users/{id}/email-verification", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses(
        (status = 202, description = "A verification link for the user's address is being mailed"),
        (status = 400, description = "The user has no email address", body = Problem, content_type = PROBLEM),
        (status = 401, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM),
        (status = 503, description = "Mail is not configured", body = Problem, content_type = PROBLEM),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn send_verification(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .roster
        .send_verification(&ctx, parse_uuid(&id, "user")?)
        .await?;
    Ok(StatusCode::ACCEPTED)
}
