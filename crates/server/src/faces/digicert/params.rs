//! Reading DigiCert request bodies and integer ids.

use super::*;

pub(super) fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, DcError> {
    parse_json(bytes).map_err(DcError::from)
}

/// A body with the fields DigiCert documents for the endpoint; any other
/// field is ignored (logged at debug), the documented ones are checked.
pub(super) fn known_body<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    known: &[&str],
) -> Result<T, DcError> {
    crate::extract::parse_known(bytes, known).map_err(DcError::from)
}

/// DigiCert sends integer ids as numbers or numeric strings.
pub(super) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn ints(v: Option<&Value>, field: &str) -> Result<Option<Vec<i64>>, DcError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                int(i).ok_or_else(|| DcError::bad(field, format!("{field} must hold integer ids")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(DcError::bad(field, format!("{field} must be an array"))),
    }
}

pub(super) fn seq_path(raw: &str, what: &str) -> Result<i64, DcError> {
    raw.parse().map_err(|_| DcError::not_found(what))
}

pub(super) fn time_text(t: Option<OffsetDateTime>) -> Value {
    t.and_then(|t| t.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}
