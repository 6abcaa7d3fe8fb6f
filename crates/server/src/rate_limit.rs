//! Per-address and per-credential request rate limits (token buckets, per
//! node). A request over either limit is refused with 429 and `Retry-After`.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use roster_core::CoreError;
use sha2::{Digest, Sha256};

use crate::face::Face;

pub struct Limits {
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_credential: DefaultKeyedRateLimiter<[u8; 16]>,
}

impl Limits {
    /// `None` when `per_second` is 0 (limits off).
    pub fn new(per_second: u32, burst: u32) -> Option<Arc<Self>> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(rate);
        let quota = Quota::per_second(rate).allow_burst(burst);
        let limits = Arc::new(Self {
            by_address: RateLimiter::keyed(quota),
            by_credential: RateLimiter::keyed(quota),
        });
        // Forget idle keys now and then so the maps stay small.
        let weak = Arc::downgrade(&limits);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(l) = weak.upgrade() else { break };
                l.by_address.retain_recent();
                l.by_credential.retain_recent();
            }
        });
        Some(limits)
    }

    fn check(&self, ip: Option<IpAddr>, credential: Option<[u8; 16]>) -> Result<(), u64> {
        let clock = DefaultClock::default();
        let wait = |not_until: governor::NotUntil<_>| {
            not_until
                .wait_time_from(clock.now())
                .as_secs_f64()
                .ceil()
                .max(1.0) as u64
        };
        if let Some(ip) = ip {
            self.by_address.check_key(&ip).map_err(wait)?;
        }
        if let Some(c) = credential {
            self.by_credential.check_key(&c).map_err(wait)?;
        }
        Ok(())
    }
}

/// Credentials are remembered only as a truncated hash.
fn credential_key(face: &dyn Face, req: &Request) -> Option<[u8; 16]> {
    let raw = face.credential(req.headers())?;
    let digest = Sha256::digest(raw.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    Some(key)
}

/// The refusal, in its face's envelope, of a request over its address's or
/// credential's rate; `None` lets it through.
pub fn refusal(limits: &Limits, face: &'static dyn Face, req: &Request) -> Option<Response> {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    limits
        .check(ip, credential_key(face, req))
        .err()
        .map(|retry_after_secs| face.error(CoreError::RateLimited { retry_after_secs }))
}
