//! Aria tokens: acquire (password login), release, and what a token carries.

use super::*;

/// `Friday, August 5, 2016 6:22:05 PM UTC`
pub(super) fn long_date(t: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!(
        "[weekday], [month repr:long] [day padding:none], [year] [hour repr:12 padding:none]:[minute]:[second] [period] UTC"
    );
    t.format(&fmt).unwrap_or_default()
}

pub(super) async fn acquire(
    State(state): State<Arc<AppState>>,
    RequestOrigin(origin): RequestOrigin,
    bytes: Bytes,
) -> AriaResult {
    let m: Map<String, Value> = body(&bytes)?;
    let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
    let source = text("authSource").unwrap_or_else(|| "LOCAL".into());
    if !source.eq_ignore_ascii_case("LOCAL") {
        return Err(AriaError::new(
            StatusCode::BAD_REQUEST,
            format!("Auth source '{source}' is not supported; only LOCAL is"),
        ));
    }
    let (Some(username), Some(password)) = (text("username"), text("password")) else {
        return Err(AriaError {
            failures: vec![(
                "username and password are required".into(),
                "username-password".into(),
            )],
            ..AriaError::new(StatusCode::BAD_REQUEST, "Invalid input")
        });
    };
    // Aria's `username-password` has no second factor. roster reads an
    // optional `totpCode` (its own extension) for accounts with TOTP;
    // clients that cannot send it use an API key (`Authorization: Bearer`).
    let totp = match m.get("totpCode") {
        None | Some(Value::Null) => None,
        Some(Value::String(code)) => Some(code.clone()),
        Some(_) => {
            return Err(AriaError {
                failures: vec![("totpCode must be a string".into(), "totpCode".into())],
                ..AriaError::new(StatusCode::BAD_REQUEST, "Invalid input")
            });
        }
    };
    let input = LoginInput {
        username,
        password: Secret::new(password),
        totp,
        ttl_secs: Some(state.http.aria_token_idle_secs),
        sliding: true,
    };
    let issued = match state.roster.issue_token(input, &origin).await {
        Err(CoreError::MfaRequired) => return Err(second_factor_needed()),
        other => other?,
    };
    let expires =
        OffsetDateTime::now_utc() + time::Duration::seconds(issued.expires_in_secs as i64);
    Ok(axum::Json(json!({
        "token": issued.token.expose(),
        "validity": (expires.unix_timestamp_nanos() / 1_000_000) as i64,
        "expiresAt": long_date(expires),
        "roles": [],
    }))
    .into_response())
}

pub(super) async fn release(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    headers: HeaderMap,
) -> AriaResult {
    let token = Aria.credential(&headers).unwrap_or_default();
    state.roster.revoke_token(token, &ctx.origin).await?;
    Ok(StatusCode::OK.into_response())
}

/// The password was right but the account has a TOTP factor and no code
/// came: 401 in Aria's envelope, saying what to do instead.
fn second_factor_needed() -> AriaError {
    AriaError {
        failures: vec![(
            "This account has a second factor (TOTP): send its current code as totpCode, \
             or call with an API key in Authorization: Bearer"
                .into(),
            "totpCode".into(),
        )],
        ..AriaError::new(
            StatusCode::UNAUTHORIZED,
            "Authentication failed: a second factor is required",
        )
    }
}
