//! Value helpers: D3 sends ids as numbers or numeric strings.

use super::*;

pub(super) fn text(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
}

pub(super) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn int_field(m: &Map<String, Value>, key: &str) -> Result<Option<i64>, Failure> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => int(v)
            .map(Some)
            .ok_or_else(|| fail(format!("{key} must be an integer."))),
    }
}

pub(super) fn ints(m: &Map<String, Value>, key: &str) -> Result<Vec<i64>, Failure> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| int(v).ok_or_else(|| fail(format!("{key} must hold integers."))))
            .collect(),
        Some(_) => Err(fail(format!("{key} must be an array."))),
    }
}

pub(super) fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The Windows time-zone ids D3 uses that public material names.
pub(super) const TIMEZONES: &[(i64, &str)] = &[
    (3, "Hawaiian Standard Time"),
    (5, "Pacific Standard Time"),
    (30, "W. Europe Standard Time"),
];

pub(super) fn timezone_name(id: i64) -> String {
    TIMEZONES
        .iter()
        .find(|(i, _)| *i == id)
        .map_or_else(|| id.to_string(), |(_, n)| n.to_string())
}

pub(super) fn timezone_id(user: &User) -> Option<i64> {
    user.profile
        .attributes
        .get("d3_timezone_id")
        .and_then(int)
        .or_else(|| {
            let tz = user.profile.timezone.as_deref()?;
            TIMEZONES.iter().find(|(_, n)| *n == tz).map(|(i, _)| *i)
        })
}

pub(super) async fn containers_by_seq(
    state: &AppState,
    ctx: &Ctx,
    seqs: &[i64],
) -> Result<Vec<Uuid>, Failure> {
    let mut out = Vec::new();
    for seq in seqs {
        match state.roster.container_by_seq(ctx, *seq).await {
            Ok(c) => out.push(c.id),
            Err(CoreError::NotFound(_)) => return Err(fail(format!("Site {seq} was not found."))),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

pub(super) async fn find_user(state: &AppState, ctx: &Ctx, username: &str) -> Result<User, Failure> {
    match state
        .roster
        .find_user(ctx, UserKey::Username(username.to_string()))
        .await
    {
        Err(CoreError::NotFound(_)) => Err(fail(format!("User '{username}' was not found."))),
        other => Ok(other?),
    }
}
