//! The pages that complete a mailed link: `/invite` and `/reset` (a form
//! to set a password) and `/verify-email`. Server-rendered, no script,
//! under the console's headers; each calls one core service. The token
//! travels in the query string of the mailed link and in a hidden field of
//! the form, and is never logged or shown back in any other way.

use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Query, State};
use axum::response::Response;
use minijinja::context;
use roster_core::link::LinkPurpose;
use roster_core::{CoreError, FieldError, Secret};
use serde::Deserialize;

use super::page::{self, render};
use crate::extract::RequestOrigin;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct SetPassword {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

fn heading(purpose: LinkPurpose) -> &'static str {
    match purpose {
        LinkPurpose::Invite => "Welcome: choose your password",
        LinkPurpose::Reset => "Choose a new password",
        LinkPurpose::Verify => "Verify your email address",
    }
}

fn action(purpose: LinkPurpose) -> &'static str {
    match purpose {
        LinkPurpose::Invite => "/invite",
        LinkPurpose::Reset => "/reset",
        LinkPurpose::Verify => "/verify-email",
    }
}

/// The page for a dead link (or any other refusal).
fn refused(purpose: LinkPurpose, e: CoreError) -> Response {
    match e {
        CoreError::Invalid(errors) if errors.iter().any(|e| e.field == "token") => render(
            400,
            "link.html",
            None,
            context! {
                title => heading(purpose),
                heading => heading(purpose),
                error => "This link is invalid, expired or already used. Ask for a new one.",
            },
        ),
        other => page::core_error(other, None, None),
    }
}

async fn form(state: &AppState, purpose: LinkPurpose, token: String) -> Response {
    match state.roster.link_info(&token, purpose).await {
        Ok(info) => render(
            200,
            "link.html",
            None,
            context! {
                title => heading(purpose),
                heading => heading(purpose),
                action => action(purpose),
                token,
                username => info.username,
                // Verifying asks for a click only, no password.
                confirm_only => purpose == LinkPurpose::Verify,
            },
        ),
        Err(e) => refused(purpose, e),
    }
}

async fn submit(
    state: &AppState,
    origin: roster_core::audit::Origin,
    purpose: LinkPurpose,
    form: Result<Form<SetPassword>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return page::error_page(400, "Bad request", "The form could not be read.", None, None);
    };
    let again = |status: u16, errors: Vec<FieldError>, username: Option<String>| {
        render(
            status,
            "link.html",
            None,
            context! {
                title => heading(purpose),
                heading => heading(purpose),
                action => action(purpose),
                token => f.token.clone(),
                username,
                errors => page::by_field(&errors),
            },
        )
    };
    if f.password != f.confirm {
        let username = state
            .roster
            .link_info(&f.token, purpose)
            .await
            .ok()
            .map(|i| i.username);
        return again(
            400,
            vec![FieldError::new(
                "confirm",
                "matches",
                "The two passwords differ.",
            )],
            username,
        );
    }
    let token = Secret::new(f.token.clone());
    match state
        .roster
        .set_password_by_link(&token, purpose, &Secret::new(f.password.clone()), &origin)
        .await
    {
        Ok(()) => render(
            200,
            "link.html",
            None,
            context! {
                title => heading(purpose),
                heading => heading(purpose),
                done => "Your password is set. Every earlier session has ended; sign in with the new password.",
            },
        ),
        Err(CoreError::Invalid(errors)) if !errors.iter().any(|e| e.field == "token") => {
            let username = state
                .roster
                .link_info(&f.token, purpose)
                .await
                .ok()
                .map(|i| i.username);
            again(400, errors, username)
        }
        Err(e) => refused(purpose, e),
    }
}

/// `GET /reset?token=`.
pub async fn reset_form(State(state): State<Arc<AppState>>, Query(q): Query<TokenQuery>) -> Response {
    form(&state, LinkPurpose::Reset, q.token).await
}

/// `POST /reset`.
pub async fn reset(
    State(state): State<Arc<AppState>>,
    RequestOrigin(origin): RequestOrigin,
    form: Result<Form<SetPassword>, FormRejection>,
) -> Response {
    submit(&state, origin, LinkPurpose::Reset, form).await
}

/// `GET /invite?token=`.
pub async fn invite_form(
    State(state): State<Arc<AppState>>,
    Query(q): Query<TokenQuery>,
) -> Response {
    form(&state, LinkPurpose::Invite, q.token).await
}

/// `POST /invite`.
pub async fn invite(
    State(state): State<Arc<AppState>>,
    RequestOrigin(origin): RequestOrigin,
    form: Result<Form<SetPassword>, FormRejection>,
) -> Response {
    submit(&state, origin, LinkPurpose::Invite, form).await
}

/// `GET /verify-email?token=`: a page with one button. Following the link
/// changes nothing: mail scanners and link previews fetch links before
/// (or instead of) the reader.
pub async fn verify_form(
    State(state): State<Arc<AppState>>,
    Query(q): Query<TokenQuery>,
) -> Response {
    form(&state, LinkPurpose::Verify, q.token).await
}

/// `POST /verify-email`: the button of that page.
pub async fn verify(
    State(state): State<Arc<AppState>>,
    RequestOrigin(origin): RequestOrigin,
    form: Result<Form<TokenQuery>, FormRejection>,
) -> Response {
    let purpose = LinkPurpose::Verify;
    let Ok(Form(f)) = form else {
        return page::error_page(400, "Bad request", "The form could not be read.", None, None);
    };
    match state.roster.verify_email(&f.token, &origin).await {
        Ok(()) => render(
            200,
            "link.html",
            None,
            context! {
                title => heading(purpose),
                heading => heading(purpose),
                done => "Your email address is verified.",
            },
        ),
        Err(e) => refused(purpose, e),
    }
}
