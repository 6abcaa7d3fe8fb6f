//! DigiCert CertCentral Services API v2 (`/services/v2`, header
//! `X-DC-DEVKEY`): users, service users, roles, containers (divisions) and
//! keys. Integer ids are roster's `seq`s. Errors are
//! `{"errors":[{"code","message"}]}`; a bad key is 403.

use std::collections::HashMap;
use std::sync::Arc;

use crate::extract::FaceBytes as Bytes;
use crate::extract::Path;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use roster_core::CoreError;
use roster_core::access::{Container, Holder, RoleRef};
use roster_core::service::{Ctx, NewKey, UserKey};
use roster_core::user_filter::{Cmp, FilterValue, UserField, UserFilter};
use roster_core::user::{
    CreateUser, Patch, RoleGrant, User, UserDraft, UserPatch, UserQuery, UserRules, UserSort,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::extract::parse_json;
use crate::extract::Caller;
use crate::face::{self, Face, Rejection};
use crate::state::AppState;

pub const PREFIX: &str = "/services/v2";

/// DigiCert's field limits, as data for the core.
const RULES: UserRules = UserRules {
    name_max: 128,
    email_max: 255,
    phone_max: 64,
    job_title_max: 64,
    username_extra_chars: Some("@-_+."),
    username_forbidden_chars: None,
    required: &["email", "first_name", "last_name"],
};

/// DigiCert's access roles are roster's built-in roles 1-5.
const ACCESS_ROLES: std::ops::RangeInclusive<i64> = 1..=5;

/// API-key roles, and the roster role each restricts a key to.
const API_ROLES: &[(i64, &str, Option<i64>)] = &[
    (0, "N/A", None),
    (100, "Orders", Some(2)),
    (101, "Orders, Domains, Organizations", Some(2)),
    (102, "View Only", Some(13)),
    (103, "User Management", Some(4)),
];

/// DigiCert CertCentral's user API, `/services/v2`, with `X-DC-DEVKEY`.
pub struct DigiCert;

impl Face for DigiCert {
    fn name(&self) -> &'static str {
        "digicert"
    }

    fn owns(&self, path: &str) -> bool {
        path == PREFIX || path.starts_with("/services/v2/")
    }

    fn router(&self) -> Router<Arc<AppState>> {
        router()
    }

    fn credential<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        face::header_text(headers, "x-dc-devkey")
    }

    fn error(&self, e: CoreError) -> Response {
        DcError::from(e).into_response()
    }

    fn reject(&self, r: Rejection) -> Response {
        DcError::from(r).into_response()
    }
}

fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/services/v2/user", get(list_users).post(create_user))
        .route("/services/v2/user/me", get(me))
        .route("/services/v2/user/api-only", get(list_service_users))
        .route("/services/v2/service-user", get(list_service_users))
        .route(
            "/services/v2/user/{id}",
            get(get_user).put(edit_user).delete(delete_user),
        )
        .route("/services/v2/user/{id}/role", put(change_role))
        .route(
            "/services/v2/user/{id}/container-assignments",
            put(container_assignments),
        )
        .route("/services/v2/container", get(list_containers))
        .route("/services/v2/container/{id}", get(get_container))
        .route("/services/v2/container/{id}/role", get(container_roles))
        .route(
            "/services/v2/container/{id}/user-assignments",
            put(container_user_assignments),
        )
        .route("/services/v2/key", get(list_keys))
        .route("/services/v2/key/api-roles", get(api_roles))
        .route("/services/v2/account", get(account))
}

mod error;
mod params;
mod lookup;
mod users;
mod containers;
mod keys;

use error::*;
use params::*;
use lookup::*;
use users::*;
use containers::*;
use keys::*;
