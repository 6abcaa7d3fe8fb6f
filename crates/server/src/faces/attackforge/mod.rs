//! AttackForge Self-Service RESTful API (`/api/ss`, header `X-SSAPI-KEY`).
//! Create answers with the create-side names (`email`, `mfa`), reads with
//! the read-side names (`email_address`, `mfa_enabled`), as AttackForge does.
//! Errors are `{"error": "..."}`.

use std::sync::Arc;

use crate::extract::FaceBytes as Bytes;
use crate::extract::Path;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use roster_core::access::{Group, Holder, RoleRef};
use roster_core::audit::{AuditQuery, Outcome};
use roster_core::service::{Ctx, GroupChange, GroupInput, UserKey};
use roster_core::user::{CreateUser, Patch, RoleGrant, User, UserDraft, UserPatch, UserQuery};
use roster_core::{CoreError, Secret};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::extract::parse_json;
use crate::extract::Caller;
use crate::face::{self, Face, Rejection};
use crate::state::AppState;

pub const PREFIX: &str = "/api/ss";

/// Roles a created user may get, as AttackForge names them.
const ROLES: &[&str] = &[
    "admin",
    "librarymod",
    "client",
    "consultant",
    "projectoperator",
];
/// AttackForge's own minimum password length.
const MIN_PASSWORD: usize = 15;

/// AttackForge's self-service user API, `/api/ss`, with `X-SSAPI-KEY`.
pub struct AttackForge;

impl Face for AttackForge {
    fn name(&self) -> &'static str {
        "attackforge"
    }

    fn owns(&self, path: &str) -> bool {
        path == PREFIX || path.starts_with("/api/ss/")
    }

    fn router(&self) -> Router<Arc<AppState>> {
        router()
    }

    fn credential<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        face::header_text(headers, "x-ssapi-key")
    }

    fn error(&self, e: CoreError) -> Response {
        AfError::from(e).into_response()
    }

    fn reject(&self, r: Rejection) -> Response {
        AfError::from(r).into_response()
    }
}

fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/ss/user", post(create_user))
        .route("/api/ss/users", post(create_users).get(list_users))
        .route("/api/ss/users/{id}", get(get_user))
        .route("/api/ss/users/email/{email}", get(get_user_by_email))
        .route(
            "/api/ss/users/username/{username}",
            get(get_user_by_username),
        )
        .route("/api/ss/user/{id}", put(update_user))
        .route("/api/ss/user/{id}/activate", put(activate))
        .route("/api/ss/user/{id}/deactivate", put(deactivate))
        .route("/api/ss/user/{id}/groups", get(user_groups))
        .route("/api/ss/user/{id}/auditlogs", get(user_audit_logs))
        .route("/api/ss/user/{id}/logins", get(user_logins))
        .route("/api/ss/group", post(create_group))
        .route("/api/ss/groups", get(list_groups))
        .route("/api/ss/group/{id}", get(get_group).put(update_group))
        .route("/api/ss/group/user", post(add_to_group))
        .route("/api/ss/group/user/{user_id}", put(update_group_access))
        .route("/api/ss/apikey/regenerate", post(regenerate_key))
}

mod error;
mod params;
mod users;
mod groups;

use error::*;
use params::*;
use users::*;
use groups::*;
