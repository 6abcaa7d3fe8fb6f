//! Rendering: the templates (embedded in the binary, auto-escaped), the
//! headers every console response carries, and error pages.

use std::sync::LazyLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{Environment, Value, context};
use roster_core::{CoreError, FieldError};

use super::session::Session;
use crate::face::with_retry_after;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, text) in [
        ("base.html", include_str!("templates/base.html")),
        ("login.html", include_str!("templates/login.html")),
        ("users.html", include_str!("templates/users.html")),
        ("user.html", include_str!("templates/user.html")),
        ("delete.html", include_str!("templates/delete.html")),
        ("audit.html", include_str!("templates/audit.html")),
        ("error.html", include_str!("templates/error.html")),
        ("macros.html", include_str!("templates/macros.html")),
        ("containers.html", include_str!("templates/containers.html")),
        ("container.html", include_str!("templates/container.html")),
        ("groups.html", include_str!("templates/groups.html")),
        ("group.html", include_str!("templates/group.html")),
        ("roles.html", include_str!("templates/roles.html")),
        ("role.html", include_str!("templates/role.html")),
        ("key.html", include_str!("templates/key.html")),
        ("enrol.html", include_str!("templates/enrol.html")),
        ("link.html", include_str!("templates/link.html")),
    ] {
        env.add_template(name, text)
            .unwrap_or_else(|e| panic!("console template {name}: {e}"));
    }
    env
});

const CSS: &str = include_str!("static/console.css");

/// `GET /console/static/console.css`.
pub async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response()
}

/// Adds the headers of every console response: a strict CSP (no script at
/// all, styles and forms from here only, never framed), no referrer, no
/// caching of pages that show who can do what.
pub async fn secure(resp: Response) -> Response {
    secure_now(resp)
}

pub fn secure_now(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// Renders `template` with `values` plus what every page shows (the
/// signed-in user and the form token).
pub fn render(status: u16, template: &str, session: Option<&Session>, values: Value) -> Response {
    let ctx = context! {
        me => session.map(Session::username),
        csrf => session.map(|s| s.csrf.clone()),
        ..values
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match TEMPLATES
        .get_template(template)
        .and_then(|t| t.render(ctx))
    {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(template, error = %e, "console template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// A section of a page the caller may not see: its message, or the
/// whole page's error for anything but a refusal.
pub fn refused<T>(
    r: Result<T, CoreError>,
    message: &'static str,
) -> Result<Result<T, &'static str>, CoreError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(CoreError::Forbidden) => Ok(Err(message)),
        Err(e) => Err(e),
    }
}

/// A page that says what went wrong.
pub fn error_page(
    status: u16,
    title: &str,
    message: &str,
    fields: Option<&[FieldError]>,
    session: Option<&Session>,
) -> Response {
    render(
        status,
        "error.html",
        session,
        context! {
            status, title, message,
            fields => fields.map(field_list),
            reload => status == 412,
        },
    )
}

/// Field errors as `[{field, message}]` for the templates.
pub fn field_list(fields: &[FieldError]) -> Vec<Value> {
    fields
        .iter()
        .map(|f| context! { field => f.field, message => f.message })
        .collect()
}

/// Field errors by field name, for messages next to their inputs.
pub fn by_field(fields: &[FieldError]) -> Value {
    let mut map = std::collections::BTreeMap::<String, String>::new();
    for f in fields {
        map.entry(f.field.clone())
            .and_modify(|m| {
                m.push_str("; ");
                m.push_str(&f.message);
            })
            .or_insert_with(|| f.message.clone());
    }
    Value::from_serialize(&map)
}

/// The page for an error of the core; `doing` completes "You may not …".
pub fn core_error(e: CoreError, doing: Option<&str>, session: Option<&Session>) -> Response {
    match e {
        CoreError::Forbidden => error_page(
            403,
            "Not allowed",
            &format!("You may not {}.", doing.unwrap_or("do this")),
            None,
            session,
        ),
        CoreError::Unauthenticated | CoreError::MfaRequired => super::see_other("/console/login"),
        CoreError::NotFound(what) => error_page(
            404,
            "Not found",
            &format!("There is no such {what}, or it is beyond your reach."),
            None,
            session,
        ),
        CoreError::Conflict(f) => error_page(
            409,
            "Conflict",
            &format!("{}: {}", f.field, f.message),
            Some(std::slice::from_ref(&f)),
            session,
        ),
        CoreError::PreconditionFailed => error_page(
            412,
            "Changed meanwhile",
            "Someone changed this since you loaded the page, so nothing was done. Reload the page to see the current state, then try again.",
            None,
            session,
        ),
        CoreError::Invalid(fields) => error_page(
            400,
            "Invalid input",
            "Some fields are not valid:",
            Some(&fields),
            session,
        ),
        CoreError::IdempotencyMismatch => {
            error_page(409, "Conflict", "This request was already made differently.", None, session)
        }
        CoreError::RateLimited { retry_after_secs } => with_retry_after(
            error_page(
                429,
                "Too many attempts",
                &format!("Too many attempts. Wait {retry_after_secs} seconds, then try again."),
                None,
                session,
            ),
            Some(retry_after_secs),
        ),
        CoreError::StorageUnavailable {
            retry_after_secs,
            message,
        } => {
            tracing::error!(%message, "storage unavailable");
            busy(retry_after_secs, session)
        }
        CoreError::Overloaded { retry_after_secs } => busy(retry_after_secs, session),
        CoreError::NotConfigured(what) => error_page(503, "Not configured", what, None, session),
        CoreError::Internal(detail) => {
            tracing::error!(%detail, "internal error in the console");
            error_page(500, "Internal error", "Something went wrong on the server; it has been logged.", None, session)
        }
    }
}

/// 503: try again later.
fn busy(retry_after_secs: u64, session: Option<&Session>) -> Response {
    with_retry_after(
        error_page(
            503,
            "Busy",
            &format!("roster cannot do this right now. Try again in {retry_after_secs} seconds."),
            None,
            session,
        ),
        Some(retry_after_secs),
    )
}

/// An instant as people read it: `2025-01-31 14:05:09 UTC`.
pub fn when(t: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(format)
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES.templates() {
            TEMPLATES.get_template(name).unwrap();
        }
        assert!(TEMPLATES.get_template("user.html").is_ok());
    }
}
