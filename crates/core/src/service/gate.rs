//! The per-source rate of secret checks (logins, current passwords, TOTP
//! codes), decided before any hashing: a flood of guesses from one address
//! is refused cheaply instead of filling the login hashing queue. Per node
//! and in memory, like the HTTP rate limits; the back-off that must hold
//! across nodes lives in the database (`LockoutPolicy`).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::{CoreError, CoreResult};

pub struct LoginGate {
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    checks: AtomicU64,
}

impl LoginGate {
    /// `per_second` 0 turns the gate off.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self {
            limiter,
            checks: AtomicU64::new(0),
        }
    }

    pub fn check(&self, source: &str) -> CoreResult<()> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        // Forget quiet sources now and then so the map stays small.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            limiter.retain_recent();
        }
        limiter.check_key(&source.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            CoreError::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_over_its_burst_waits_others_do_not() {
        let gate = LoginGate::new(1, 3);
        for _ in 0..3 {
            assert!(gate.check("10.0.0.1").is_ok());
        }
        assert!(matches!(
            gate.check("10.0.0.1"),
            Err(CoreError::RateLimited { .. })
        ));
        assert!(gate.check("10.0.0.2").is_ok());
        assert!(LoginGate::new(0, 0).check("x").is_ok());
    }
}
