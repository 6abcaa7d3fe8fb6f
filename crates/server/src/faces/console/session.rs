//! The console's session: the token the core issued at sign-in, kept in the
//! `roster_console` cookie, and the CSRF token every form carries, derived
//! from it (so it needs no storage and dies with the session). Before the
//! session, the sign-in form has a random token of its own, doubled in a
//! short-lived cookie.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use roster_core::CoreError;
use roster_core::service::Ctx;
use sha2::{Digest, Sha256};

use super::page;
use crate::state::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "roster_console";

/// The pre-session cookie of the sign-in form (login CSRF, double submit).
pub const PRE_COOKIE: &str = "roster_console_login";

/// How long a sign-in form stays usable: long enough to type a password
/// and a TOTP code, short enough that a leaked value is soon worthless.
pub const PRE_MAX_AGE_SECS: u64 = 600;

/// The label mixed into the CSRF token, so it is no other hash of the token.
const CSRF_LABEL: &[u8] = b"roster console csrf v1\0";

/// The value of cookie `name` in the request, if any and not empty.
fn cookie_named<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// The session token in the request's cookies, if any.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    cookie_named(headers, COOKIE)
}

/// A fresh pre-session token for the sign-in form: 32 random bytes in hex.
/// Signing in must not be forgeable either (login CSRF: a page elsewhere
/// signing the victim's browser into the attacker's account), and before
/// sign-in there is no session to derive a token from, so the form and a
/// `SameSite=Strict` cookie carry the same random value (double submit):
/// another site can neither read nor set the cookie.
pub fn new_pre_token() -> String {
    let bytes: [u8; 32] = rand::random();
    roster_core::auth::hex_lower(&bytes)
}

/// `Set-Cookie` for the sign-in form's pre-session token. Scoped to the
/// sign-in path, so it travels with nothing else.
pub fn set_pre_cookie(token: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{PRE_COOKIE}={token}; Path=/console/login; HttpOnly; SameSite=Strict; Max-Age={PRE_MAX_AGE_SECS}{secure}"
    ))
    .expect("hex is cookie-safe text")
}

/// `Set-Cookie` that removes the pre-session cookie (after a sign-in).
pub fn clear_pre_cookie(secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{PRE_COOKIE}=; Path=/console/login; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
    ))
    .expect("static text")
}

/// Whether the sign-in form's hidden token matches the pre-session cookie.
pub fn pre_token_ok(headers: &HeaderMap, sent: Option<&str>) -> bool {
    match (cookie_named(headers, PRE_COOKIE), sent) {
        (Some(c), Some(s)) => c.len() == 64 && same(c, s),
        _ => false,
    }
}

/// Whether the browser reached us over TLS (directly, or through a proxy
/// that says so): the cookie is then `Secure`.
pub fn over_tls(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("proto=https"));
    forwarded_proto || forwarded
}

/// `Set-Cookie` for a new session of `max_age` seconds.
pub fn set_cookie(token: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("a token is cookie-safe text")
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
    ))
    .expect("static text")
}

/// The CSRF token of a session: SHA-256 over a fixed label and the session
/// token, in hex. A page from another site can neither read the cookie nor
/// this value, so it cannot make a form the console accepts.
pub fn csrf_of(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(CSRF_LABEL);
    h.update(token.as_bytes());
    roster_core::auth::hex_lower(&h.finalize())
}

/// Equal without an early exit on the first differing byte.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A form that carries the session's CSRF token.
pub trait CsrfForm {
    fn csrf(&self) -> Option<&str>;
}

/// Implements [`CsrfForm`] for form structs with a `csrf` field.
macro_rules! csrf_form {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::faces::console::session::CsrfForm for $t {
            fn csrf(&self) -> Option<&str> {
                self.csrf.as_deref()
            }
        }
    )*};
}
pub(crate) use csrf_form;

/// A signed-in user: the core's context for every call, and what the pages
/// need (name, CSRF token). A handler that takes it never runs signed out:
/// without a valid session the browser is sent to the sign-in page.
pub struct Session {
    pub ctx: Ctx,
    pub token: String,
    pub csrf: String,
    pub secure: bool,
}

impl Session {
    /// The refusal of a form whose CSRF token is missing or not this
    /// session's; `None` when the form may go on.
    pub fn check(&self, sent: Option<&str>) -> Option<Response> {
        match sent {
            Some(s) if same(s, &self.csrf) => None,
            _ => Some(page::error_page(
                403,
                "Form refused",
                "This form did not come from your console session (its security token is missing or out of date). Reload the page and try again.",
                None,
                Some(self),
            )),
        }
    }

