//! The admin console, `/console`: server-rendered HTML pages over the same
//! core as every other face, as the signed-in user, so a page shows and
//! allows exactly what that user may do (no permission logic here).
//!
//! - `session.rs` — the session cookie (the core's token), the CSRF token
//!   derived from it, and the [`session::Session`] extractor;
//! - `page.rs` — templates (embedded with `include_str!`, rendered with
//!   minijinja, auto-escaped), security headers and error pages;
//! - `auth.rs` (sign-in with its pre-session token, sign-out), `users.rs`
//!   (search, create, a user's page, profile and credentials), `access.rs`
//!   (grants and revokes on user and group pages, API keys), `containers.rs`,
//!   `groups.rs`, `roles.rs`, `audit.rs` — the pages. Each handler reads
//!   its form (CSRF first), makes one core call and renders.

mod access;
mod audit;
mod auth;
mod containers;
mod groups;
mod links;
mod page;
mod roles;
mod session;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use roster_core::CoreError;

use crate::face::{Face, Rejection};
use crate::state::AppState;

/// Where the console lives.
pub const BASE: &str = "/console";

/// The pages that complete mailed links (see `links.rs`).
pub const LINK_PAGES: [&str; 3] = ["/invite", "/reset", "/verify-email"];

/// The admin console in the browser, its session in a cookie.
pub struct Console;

impl Face for Console {
    fn name(&self) -> &'static str {
        "console"
    }

    fn owns(&self, path: &str) -> bool {
        path == BASE
            || path.starts_with("/console/")
            || LINK_PAGES.contains(&path)
    }

    fn router(&self) -> Router<Arc<AppState>> {
        Router::new()
            .route(BASE, get(home))
            .route("/console/", get(home))
            .route("/console/static/console.css", get(page::css))
            .route("/console/login", get(auth::form).post(auth::sign_in))
            .route("/console/logout", post(auth::sign_out))
            .route("/console/enrol", get(auth::enrol_form).post(auth::enrol))
            .route("/console/users", get(users::list).post(users::create))
            .route("/console/users/{id}", get(users::show))
            .route("/console/users/{id}/active", post(users::set_active))
            .route(
                "/console/users/{id}/delete",
                get(users::confirm_delete).post(users::delete),
            )
            .route("/console/users/{id}/profile", post(users::update_profile))
            .route("/console/users/{id}/password", post(users::set_password))
            .route("/console/users/{id}/mfa/reset", post(users::reset_mfa))
            .route("/console/users/{id}/roles", post(access::grant))
            .route(
                "/console/users/{id}/roles/{assignment}/revoke",
                post(access::revoke),
            )
            .route("/console/users/{id}/keys", post(access::create_key))
            .route(
                "/console/users/{id}/keys/{key}/revoke",
                post(access::revoke_key),
            )
            .route(
                "/console/containers",
                get(containers::list).post(containers::create),
            )
            .route(
                "/console/containers/{id}",
                get(containers::show).post(containers::update),
            )
            .route("/console/containers/{id}/delete", post(containers::delete))
            .route("/console/groups", get(groups::list).post(groups::create))
            .route("/console/groups/{id}", get(groups::show))
            .route("/console/groups/{id}/members", post(groups::add_member))
            .route(
                "/console/groups/{id}/members/{user}/remove",
                post(groups::remove_member),
            )
            .route("/console/groups/{id}/delete", post(groups::delete))
            .route("/console/groups/{id}/roles", post(access::grant_group))
            .route(
                "/console/groups/{id}/roles/{assignment}/revoke",
                post(access::revoke_group),
            )
            .route("/console/roles", get(roles::list).post(roles::create))
            .route("/console/roles/{id}", get(roles::show).post(roles::update))
            .route("/console/roles/{id}/delete", post(roles::delete))
            .route("/console/audit", get(audit::list))
            .route("/invite", get(links::invite_form).post(links::invite))
            .route("/reset", get(links::reset_form).post(links::reset))
            .route("/verify-email", get(links::verify_form).post(links::verify))
            .layer(axum::middleware::map_response(page::secure))
    }

    /// The session token, from the `roster_console` cookie.
    fn credential<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        session::cookie(headers)
    }

    fn error(&self, e: CoreError) -> Response {
        page::secure_now(page::core_error(e, None, None))
    }

    fn reject(&self, r: Rejection) -> Response {
        let (status, title, message) = match r {
            Rejection::NotFound => (404, "Not found", "There is no such page.".to_string()),
            Rejection::MethodNotAllowed => (
                405,
                "Not allowed",
                "This page does not take that kind of request.".to_string(),
            ),
            Rejection::PayloadTooLarge(n) => (
                413,
                "Too large",
                format!("The form is larger than {n} bytes."),
            ),
            Rejection::UnsupportedMediaType(_) | Rejection::BadBody(_) => (
                400,
                "Bad request",
                "The form could not be read.".to_string(),
            ),
        };
        page::secure_now(page::error_page(status, title, &message, None, None))
    }
}

/// `/console`: the users page, or sign-in first.
async fn home() -> Response {
    Redirect::to("/console/users").into_response()
}

/// A `303 See Other` to a console page (after a form post).
fn see_other(to: &str) -> Response {
    (
        axum::http::StatusCode::SEE_OTHER,
        [(header::LOCATION, to.to_string())],
    )
        .into_response()
}
