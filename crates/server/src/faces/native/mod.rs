//! The native REST face, `/api/v1`, and its OpenAPI document.

pub mod access;
pub mod audit;
pub mod auth;
mod docs;
pub mod dto;
pub mod keys;
pub mod mail;
pub mod me;
pub mod problem;
pub mod users;
pub mod webhooks;

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
        (name = "webhooks", description = "Change events: webhooks, their deliveries, and the pull feed"),
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
        axum::Router::new()
            .nest("/api/v1", api)
            .route(
                "/openapi.json",
                axum::routing::get(move || {
                    let doc = openapi.clone();
                    async move { axum::Json(doc.as_ref().clone()) }
                }),
            )
            .route("/", axum::routing::get(index))
            .merge(docs::router())
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

/// `GET /`: what this server speaks and where to read about it, as a
/// small page for browsers and JSON for everything else.
async fn index(headers: HeaderMap) -> Response {
    let faces: Vec<&str> = crate::faces::FACES.iter().map(|f| f.name()).collect();
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html {
        let items: String = faces.iter().map(|f| format!("<li>{f}</li>")).collect();
        let page = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>roster</title></head>\
             <body><h1>roster</h1><p>Self-hosted user and access management.</p>\
             <ul><li><a href=\"/docs/\">API reference</a> (native API, <code>/api/v1</code>)</li>\
             <li><a href=\"/openapi.json\">OpenAPI document</a></li>\
             <li><a href=\"/healthz\">Health</a></li></ul>\
             <h2>Faces</h2><ul>{items}</ul></body></html>"
        );
        return (
            [(
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; base-uri 'none'; frame-ancestors 'none'",
            )],
            axum::response::Html(page),
        )
            .into_response();
    }
    axum::Json(serde_json::json!({
        "name": "roster",
        "version": env!("CARGO_PKG_VERSION"),
        "faces": faces,
        "links": {
            "api": "/api/v1",
            "docs": "/docs/",
            "openapi": "/openapi.json",
            "health": "/healthz",
        },
    }))
    .into_response()
}

/// The routes under `/api/v1` and the OpenAPI document describing them.
pub fn api_router() -> (axum::Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = routes();
    add_standard_responses(&mut doc);
    describe_every_response(&mut doc);
    reference_list_items(&mut doc);
    (router, doc)
}

/// Every operation of the document, for the passes below.
fn operations(
    doc: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
    })
}

/// OpenAPI requires a description on every Response Object; utoipa leaves
/// it out when a handler's `responses(...)` gives none, and client
/// generators then refuse the whole document. A handler's own wording wins;
/// the rest get the standard meaning of their status.
fn describe_every_response(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    for op in operations(doc) {
        for (code, response) in op.responses.responses.iter_mut() {
            if let RefOr::T(response) = response
                && response.description.is_empty()
            {
                response.description = standard_description(code).to_string();
            }
        }
    }
}

fn standard_description(code: &str) -> &'static str {
    match code {
        "200" => "OK",
        "201" => "Created",
        "204" => "Done; no content",
        "400" => "Invalid parameters or body",
        "401" => "No valid credential",
        "403" => "The credential lacks the privilege",
        "404" => "Something named in the request does not exist",
        "409" => "Conflicts with what is stored (a taken name, something still in use)",
        "412" => "The resource changed since the ETag in If-Match",
        "413" => "Body too large",
        "415" => "Body is not JSON",
        "429" => "Rate limited; see Retry-After",
        "500" => "Internal error; quote the request id",
        "503" => "Temporarily unavailable; see Retry-After",
        _ => "See the problem type",
    }
}

/// `Items<T>` is generic, and utoipa inlines a generic's argument: every
/// `Items_X` would carry its own copy of `X`, which client generators turn
/// into duplicate models. Point each at the `X` the document already has.
fn reference_list_items(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{ArrayItems, Schema};
    use utoipa::openapi::{Ref, RefOr};
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let names: Vec<String> = components.schemas.keys().cloned().collect();
    for (name, schema) in components.schemas.iter_mut() {
        let Some(item) = name.strip_prefix("Items_") else {
            continue;
        };
        if !names.iter().any(|n| n == item) {
            continue;
        }
        if let RefOr::T(Schema::Object(object)) = schema
            && let Some(RefOr::T(Schema::Array(array))) = object.properties.get_mut("items")
        {
            array.items = ArrayItems::RefOrSchema(Box::new(Ref::from_schema_name(item).into()));
        }
    }
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
    for op in operations(doc) {
        let authenticated = op.security.as_ref().is_none_or(|reqs| {
            reqs.iter()
                .any(|r| serde_json::to_value(r).ok().as_ref() != Some(&public))
        });
        let mut standard = vec!["400", "404", "429", "500"];
        if authenticated {
            standard.extend(["401", "403"]);
        }
        if op.request_body.is_some() {
            standard.extend(["413", "415"]);
        }
        for code in standard {
            op.responses
                .responses
                .entry(code.to_string())
                .or_insert_with(|| problem(standard_description(code)).into());
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
        .routes(routes!(mail::request_password_reset))
        .routes(routes!(mail::send_invitation, mail::revoke_invitation))
        .routes(routes!(mail::send_verification))
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
        .routes(routes!(webhooks::create_webhook, webhooks::list_webhooks))
        .routes(routes!(
            webhooks::get_webhook,
            webhooks::patch_webhook,
            webhooks::delete_webhook
        ))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(webhooks::list_events))
        .split_for_parts()
}
