//! How failed secret checks slow down further ones (docs/ACCESS_MODEL.md,
//! rule 4). The counters themselves live in the store, shared by nodes.

/// How failed password checks slow down further ones. Failures are counted
/// per account *and source*, and per account across all sources; past the
/// free failures each further one doubles the wait (1 s, 2 s, 4 s, ...) up
/// to a ceiling. Nothing here disables API keys or live tokens.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    /// Free failures from one source before back-off starts.
    pub threshold: u32,
    /// The longest wait for one source, in seconds.
    pub lock_secs: u64,
    /// Free failures of an account across all sources.
    pub account_threshold: u32,
    /// The longest account-wide wait: bounded low, so that nobody can keep
    /// an account from signing in for long.
    pub account_lock_secs: u64,
    /// Failures older than this are forgiven.
    pub window_secs: u64,
    /// The first wait; each further failure doubles it.
    pub first_wait_secs: u64,
}

impl LockoutPolicy {
    pub fn new(threshold: u32, lock_secs: u64) -> Self {
        let threshold = threshold.max(1);
        Self {
            threshold,
            lock_secs,
            account_threshold: threshold.saturating_mul(10),
            account_lock_secs: lock_secs.min(60),
            window_secs: lock_secs.max(900),
            first_wait_secs: 1,
        }
    }

    /// The wait after the `failures`-th failure in a row: none before
    /// `free` failures, then `first_wait_secs`, doubling with each further
    /// one, at most `max`.
    pub fn backoff_secs(&self, failures: u64, free: u32, max: u64) -> Option<u64> {
        let over = (failures + 1).checked_sub(u64::from(free.max(1)))?;
        if over == 0 || max == 0 {
            return None;
        }
        let doubling = 1u64
            .checked_shl((over - 1).min(62) as u32)
            .unwrap_or(u64::MAX);
        Some(
            self.first_wait_secs
                .max(1)
                .saturating_mul(doubling)
                .min(max),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::LockoutPolicy;

    #[test]
    fn backoff_doubles_after_the_free_failures_up_to_the_ceiling() {
        let p = LockoutPolicy::new(10, 900);
        let waits: Vec<_> = (1..=22).map(|n| p.backoff_secs(n, 10, 900)).collect();
        assert!(waits[..9].iter().all(Option::is_none));
        assert_eq!(waits[9], Some(1));
        assert_eq!(waits[10], Some(2));
        assert_eq!(waits[11], Some(4));
        assert_eq!(waits[21], Some(900));
        assert_eq!(p.backoff_secs(u64::MAX - 1, 10, 60), Some(60));
        assert_eq!((p.account_threshold, p.account_lock_secs), (100, 60));
    }
}
