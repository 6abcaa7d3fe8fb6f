//! Signing in (the core's `issue_token`, throttle included) and out (the
//! core's `revoke_token`).

use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use minijinja::context;
use roster_core::service::LoginInput;
use roster_core::{CoreError, Secret};
use serde::Deserialize;

use super::page::{self, render};
use super::session::{self, Enrolling, Session};
use crate::extract::RequestOrigin;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct SignInPage {
    #[serde(default)]
    signed_out: Option<String>,
    #[serde(default)]
    enrolled: Option<String>,
}

/// The sign-in page with a fresh pre-session token, in its form and in
/// the cookie it must match.
fn login_page(status: u16, headers: &HeaderMap, values: minijinja::Value) -> Response {
    let token = session::new_pre_token();
    let mut resp = render(
        status,
        "login.html",
        None,
        context! { title => "Sign in", login_token => token.clone(), ..values },
    );
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session::set_pre_cookie(&token, session::over_tls(headers)),
    );
    resp
}

/// `GET /console/login`.
pub async fn form(headers: HeaderMap, Query(q): Query<SignInPage>) -> Response {
    login_page(
        200,
        &headers,
        context! { notice => q.signed_out.map(|_| "You have signed out.").or(
            q.enrolled.map(|_| "Your second factor is enrolled. Sign in with your password and a code from the app."),
        ) },
    )
}

#[derive(Deserialize)]
pub struct SignIn {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp: Option<String>,
    /// The pre-session token, matched against its cookie.
    #[serde(default)]
    login_token: Option<String>,
}

/// `POST /console/login`: a token from the core becomes the session cookie.
pub async fn sign_in(
    State(state): State<Arc<AppState>>,
    RequestOrigin(origin): RequestOrigin,
    headers: HeaderMap,
    form: Result<Form<SignIn>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return page::error_page(400, "Bad request", "The form could not be read.", None, None);
    };
    let totp = f.totp.filter(|c| !c.trim().is_empty());
    let username = f.username.trim().to_string();
    let again = |status: u16, error: &str, fields: Option<&[roster_core::FieldError]>, need_totp: bool| {
        login_page(
            status,
            &headers,
            context! {
                username => username,
                error,
                errors => fields.map(page::by_field),
                need_totp,
            },
        )
    };
    // Checked before the password is: a forged sign-in costs no hashing
    // and counts against no throttle.
    if !session::pre_token_ok(&headers, f.login_token.as_deref()) {
        return again(
            403,
            "This sign-in form has expired or did not come from this console. Enter your username and password again.",
            None,
            false,
        );
    }
    let input = LoginInput {
        username: username.clone(),
        password: Secret::new(f.password),
        totp: totp.clone(),
        ttl_secs: None,
        sliding: false,
    };
    match state.roster.issue_token(input, &origin).await {
        Ok(issued) => {
            // A token good only for enrolling a second factor opens the
            // enrolment page and nothing else (every other page refuses it).
            let next = if issued.enroll_only {
                "/console/enrol"
            } else {
                "/console/users"
            };
            let secure = session::over_tls(&headers);
            let mut resp = super::see_other(next);
            let h = resp.headers_mut();
            h.insert(
                header::SET_COOKIE,
                session::set_cookie(issued.token.expose(), issued.expires_in_secs, secure),
            );
            // Used once: a later sign-in gets a form of its own.
            h.append(header::SET_COOKIE, session::clear_pre_cookie(secure));
            resp
        }
        Err(CoreError::MfaRequired) => again(
            401,
            if totp.is_some() {
                "That code is not valid. Enter the current code from your authenticator app."
            } else {
                "Enter the current code from your authenticator app."
            },
            None,
            true,
        ),
        Err(CoreError::Unauthenticated) => again(
            401,
            "Wrong username or password, or the account is disabled or locked.",
            None,
            totp.is_some(),
        ),
        Err(CoreError::Invalid(fields)) => {
            again(400, "Some fields are not valid.", Some(&fields), totp.is_some())
        }
        Err(e) => page::core_error(e, Some("sign in"), None),
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    pub csrf: Option<String>,
}

/// `POST /console/logout`: the token is revoked on every node and the
/// cookie cleared.
pub async fn sign_out(
    State(state): State<Arc<AppState>>,
    s: Session,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Response {
    let sent = form.ok().and_then(|Form(f)| f.csrf);
    if let Some(refused) = s.check(sent.as_deref()) {
        return refused;
    }
    if let Err(e) = state.roster.revoke_token(&s.token, &s.ctx.origin).await {
        return page::core_error(e, Some("sign out"), Some(&s));
    }
    let mut resp = super::see_other("/console/login?signed_out=1");
    resp.headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie(s.secure));
    resp
}

/// `GET /console/enrol`: starts (or restarts) TOTP enrolment and shows the
/// key once, with the form for the first code.
pub async fn enrol_form(State(state): State<Arc<AppState>>, e: Enrolling) -> Response {
    match state.roster.begin_totp(&e.ctx).await {
        Ok(started) => render(
            200,
            "enrol.html",
            None,
            context! {
                title => "Enrol a second factor",
                secret => started.secret.expose(),
                uri => started.otpauth_uri.expose(),
                enrol_csrf => e.csrf,
            },
        ),
        Err(err) => page::core_error(err, Some("start enrolment"), None),
    }
}

#[derive(Deserialize)]
pub struct EnrolForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: Option<String>,
}

/// `POST /console/enrol`: the first code completes enrolment; the
/// enrolment-only session ends and the user signs in with password and code.
pub async fn enrol(
    State(state): State<Arc<AppState>>,
    e: Enrolling,
    form: Result<Form<EnrolForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return page::error_page(400, "Bad request", "The form could not be read.", None, None);
    };
    if let Some(refused) = e.check(f.csrf.as_deref()) {
        return refused;
    }
    match state.roster.confirm_totp(&e.ctx, f.code.trim()).await {
        Ok(()) => {
            if let Err(err) = state.roster.revoke_token(&e.token, &e.ctx.origin).await {
                tracing::warn!(error = %err, "revoking an enrolment token");
            }
            let mut resp = super::see_other("/console/login?enrolled=1");
            resp.headers_mut()
                .insert(header::SET_COOKIE, session::clear_cookie(e.secure));
            resp
        }
        Err(CoreError::Invalid(_) | CoreError::Unauthenticated | CoreError::MfaRequired) => render(
            400,
            "enrol.html",
            None,
            context! {
                title => "Enrol a second factor",
                error => "That code is not valid. Start again: a new key will be shown.",
            },
        ),
        Err(err) => page::core_error(err, Some("enrol"), None),
    }
}