    /// The form, once it could be read and carries this session's token;
    /// otherwise the page that refuses it. The token is checked before
    /// anything else of the form is looked at.
    pub fn accept<T: CsrfForm>(
        &self,
        form: Result<axum::extract::Form<T>, axum::extract::rejection::FormRejection>,
    ) -> Result<T, Box<Response>> {
        match form {
            Ok(axum::extract::Form(f)) => match self.check(f.csrf()) {
                None => Ok(f),
                Some(refused) => Err(Box::new(refused)),
            },
            Err(_) => Err(Box::new(page::error_page(
                400,
                "Bad request",
                "The form could not be read.",
                None,
                Some(self),
            ))),
        }
    }

    /// The signed-in user's name.
    pub fn username(&self) -> &str {
        &self.ctx.who.username
    }
}

/// To the sign-in page, forgetting a cookie that no longer works.
fn to_sign_in(had_cookie: bool, secure: bool) -> Response {
    let mut resp = super::see_other("/console/login");
    if had_cookie {
        resp.headers_mut()
            .insert(header::SET_COOKIE, clear_cookie(secure));
    }
    resp
}

impl FromRequestParts<Arc<AppState>> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let secure = over_tls(&parts.headers);
        let Some(token) = cookie(&parts.headers).map(str::to_string) else {
            return Err(to_sign_in(false, secure));
        };
        match crate::extract::authenticate(parts, state, Some(&token)).await {
            Ok(ctx) if !ctx.who.enroll_only => Ok(Session {
                csrf: csrf_of(&token),
                ctx,
                token,
                secure,
            }),
            Ok(_) | Err(CoreError::Unauthenticated) => Err(to_sign_in(true, secure)),
            Err(e) => Err(page::core_error(e, None, None).into_response()),
        }
    }
}

/// A user signed in with a token good only for enrolling a second factor
/// (an account that must have one and has none): what the enrolment page
/// may do, and nothing else — every other page treats it as signed out.
pub struct Enrolling {
    pub ctx: Ctx,
    pub token: String,
    pub csrf: String,
    pub secure: bool,
}

impl Enrolling {
    /// As [`Session::check`], for the enrolment form.
    pub fn check(&self, sent: Option<&str>) -> Option<Response> {
        match sent {
            Some(s) if same(s, &self.csrf) => None,
            _ => Some(page::error_page(
                403,
                "Form refused",
                "This form did not come from your console session. Sign in again.",
                None,
                None,
            )),
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Enrolling {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let secure = over_tls(&parts.headers);
        let Some(token) = cookie(&parts.headers).map(str::to_string) else {
            return Err(to_sign_in(false, secure));
        };
        match crate::extract::authenticate(parts, state, Some(&token)).await {
            Ok(ctx) if ctx.who.enroll_only => Ok(Enrolling {
                csrf: csrf_of(&token),
                ctx,
                token,
                secure,
            }),
            // Signed in fully: nothing to enrol here.
            Ok(_) => Err(super::see_other("/console/users")),
            Err(CoreError::Unauthenticated) => Err(to_sign_in(true, secure)),
            Err(e) => Err(page::core_error(e, None, None).into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_is_hex_sha256_and_depends_on_the_token() {
        let a = csrf_of("a");
        assert_eq!(a.len(), 64);
        assert_ne!(a, csrf_of("b"));
        assert!(same(&a, &csrf_of("a")));
        assert!(!same(&a, &a[..63]));
    }

    #[test]
    fn reads_the_session_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("x=1; roster_console=tok; y=2"),
        );
        assert_eq!(cookie(&h), Some("tok"));
        h.insert(header::COOKIE, HeaderValue::from_static("roster_console="));
        assert_eq!(cookie(&h), None);
    }

    #[test]
    fn the_sign_in_token_must_match_its_cookie() {
        let t = new_pre_token();
        assert_eq!(t.len(), 64);
        assert_ne!(t, new_pre_token());
        let mut h = HeaderMap::new();
        assert!(!pre_token_ok(&h, Some(&t)), "no cookie");
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{PRE_COOKIE}={t}")).unwrap(),
        );
        assert!(pre_token_ok(&h, Some(&t)));
        assert!(!pre_token_ok(&h, None));
        assert!(!pre_token_ok(&h, Some(&new_pre_token())));
    }
}
