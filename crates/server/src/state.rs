use std::sync::Arc;
use std::time::Duration;

use roster_core::Roster;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Requests per second per address and per credential; 0 turns limits off.
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    /// Aria tokens lapse after this long unused (each use extends them).
    pub aria_token_idle_secs: u64,
    /// A client must send a request's whole header within this time; the
    /// wait for the next request on a kept-alive connection counts too.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and no bytes moving for this
    /// long is closed (also HTTP/2, and requests whose body stalls).
    pub idle_timeout: Duration,
    /// Largest request line plus headers, in bytes (431 above). Also caps
    /// what a connection buffers, so memory per client stays bounded.
    pub max_header_bytes: usize,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// After a stop signal, requests in flight get this long to finish;
    /// connections still open then are closed.
    pub shutdown_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            rate_limit_per_second: 100_000,
            rate_limit_burst: 200_000,
            aria_token_idle_secs: 6 * 3600,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 64 * 1024,
            max_connections: 2048,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

pub struct AppState {
    pub roster: Arc<Roster>,
    pub http: HttpConfig,
}
