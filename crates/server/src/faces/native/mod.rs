//! The native REST face, `/api/v1`, and its OpenAPI document.

pub mod access;
pub mod audit;
pub mod auth;
pub mod dto;
pub mod keys;
pub mod me;
pub mod problem;
pub mod users;

use std::sync::Arc;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use roster_core::CoreError;

use crate::face::{self, Face, Rejection};
use crate::state::AppState;
use problem::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(title = "roster", description = "Self-hosted user and access management: the native REST API."),
    servers((url = "/api/v1")),
    modifiers(&Security),
    tags(
        (name = "users", description = "User accounts"),
        (name = "me", description = "The caller's own account"),
        (name = "auth", description = "Credentials and tokens"),
        (name = "containers", description = "The container tree (sites, divisions, scopes)"),
        (name = "roles", description = "Roles, privileges and scoped role assignments"),
        (name = "groups", description = "Groups and their members"),
        (name = "api-keys", description = "API keys"),
        (name = "audit", description = "The audit trail"),
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key or a token from POST /auth/token"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// The native face: `/api/v1`, its OpenAPI document, and the answer for
/// every path no other face owns.
pub struct Native;

impl Face for Native {
    fn name(&self) -> &'static str {
        "native"
    }

    fn owns(&self, _path: &str) -> bool {
        true
    }

    fn router(&self) -> axum::Router<Arc<AppState>> {
        let (api, openapi) = api_router();
        let openapi = Arc::new(openapi);
        axum::Router::new().nest("/api/v1", api).route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = openapi.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
    }

    /// `Authorization: Bearer <key or token>`, or `X-API-Key: <key>`.
    fn credential<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        if headers.contains_key(header::AUTHORIZATION) {
            return face::authorization(headers, &["bearer"]);
        }
        face::header_text(headers, "x-api-key")
    }

    fn error(&self, e: CoreError) -> Response {
        ApiError::Core(e).into_response()
    }

    fn reject(&self, r: Rejection) -> Response {
        ApiError::from(r).into_response()
    }
}

/// The routes under `/api/v1` and the OpenAPI document describing them.
pub fn api_router() -> (axum::Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = routes();
    add_standard_responses(&mut doc);
    (router, doc)
}

/// Responses every operation can give (bad parameters, credentials, rate
/// limits, internal errors, body limits), added once here rather than on
/// each handler, so that the document lists every status the server sends.
fn add_standard_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let problem = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
    };
    let public = serde_json::json!({});
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let authenticated = op.security.as_ref().is_none_or(|reqs| {
                reqs.iter()
                    .any(|r| serde_json::to_value(r).ok().as_ref() != Some(&public))
            });
            let mut standard = vec![
                ("400", "Invalid parameters or body"),
                ("404", "Something named in the request does not exist"),
                ("429", "Rate limited; see Retry-After"),
                ("500", "Internal error; quote the request id"),
            ];
            if authenticated {
                standard.push(("401", "No valid credential"));
                standard.push(("403", "The credential lacks the privilege"));
            }
            if op.request_body.is_some() {
                standard.push(("413", "Body too large"));
                standard.push(("415", "Body is not JSON"));
            }
            for (code, description) in standard {
                op.responses
                    .responses
                    .entry(code.to_string())
                    .or_insert_with(|| problem(description).into());
            }
        }
    }
}

fn routes() -> (axum::Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(users::create_user, users::list_users))
        .routes(routes!(
            users::get_user,
            users::patch_user,
            users::delete_user
        ))
        .routes(routes!(users::restore_user))
        .routes(routes!(auth::issue_token))
        .routes(routes!(auth::revoke_token))
        .routes(routes!(me::me))
        .routes(routes!(me::change_password))
        .routes(routes!(me::set_password))
        .routes(routes!(me::unlock))
        .routes(routes!(me::begin_totp))
        .routes(routes!(me::confirm_totp))
        .routes(routes!(me::remove_totp))
        .routes(routes!(me::reset_mfa))
        .routes(routes!(access::create_container, access::list_containers))
        .routes(routes!(
            access::get_container,
            access::patch_container,
            access::delete_container
        ))
        .routes(routes!(access::list_privileges))
        .routes(routes!(access::create_role, access::list_roles))
        .routes(routes!(
            access::get_role,
            access::patch_role,
            access::delete_role
        ))
        .routes(routes!(access::create_group, access::list_groups))
        .routes(routes!(
            access::get_group,
            access::patch_group,
            access::delete_group
        ))
        .routes(routes!(access::list_members, access::add_member))
        .routes(routes!(access::remove_member))
        .routes(routes!(access::groups_of_user))
        .routes(routes!(access::assign_user_role, access::user_roles))
        .routes(routes!(access::unassign_user_role))
        .routes(routes!(access::assign_group_role, access::group_roles))
        .routes(routes!(access::unassign_group_role))
        .routes(routes!(access::effective_permissions))
        .routes(routes!(keys::create_key, keys::list_keys))
        .routes(routes!(keys::get_key, keys::revoke_key))
        .routes(routes!(audit::list_audit))
        .split_for_parts()
}
