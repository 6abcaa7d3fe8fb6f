//! VMware Aria Operations suite-api, `/suite-api/api/auth` — first part:
//! tokens, users, user role permissions, the current user and auth source
//! types. Errors are Aria's `{"message", "httpStatusCode", "apiErrorCode",
//! "validationFailures"}`. Passwords are never echoed (the vendor's sample
//! does; roster does not).

use std::sync::Arc;

use crate::extract::FaceBytes as Bytes;
use crate::extract::Path;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use roster_core::access::{Holder, RoleRef};
use roster_core::service::{AccessChange, Ctx, LoginInput, PrivilegeChange, UserChange};
use roster_core::user::{
    CreateUser, Patch, RoleGrant, User, UserDraft, UserPatch, UserQuery, UserRules,
};
use roster_core::user_filter::{Cmp, FilterValue, UserField, UserFilter};
use roster_core::{CoreError, Secret};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::extract::{RequestOrigin, parse_json};
use crate::extract::Caller;
use crate::face::{self, Face, Rejection};
use crate::state::AppState;

const BASE: &str = "/suite-api/api/auth";
/// Aria's username pattern `^[^\s,<&"'?+%=>;/#]+$`, as data for the core.
const RULES: UserRules = UserRules {
    name_max: 255,
    email_max: 254,
    phone_max: 64,
    job_title_max: 255,
    username_extra_chars: None,
    username_forbidden_chars: Some(",<&\"'?+%=>;/#"),
    required: &[],
};

/// VMware Aria Operations' user and access API, `/suite-api`, with
/// `Authorization: OpsToken`.
pub struct Aria;

impl Face for Aria {
    fn name(&self) -> &'static str {
        "aria"
    }

    fn owns(&self, path: &str) -> bool {
        path.starts_with("/suite-api/")
    }

    fn router(&self) -> Router<Arc<AppState>> {
        router()
    }

    /// `Authorization: OpsToken <t>` (or the legacy `vRealizeOpsToken`, or
    /// `Bearer` with a roster key or token).
    fn credential<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        face::authorization(headers, &["opstoken", "vrealizeopstoken", "bearer"])
    }

    fn error(&self, e: CoreError) -> Response {
        AriaError::from(e).into_response()
    }

    fn reject(&self, r: Rejection) -> Response {
        AriaError::from(r).into_response()
    }
}

fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/suite-api/api/auth/token/acquire", post(acquire))
        .route("/suite-api/api/auth/token/release", post(release))
        .route(
            "/suite-api/api/auth/users",
            get(list_users)
                .post(create_user)
                .put(modify_user)
                .delete(delete_users),
        )
        .route(
            "/suite-api/api/auth/users/passwordchange",
            put(change_password),
        )
        .route(
            "/suite-api/api/auth/users/{id}",
            get(get_user).patch(patch_user).delete(delete_user),
        )
        .route(
            "/suite-api/api/auth/users/{id}/permissions",
            get(user_permissions).put(put_user_permission),
        )
        .route(
            "/suite-api/api/auth/users/{id}/permissions/{role}",
            axum::routing::delete(delete_user_permission),
        )
        .route("/suite-api/api/auth/currentuser", get(current_user))
        .route(
            "/suite-api/api/auth/currentuser/permissions",
            get(current_permissions),
        )
        .route("/suite-api/api/auth/sourcetypes", get(source_types))
        .route(
            "/suite-api/api/auth/usergroups",
            get(list_groups)
                .post(create_group)
                .put(modify_group)
                .delete(delete_groups),
        )
        .route(
            "/suite-api/api/auth/usergroups/{id}",
            get(get_group).delete(delete_group),
        )
        .route(
            "/suite-api/api/auth/usergroups/{id}/permissions",
            get(group_permissions).put(put_group_permission),
        )
        .route(
            "/suite-api/api/auth/usergroups/{id}/permissions/{role}",
            axum::routing::delete(delete_group_permission),
        )
        .route(
            "/suite-api/api/auth/roles",
            get(list_roles).post(create_role).put(modify_role),
        )
        .route(
            "/suite-api/api/auth/roles/{name}",
            get(get_role).delete(delete_role),
        )
        .route(
            "/suite-api/api/auth/roles/{name}/privileges",
            get(role_privileges)
                .post(add_role_privileges)
                .put(set_role_privileges)
                .delete(remove_role_privileges),
        )
        .route("/suite-api/api/auth/privileges", get(privileges))
        .route("/suite-api/api/auth/privilegegroups", get(privilege_groups))
        .route(
            "/suite-api/api/auth/currentuser/roles/{name}/privileges",
            get(current_role_privileges),
        )
        .route(
            "/suite-api/api/auth/scopes",
            get(list_scopes)
                .post(create_scope)
                .put(modify_scope)
                .delete(delete_scopes),
        )
        .route("/suite-api/api/auth/scopes/{id}", get(get_scope))
        .route("/suite-api/api/auth/sourcetypes/{id}", get(source_type))
        .route(
            "/suite-api/api/auth/sources",
            get(list_sources)
                .post(unsupported_source)
                .put(unsupported_source)
                .patch(unsupported_source),
        )
        .route(
            "/suite-api/api/auth/sources/test",
            post(unsupported_source).patch(unsupported_source),
        )
        .route(
            "/suite-api/api/auth/sources/vidb/well-known-url",
            get(vidb_url),
        )
        .route(
            "/suite-api/api/auth/sources/{id}",
            get(get_source).delete(delete_source),
        )
        .route("/suite-api/api/auth/sources/{id}/users", post(import_users))
        .route(
            "/suite-api/api/auth/sources/{id}/users/search",
            post(search_users),
        )
        .route(
            "/suite-api/api/auth/sources/{id}/usergroups/search",
            post(search_groups),
        )
        .route(
            "/suite-api/api/auth/sources/{id}/usergroups/synchronize",
            put(synchronize_groups),
        )
        .route("/suite-api/api/auth/traversalspecs", get(traversal_specs))
        .route(
            "/suite-api/api/auth/users/{id}/traversalspecs",
            put(user_traversal_spec),
        )
        .route(
            "/suite-api/api/auth/usergroups/{id}/traversalspecs",
            put(group_traversal_spec),
        )
        .route("/suite-api/api/auth/token/exchange", post(token_exchange))
}

mod error;
mod params;
mod tokens;
mod users;
mod sources;
mod groups;
mod roles;
mod scopes;

use error::*;
use params::*;
use tokens::*;
use users::*;
use sources::*;
use groups::*;
use roles::*;
use scopes::*;
