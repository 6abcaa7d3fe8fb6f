//! D3 SOAR Command API: `POST /api/Command/{Name}` (also `/Command/{Name}`,
//! names case-insensitive) with the `{"Username", "Site", "CommandParams"}`
//! envelope, `d3key` / `d3jwt` headers, transport errors as
//! `{"Error": "..."}` and command failures as 200 with a non-empty `error`.

use std::sync::Arc;

use crate::extract::FaceBytes as Bytes;
use crate::extract::Path;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use roster_core::access::{GroupRef, Holder, RoleRef};
use roster_core::service::{AccessChange, Ctx, UserChange, UserKey};
use roster_core::user::{
    CreateUser, Patch, RoleGrant, User, UserDraft, UserPatch, UserQuery, UserRules,
};
use roster_core::{CoreError, Secret};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::extract::{RequestOrigin, parse_json};
use crate::face::{self, Face, Rejection};
use crate::state::AppState;

const BAD_BODY: &str = "The body of the request must be a valid JSON object";
const BAD_KEY: &str = "Invalid authentication key.";
const RATE_LIMITED: &str =
    "The request exceeds rate limits or is otherwise blocked by rate limiting policies.";
const UNEXPECTED: &str = "Unexpected Error.";
const UNAVAILABLE: &str = "Service temporarily unavailable. Retry later.";

/// D3 SOAR's user commands, `POST /api/Command/{name}` with `d3key`.
pub struct D3;

impl Face for D3 {
    fn name(&self) -> &'static str {
        "d3"
    }

    fn owns(&self, path: &str) -> bool {
        let starts = |prefix: &str| {
            path.get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
        };
        starts("/api/command/") || starts("/command/")
    }

    fn router(&self) -> Router<Arc<AppState>> {
        Router::new()
            .route("/api/Command/{name}", post(command))
            .route("/api/command/{name}", post(command))
            .route("/Command/{name}", post(command))
            .route("/command/{name}", post(command))
    }

    fn credential<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        face::header_text(headers, "d3key").or_else(|| face::header_text(headers, "d3jwt"))
    }

    fn error(&self, e: CoreError) -> Response {
        Failure::from(e).into_response()
    }

    /// D3 documents one answer for a body it cannot take, and answers an
    /// unknown command as a failed command.
    fn reject(&self, r: Rejection) -> Response {
        match r {
            Rejection::NotFound | Rejection::MethodNotAllowed => {
                Failure::from(CoreError::NotFound("method")).into_response()
            }
            _ => Failure::Transport(StatusCode::BAD_REQUEST, BAD_BODY, None).into_response(),
        }
    }
}

/// How a command ends when it does not succeed.
enum Failure {
    /// An HTTP status with `{"Error": ...}`.
    Transport(StatusCode, &'static str, Option<u64>),
    /// 200 with `{"error": ..., "returnData": ""}`.
    Command(String),
}

impl From<CoreError> for Failure {
    fn from(e: CoreError) -> Self {
        match e {
            // D3 reports "no permission" as an authentication failure.
            CoreError::Unauthenticated | CoreError::Forbidden | CoreError::MfaRequired => {
                Failure::Transport(StatusCode::UNAUTHORIZED, BAD_KEY, None)
            }
            CoreError::RateLimited { retry_after_secs }
            | CoreError::Overloaded { retry_after_secs } => Failure::Transport(
                StatusCode::TOO_MANY_REQUESTS,
                RATE_LIMITED,
                Some(retry_after_secs),
            ),
            CoreError::StorageUnavailable {
                retry_after_secs,
                message,
            } => {
                tracing::error!(error = %message, "storage unavailable");
                Failure::Transport(
                    StatusCode::SERVICE_UNAVAILABLE,
                    UNAVAILABLE,
                    Some(retry_after_secs),
                )
            }
            CoreError::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                Failure::Transport(StatusCode::INTERNAL_SERVER_ERROR, UNEXPECTED, None)
            }
            CoreError::Invalid(errors) => Failure::Command(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            CoreError::Conflict(e) => Failure::Command(format!("{}: {}", e.field, e.message)),
            CoreError::NotFound(what) => Failure::Command(format!("The {what} was not found.")),
            other => Failure::Command(other.to_string()),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::Transport(status, msg, retry) => face::with_retry_after(
                (status, axum::Json(json!({ "Error": msg }))).into_response(),
                retry,
            ),
            Failure::Command(msg) => {
                axum::Json(json!({ "error": msg, "returnData": "" })).into_response()
            }
        }
    }
}

type Outcome = Result<Value, Failure>;

fn fail(msg: impl Into<String>) -> Failure {
    Failure::Command(msg.into())
}

async fn command(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RequestOrigin(origin): RequestOrigin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match run(&state, &name, origin, &headers, &body).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(f) => f.into_response(),
    }
}

async fn run(
    state: &AppState,
    name: &str,
    origin: roster_core::audit::Origin,
    headers: &HeaderMap,
    body: &[u8],
) -> Outcome {
    let credential = D3
        .credential(headers)
        .ok_or(Failure::Transport(StatusCode::UNAUTHORIZED, BAD_KEY, None))?;
    let who = state.roster.authenticate(credential).await?;
    let ctx = Ctx { who, origin };
    let envelope: Map<String, Value> = match parse_json::<Value>(body) {
        Ok(Value::Object(m)) => m,
        _ => return Err(Failure::Transport(StatusCode::BAD_REQUEST, BAD_BODY, None)),
    };
    let username = text(&envelope, "Username").ok_or_else(|| fail("Username is required."))?;
    // The command runs as the caller; it may name itself or a user it manages.
    state
        .roster
        .check_acting_for(&ctx, &username)
        .await
        .map_err(|_| Failure::Transport(StatusCode::UNAUTHORIZED, BAD_KEY, None))?;
    let site_name = text(&envelope, "Site").ok_or_else(|| fail("Site is required."))?;
    let site = match state
        .roster
        .containers_named(&ctx, &site_name)
        .await?
        .into_iter()
        .next()
    {
        Some(c) => c,
        None => return Err(fail(format!("Site '{site_name}' was not found."))),
    };
    let params = match envelope.get("CommandParams") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(fail("CommandParams must be an object.")),
    };
    match name.to_ascii_lowercase().as_str() {
        "createuser" => create_user(state, &ctx, site.id, &params).await,
        "updateuser" => update_user(state, &ctx, &params).await,
        "inactiveuser" => inactivate(state, &ctx, &params).await,
        "getuserbyusername" => get_by_username(state, &ctx, &params).await,
        "getusersbysite" => users_by_site(state, &ctx, &params).await,
        "getusersbyrole" => users_by_role(state, &ctx, &params, true).await,
        "getalluserofarole" => users_by_role(state, &ctx, &params, false).await,
        "getonlineusers" => online_users(state, &ctx).await,
        "syncallusergrouprole" => sync_all(&params),
        _ => Err(fail(format!("The command '{name}' is not available."))),
    }
}

mod values;
mod commands;

use values::*;
use commands::*;
