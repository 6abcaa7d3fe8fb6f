//! Short-lived caches a busy server consults instead of the store:
//! recently authenticated API keys (by hash), so a busy client does not
//! cost a key lookup per request, and container ancestry, so authorizing a
//! scoped caller does not walk the container tree per request. Both drop
//! entries when told (here, or by another node) and forget on their own
//! after a short life, which bounds how long a missed announcement lasts.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::auth::Principal;

const CACHE_MAX: usize = 10_000;

/// A map whose entries expire, with a generation that every forget moves
/// on (under the write lock): a value read from the store before a forget
/// is not cached after it.
struct Expiring<K, V> {
    ttl: Duration,
    entries: RwLock<HashMap<K, (V, Instant)>>,
    generation: AtomicU64,
}

impl<K: Eq + Hash, V: Clone> Expiring<K, V> {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    fn get<Q: Eq + Hash + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
    {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(v, _)| v.clone())
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn put(&self, key: K, value: V, valid_until: Option<Instant>, seen: u64) {
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
        if entries.len() >= CACHE_MAX {
            let now = Instant::now();
            entries.retain(|_, (_, u)| *u > now);
            if entries.len() >= CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(key, (value, until));
    }

    fn forget_where(&self, mut drop: impl FnMut(&V) -> bool) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, (v, _)| !drop(v));
    }

    fn clear(&self) {
        self.forget_where(|_| true);
    }
}

pub struct AuthCache {
    keys: Expiring<String, Principal>,
}

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            keys: Expiring::new(ttl),
        }
    }

    pub fn get(&self, key: &str) -> Option<Principal> {
        self.keys.get(key)
    }

    /// Where forgetting stands; read it before looking a credential up and
    /// hand it to [`Self::put`].
    pub fn generation(&self) -> u64 {
        self.keys.generation()
    }

    /// Caches a principal read when the cache stood at `seen`, unless
    /// something was forgotten since (it may have been this one: a
    /// revocation announced while the lookup ran).
    pub fn put(&self, key: String, principal: Principal, valid_until: Option<Instant>, seen: u64) {
        self.keys.put(key, principal, valid_until, seen);
    }

    /// Changes to a user (deactivation, deletion, grants) take effect here at once.
    pub fn forget_user(&self, user_id: Uuid) {
        self.keys.forget_where(|p| p.user_id == user_id);
    }

    /// Changes to roles or groups may touch anyone's grants.
    pub fn clear(&self) {
        self.keys.clear();
    }
}

/// Each container's chain: itself, then its ancestors up to the root.
pub struct ChainCache {
    chains: Expiring<Uuid, Vec<Uuid>>,
}

impl ChainCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            chains: Expiring::new(ttl),
        }
    }

    pub fn get(&self, container: Uuid) -> Option<Vec<Uuid>> {
        self.chains.get(&container)
    }

    /// Read before reading the chain from the store; see [`AuthCache::generation`].
    pub fn generation(&self) -> u64 {
        self.chains.generation()
    }

    pub fn put(&self, container: Uuid, chain: Vec<Uuid>, seen: u64) {
        self.chains.put(container, chain, None, seen);
    }

    /// A container moved or went: any chain may have changed.
    pub fn clear(&self) {
        self.chains.clear();
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

    #[test]
    fn a_chain_read_before_a_move_is_not_cached_after_it() {
        let cache = ChainCache::new(Duration::from_secs(60));
        let (c, old, new) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let seen = cache.generation();
        cache.clear();
        cache.put(c, vec![c, old], seen);
        assert_eq!(cache.get(c), None);
        let seen = cache.generation();
        cache.put(c, vec![c, new], seen);
        assert_eq!(cache.get(c), Some(vec![c, new]));
        cache.clear();
        assert_eq!(cache.get(c), None);
        let off = ChainCache::new(Duration::ZERO);
        off.put(c, vec![c], off.generation());
        assert_eq!(off.get(c), None, "a zero life turns it off");
    }
}
