//! Creates of one username take turns within this process, and a username
//! already taken is answered before any password is hashed: 64 racing
//! creates of one name then cost one hash, not 64 (which used to fill the
//! hashing queue and answer 503 to requests that were plain duplicates).
//! The database's unique index stays the real guard (other nodes, imports).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

use super::{Roster, from_store};
use crate::error::CoreResult;
use crate::store::StoreError;
use crate::user::username_key;

type Turns = Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>;

/// Usernames being created in this process.
#[derive(Default)]
pub(super) struct Claims(Turns);

/// This create's turn for its username; the next one starts when it drops.
pub(super) struct Claim {
    turns: Turns,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        self.guard.take();
        // Forget the name unless someone is waiting for it.
        if turns
            .get(&self.key)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            turns.remove(&self.key);
        }
    }
}

impl Roster {
    /// Waits for this username's turn, then answers 409 if it exists.
    pub(super) async fn claim_username(&self, username: &str) -> CoreResult<Claim> {
        let key = username_key(username);
        let lock = self
            .creating
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let claim = Claim {
            turns: self.creating.0.clone(),
            key,
            guard: Some(lock.lock_owned().await),
        };
        if self
            .store
            .user_for_login(&claim.key)
            .await
            .map_err(from_store("user"))?
            .is_some()
        {
            // The same answer the unique index gives.
            return Err(from_store("user")(StoreError::Conflict {
                field: "username",
            }));
        }
        Ok(claim)
    }
}
