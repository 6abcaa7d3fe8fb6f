//! Reading AttackForge request bodies and ids.

use super::*;

pub(super) fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, AfError> {
    parse_json(bytes).map_err(AfError::from)
}

/// A body with the fields AttackForge documents for the endpoint; any other
/// field is ignored (logged at debug), the documented ones are checked.
pub(super) fn known_body<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    known: &[&str],
) -> Result<T, AfError> {
    crate::extract::parse_known(bytes, known).map_err(AfError::from)
}

pub(super) fn id(raw: &str) -> Result<Uuid, AfError> {
    Uuid::parse_str(raw).map_err(|_| AfError::from(CoreError::NotFound("user")))
}

pub(super) fn group_id(raw: &str) -> Result<Uuid, AfError> {
    Uuid::parse_str(raw).map_err(|_| AfError::from(CoreError::NotFound("group")))
}

pub(super) fn time_text(t: Option<OffsetDateTime>) -> Value {
    t.and_then(|t| t.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

pub(super) fn yes_no(b: bool) -> &'static str {
    if b { "Yes" } else { "No" }
}
