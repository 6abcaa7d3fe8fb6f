//! Small helpers the model's `validate` functions share, so each rule's
//! wording and rule name live in one place.

use crate::error::FieldError;

/// Collects every broken rule of one input instead of stopping at the first,
/// so a client can fix a request in one round trip.
#[derive(Default)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    pub fn push(&mut self, field: &str, rule: &'static str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, rule, message));
    }

    pub fn into_result(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }

    /// Text field: at most `max` characters and no control characters.
    pub fn text(&mut self, field: &str, value: Option<&str>, max: usize) {
        let Some(v) = value else { return };
        let len = v.chars().count();
        if len > max {
            self.push(
                field,
                "max_length",
                format!("must be at most {max} characters (got {len})"),
            );
        }
        if v.chars().any(char::is_control) {
            self.push(
                field,
                "no_control_characters",
                "must not contain control characters",
            );
        }
    }

    /// A map of custom values: bounded in keys, key length and size.
    pub fn attributes(&mut self, field: &str, map: &serde_json::Map<String, serde_json::Value>) {
        use crate::user::{ATTRIBUTES_MAX_BYTES, ATTRIBUTES_MAX_KEYS};
        if map.len() > ATTRIBUTES_MAX_KEYS {
            self.push(
                field,
                "max_keys",
                format!("must have at most {ATTRIBUTES_MAX_KEYS} keys"),
            );
        }
        for key in map.keys() {
            if key.is_empty() || key.chars().count() > 128 || key.chars().any(char::is_control) {
                self.push(
                    &format!("{field}.{key}"),
                    "key",
                    "attribute names must be 1-128 characters without control characters",
                );
            }
        }
        if map.values().any(holds_nul) {
            self.push(
                field,
                "no_nul",
                "values must not contain the character U+0000",
            );
        }
        if serde_json::to_vec(map)
            .map(|v| v.len())
            .unwrap_or(usize::MAX)
            > ATTRIBUTES_MAX_BYTES
        {
            self.push(
                field,
                "max_size",
                format!("must serialise to at most {ATTRIBUTES_MAX_BYTES} bytes"),
            );
        }
    }

    /// Text field that may not be empty when present.
    pub fn required_text(&mut self, field: &str, value: &str, max: usize) {
        if value.is_empty() {
            self.push(field, "required", "must not be empty");
            return;
        }
        self.text(field, Some(value), max);
    }
}

/// Whether a JSON value holds U+0000 anywhere (no database text stores it
/// everywhere: PostgreSQL refuses it).
fn holds_nul(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(holds_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}
