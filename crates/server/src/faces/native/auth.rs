//! `/api/v1/auth`: exchanging a password for a token.

use std::sync::Arc;

use axum::extract::State;

use super::dto::{TokenRequest, TokenResponse};
use roster_core::service::LoginInput;

use crate::extract::{JsonBody, RequestOrigin};
use super::problem::{ApiResult, Problem};
use crate::state::AppState;

#[utoipa::path(
    post, path = "/auth/token", tag = "auth",
    request_body(content = TokenRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "A bearer token", body = TokenResponse),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong username, password or TOTP code, account disabled or locked, or TOTP code required (type urn:roster:problem:mfa-required)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Password checking saturated", body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn issue_token(
    State(state): State<Arc<AppState>>,
    RequestOrigin(origin): RequestOrigin,
    JsonBody(body): JsonBody<TokenRequest>,
) -> ApiResult<axum::Json<TokenResponse>> {
    let input = LoginInput {
        username: body.username,
        password: body.password,
        totp: body.totp,
        ttl_secs: None,
        sliding: false,
    };
    let issued = state.roster.issue_token(input, &origin).await?;
    Ok(axum::Json(TokenResponse {
        access_token: issued.token.expose().to_string(),
        token_type: "Bearer",
        expires_in: issued.expires_in_secs,
        mfa_enrollment_required: issued.enroll_only,
    }))
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// The token to revoke.
    #[schema(value_type = String, write_only)]
    pub token: roster_core::Secret,
}

#[utoipa::path(
    post, path = "/auth/token/revoke", tag = "auth",
    request_body(content = RevokeRequest, content_type = "application/json"),
    responses(
        (status = 204, description = "Revoked: every node refuses the token from now on"),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not a valid token", body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn revoke_token(
    State(state): State<Arc<AppState>>,
    RequestOrigin(origin): RequestOrigin,
    JsonBody(body): JsonBody<RevokeRequest>,
) -> ApiResult<axum::http::StatusCode> {
    state
        .roster
        .revoke_token(body.token.expose(), &origin)
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
