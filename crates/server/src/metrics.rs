//! Prometheus metrics: requests and their latency per face and status
//! class, at `GET /metrics` (any valid credential; scrapers send a key as
//! `Authorization: Bearer`).

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::extract::Caller;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once (every app in a process shares it).
fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("roster_http_request_duration_seconds".into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ],
                )
                .ok()?
                .install_recorder()
                .ok()
                .inspect(start_upkeep)
        })
        .as_ref()
}

/// How often recorded histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The recorder keeps every histogram sample until upkeep folds it into
/// the buckets; without a scrape that was ~18 bytes per request, forever.
/// A thread of its own (not a task) so that it does not depend on which
/// runtime installed the recorder.
fn start_upkeep(handle: &PrometheusHandle) {
    let handle = handle.clone();
    let started = std::thread::Builder::new()
        .name("roster-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        });
    if let Err(e) = started {
        tracing::warn!(error = %e, "cannot start metrics upkeep; memory grows until /metrics is scraped");
    }
}

/// Counts one answered request of a face (its [`crate::face::Face::name`]).
pub fn record(face: &'static str, status: u16, took: Duration) {
    if handle().is_none() {
        return;
    }
    let class = match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::counter!("roster_http_requests_total", "face" => face, "status" => class).increment(1);
    metrics::histogram!("roster_http_request_duration_seconds", "face" => face)
        .record(took.as_secs_f64());
}

pub async fn endpoint(Caller(_): Caller) -> Response {
    let body = handle().map(PrometheusHandle::render).unwrap_or_default();
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    resp
}
