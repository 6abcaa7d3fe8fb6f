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

/// One face's handles: looking a metric up by name and labels in the
/// registry on every request cost ~2,500 instructions (callgrind of a GET),
/// a handle's increment a few dozen.
struct FaceMetrics {
    face: &'static str,
    /// By status class: 2xx, 3xx, 4xx, 5xx.
    requests: [metrics::Counter; 4],
    duration: metrics::Histogram,
}

impl FaceMetrics {
    fn register(face: &'static str) -> Self {
        let requests = ["2xx", "3xx", "4xx", "5xx"].map(|class| {
            metrics::counter!("roster_http_requests_total", "face" => face, "status" => class)
        });
        let duration = metrics::histogram!("roster_http_request_duration_seconds", "face" => face);
        Self {
            face,
            requests,
            duration,
        }
    }
}

thread_local! {
    /// Per thread, so that no request waits for another's lock; a face's
    /// handles on every thread point at the same metric in the registry.
    static FACES: std::cell::RefCell<Vec<FaceMetrics>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Counts one answered request of a face (its [`crate::face::Face::name`]).
pub fn record(face: &'static str, status: u16, took: Duration) {
    if handle().is_none() {
        return;
    }
    let class = match status {
        200..=299 => 0,
        300..=399 => 1,
        400..=499 => 2,
        _ => 3,
    };
    FACES.with_borrow_mut(|faces| {
        let i = match faces.iter().position(|f| f.face == face) {
            Some(i) => i,
            None => {
                faces.push(FaceMetrics::register(face));
                faces.len() - 1
            }
        };
        faces[i].requests[class].increment(1);
        faces[i].duration.record(took.as_secs_f64());
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    /// Handles kept per thread still count into one series per face and
    /// class, from every thread.
    #[test]
    fn cached_handles_count_each_class_of_each_face_from_every_thread() {
        let took = Duration::from_millis(3);
        record("metrics-test-face", 200, took);
        record("metrics-test-face", 404, took);
        record("metrics-test-other", 503, took);
        std::thread::spawn(move || {
            record("metrics-test-face", 201, took);
            record("metrics-test-face", 302, took);
        })
        .join()
        .unwrap();
        record("metrics-test-face", 422, took);
        let text = handle().expect("the recorder is installed").render();
        let count = |face: &str, class: &str| {
            let prefix =
                format!(r#"roster_http_requests_total{{face="{face}",status="{class}"}} "#);
            line(&text, &prefix).map(|l| l[prefix.len()..].to_string())
        };
        for (face, class, expected) in [
            ("metrics-test-face", "2xx", "2"),
            ("metrics-test-face", "3xx", "1"),
            ("metrics-test-face", "4xx", "2"),
            ("metrics-test-face", "5xx", "0"),
            ("metrics-test-other", "5xx", "1"),
        ] {
            assert_eq!(
                count(face, class).as_deref(),
                Some(expected),
                "{face} {class}: {text}"
            );
        }
        let samples = r#"roster_http_request_duration_seconds_count{face="metrics-test-face"} "#;
        assert_eq!(
            line(&text, samples),
            Some(&*format!("{samples}5")),
            "{text}"
        );
    }
}
