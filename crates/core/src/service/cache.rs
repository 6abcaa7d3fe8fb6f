//! Remembers recently authenticated API keys (by hash) so that a busy
//! client does not cost a key lookup per request.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::auth::Principal;

pub struct AuthCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, (Principal, Instant)>>,
}

const AUTH_CACHE_MAX: usize = 10_000;

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
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

    pub fn put(&self, key: String, principal: Principal, valid_until: Option<Instant>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut until = Instant::now() + self.ttl;
        if let Some(limit) = valid_until {
            until = until.min(limit);
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
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
        entries.retain(|_, (p, _)| p.user_id != user_id);
    }

    /// Changes to roles or groups may touch anyone's grants.
    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}
