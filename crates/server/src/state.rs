use std::sync::Arc;

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
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            rate_limit_per_second: 100_000,
            rate_limit_burst: 200_000,
            aria_token_idle_secs: 6 * 3600,
        }
    }
}

pub struct AppState {
    pub roster: Arc<Roster>,
    pub http: HttpConfig,
}
