//! `/api/v1/auth`: exchanging a password for a token.

use std::sync::Arc;

use axum::extract::State;

use super::dto::{TokenRequest, TokenResponse};
use crate::extract::JsonBody;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

#[utoipa::path(
    post, path = "/auth/token", tag = "auth",
    request_body(content = TokenRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "A bearer token", body = TokenResponse),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong username or password, or account disabled", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Password checking saturated", body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn issue_token(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<TokenRequest>,
) -> ApiResult<axum::Json<TokenResponse>> {
    let issued = state
        .roster
        .issue_token(&body.username, &body.password)
        .await?;
    Ok(axum::Json(TokenResponse {
        access_token: issued.token.expose().to_string(),
        token_type: "Bearer",
        expires_in: issued.expires_in_secs,
    }))
}
