//! Users in JSON, written straight into one response buffer.
//!
//! serde's derive hands every field name to serde_json, which escapes it
//! byte by byte on every response, and `time`'s serde support formats each
//! timestamp into a `String` first: for a page of 50 users that was a
//! quarter of the request (callgrind: `format_escaped_str` 24 %). The
//! types here write their fields' names as the constants they are. Their
//! `Serialize` derive stays the definition: a property test checks the
//! bytes written here are the bytes serde_json writes for it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// The token [`Object`] writes for a member's name: `,"name":`, made at
/// compile time. Names are plain ASCII without anything JSON escapes.
macro_rules! key {
    ($name:literal) => {
        concat!(",\"", $name, "\":")
    };
}
pub(crate) use key;

/// About how many bytes one user takes in JSON, to size buffers.
pub const USER_BYTES: usize = 768;

/// A value that writes its own JSON: byte for byte what serde_json writes
/// for its `Serialize` implementation.
pub trait WriteJson: Serialize {
    /// Fails only where serde_json would (a timestamp out of RFC 3339's
    /// range of years).
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), time::error::Format>;
}

/// `value` as a JSON response, its buffer reserved for `capacity` bytes.
pub struct SizedJson<T>(pub T, pub usize);

impl<T: WriteJson> IntoResponse for SizedJson<T> {
    fn into_response(self) -> Response {
        let mut buf = Vec::with_capacity(self.1);
        match self.0.write_json(&mut buf) {
            Ok(()) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                buf,
            )
                .into_response(),
            Err(e) => {
                // A stored timestamp outside years 0–9999: not the
                // client's doing.
                tracing::error!(error = %e, "response did not serialise");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// Writes a JSON object's members in order: `{` on creation, `}` on
/// [`Object::end`].
pub struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Object<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Object { out, first: true }
    }

    /// Writes a member's name as one copy of its token (see [`key!`]):
    /// four small writes a name were 9 % of a page of 50 (callgrind).
    fn key(&mut self, token: &'static str) -> &mut Vec<u8> {
        debug_assert!(
            token.starts_with(",\"")
                && token.ends_with("\":")
                && !token[2..token.len() - 2].bytes().any(needs_escape)
        );
        let token = if self.first { &token[1..] } else { token };
        self.first = false;
        self.out.extend_from_slice(token.as_bytes());
        self.out
    }

    pub fn str(&mut self, token: &'static str, v: &str) {
        string(self.key(token), v);
    }

    pub fn opt_str(&mut self, token: &'static str, v: Option<&str>) {
        let out = self.key(token);
        match v {
            Some(v) => string(out, v),
            None => out.extend_from_slice(b"null"),
        }
    }

    pub fn int(&mut self, token: &'static str, v: i64) {
        let out = self.key(token);
        out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    pub fn opt_int(&mut self, token: &'static str, v: Option<i64>) {
        match v {
            Some(v) => self.int(token, v),
            None => self.key(token).extend_from_slice(b"null"),
        }
    }

    pub fn bool(&mut self, token: &'static str, v: bool) {
        let text: &[u8] = if v { b"true" } else { b"false" };
        self.key(token).extend_from_slice(text);
    }

    pub fn uuid(&mut self, token: &'static str, v: Uuid) {
        let out = self.key(token);
        out.push(b'"');
        out.extend_from_slice(
            v.hyphenated()
                .encode_lower(&mut Uuid::encode_buffer())
                .as_bytes(),
        );
        out.push(b'"');
    }

    /// As `time::serde::rfc3339`.
    pub fn time(
        &mut self,
        token: &'static str,
        v: OffsetDateTime,
    ) -> Result<(), time::error::Format> {
        let out = self.key(token);
        out.push(b'"');
        v.format_into(out, &Rfc3339)?;
        out.push(b'"');
        Ok(())
    }

    /// As `time::serde::rfc3339::option`.
    pub fn opt_time(
        &mut self,
        token: &'static str,
        v: Option<OffsetDateTime>,
    ) -> Result<(), time::error::Format> {
        match v {
            Some(v) => self.time(token, v),
            None => {
                self.key(token).extend_from_slice(b"null");
                Ok(())
            }
        }
    }

    /// Free-form JSON (custom attributes), through serde_json.
    pub fn map(&mut self, token: &'static str, v: &Map<String, Value>) {
        let out = self.key(token);
        // Writing JSON values into a Vec cannot fail: their keys are strings.
        serde_json::to_writer(&mut *out, v).unwrap_or(());
    }

    /// A member whose value the caller writes.
    pub fn raw(&mut self, token: &'static str) -> &mut Vec<u8> {
        self.key(token)
    }

    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// Whether serde_json escapes this byte inside a string.
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// A JSON string, escaped as serde_json escapes it.
pub fn string(out: &mut Vec<u8>, v: &str) {
    // Without an early exit the check runs over whole words at a time.
    if v.bytes().fold(false, |any, b| any | needs_escape(b)) {
        serde_json::to_writer(&mut *out, v).unwrap_or(());
    } else {
        out.push(b'"');
        out.extend_from_slice(v.as_bytes());
        out.push(b'"');
    }
}
