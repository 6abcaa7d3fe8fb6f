//! JSON responses serialised into one buffer of about the right size.
//!
//! axum's `Json` starts from 128 bytes and doubles: a user (~600 bytes)
//! was copied three times over, a page of 50 (~30 KiB) eight times
//! (callgrind: memcpy and reallocation were 9 % of a list request).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// About how many bytes one user takes in JSON, to size buffers.
pub const USER_BYTES: usize = 768;

/// `value` as a JSON response, its buffer reserved for `capacity` bytes.
pub struct SizedJson<T>(pub T, pub usize);

impl<T: Serialize> IntoResponse for SizedJson<T> {
    fn into_response(self) -> Response {
        let mut buf = Vec::with_capacity(self.1);
        match serde_json::to_writer(&mut buf, &self.0) {
            Ok(()) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                buf,
            )
                .into_response(),
            Err(e) => {
                // Only a Serialize implementation can fail here (a map
                // with non-string keys): a bug, not the client's doing.
                tracing::error!(error = %e, "response did not serialise");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}
