//! Remembers recently authenticated API keys (by hash) so that a busy
//! client does not cost a key lookup per request.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::auth::Principal;

pub struct AuthCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, (Principal, Instant)>>,
    /// Moves on with every forget, under the write lock: a principal read
    /// from the store before a forget is not cached after it.
    generation: AtomicU64,
}

const AUTH_CACHE_MAX: usize = 10_000;

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    pub fn get(&self, key: &str) -> Option<Principal> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(p, _)| p.clone())
    }

    /// Where forgetting stands; read it before looking a credential up and
    /// hand it to [`Self::put`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches a principal read when the cache stood at `seen`, unless
    /// something was forgotten since (it may have been this one: a
    /// revocation announced while the lookup ran).
    pub fn put(&self, key: String, principal: Principal, valid_until: Option<Instant>, seen: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut until = Instant::now() + self.ttl;
        if let Some(limit) = valid_until {
            until = until.min(limit);
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::Acquire) != seen {
            return;
        }
        if entries.len() >= AUTH_CACHE_MAX {
            let now = Instant::now();
            entries.retain(|_, (_, u)| *u > now);
            if entries.len() >= AUTH_CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(key, (principal, until));
    }

    /// Changes to a user (deactivation, deletion, grants) take effect here at once.
    pub fn forget_user(&self, user_id: Uuid) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, (p, _)| p.user_id != user_id);
    }

    /// Changes to roles or groups may touch anyone's grants.
    pub fn clear(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::CredentialKind;

    fn principal(user_id: Uuid) -> Principal {
        Principal {
            user_id,
            username: "u".into(),
            container_id: Uuid::nil(),
            grants: Vec::new(),
            restriction: None,
            enroll_only: false,
            credential: CredentialKind::ApiKey {
                key_id: Uuid::nil(),
            },
        }
    }

    #[test]
    fn a_lookup_overtaken_by_a_forget_is_not_cached() {
        let cache = AuthCache::new(Duration::from_secs(60));
        let user = Uuid::now_v7();
        // The key is read from the store; meanwhile another node announces
        // its revocation; then the stale read comes back.
        let seen = cache.generation();
        cache.forget_user(user);
        cache.put("k".into(), principal(user), None, seen);
        assert!(cache.get("k").is_none());
        // A lookup that nothing overtook is cached.
        let seen = cache.generation();
        cache.put("k".into(), principal(user), None, seen);
        assert!(cache.get("k").is_some());
        let seen = cache.generation();
        cache.clear();
        cache.put("j".into(), principal(user), None, seen);
        assert!(cache.get("j").is_none());
    }
}
