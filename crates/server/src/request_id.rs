//! Gives every request an id (the client's `X-Request-Id` when it is sane,
//! otherwise a new UUIDv7), puts it in a tracing span so every log line of
//! the request carries it, makes it available to error bodies, and echoes it
//! in the response. Also logs one line per request.

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::response::Response;
use tracing::Instrument as _;

pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled, if any.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A UUIDv7 whose random part comes from the thread's generator (seeded
/// from the OS once) rather than a `getrandom` call: this runs on every
/// request, and an id only has to be unique, not secret.
fn new_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    uuid::Builder::from_unix_timestamp_millis(ms, &rand::random())
        .into_uuid()
        .to_string()
}

/// Runs `handle` on `req` within the request's id (and its span), then
/// counts the answer for `face` and echoes the id.
pub async fn identified<F>(
    req: Request,
    face: &'static str,
    handle: impl FnOnce(Request) -> F,
) -> Response
where
    F: Future<Output = Response>,
{
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(new_id);
    let method = req.method().clone();
    // The path only: query strings may carry search terms a log should not keep.
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let started = Instant::now();
    let mut resp = REQUEST_ID
        .scope(id.clone(), handle(req).instrument(span.clone()))
        .await;
    let status = resp.status().as_u16();
    crate::metrics::record(face, status, started.elapsed());
    span.in_scope(|| {
        tracing::debug!(
            status,
            micros = started.elapsed().as_micros() as u64,
            "response"
        );
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(HEADER, v);
    }
    resp
}
