//! Password policy and hashing. Hashing is CPU-bound and deliberately slow
//! (Argon2id), so it runs on a bounded set of blocking threads; work beyond
//! that bound is refused at once rather than queued without limit.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::Secret;
use crate::error::{CoreError, FieldError};

#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub max_length: usize,
    pub reject_common: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 256,
            reject_common: true,
        }
    }
}

impl PasswordPolicy {
    /// `field` names the input in the error, since faces call it differently.
    pub fn check(&self, field: &str, password: &Secret, username: &str) -> Result<(), FieldError> {
        let pw = password.expose();
        let len = pw.chars().count();
        if len < self.min_length {
            return Err(FieldError::new(
                field,
                "min_length",
                format!("must be at least {} characters", self.min_length),
            ));
        }
        if len > self.max_length {
            return Err(FieldError::new(
                field,
                "max_length",
                format!("must be at most {} characters", self.max_length),
            ));
        }
        if pw.chars().any(char::is_control) {
            return Err(FieldError::new(
                field,
                "no_control_characters",
                "must not contain control characters",
            ));
        }
        if self.reject_common
            && (crate::common_passwords::is_common(pw) || pw.eq_ignore_ascii_case(username))
        {
            return Err(FieldError::new(
                field,
                "common_password",
                "is too common or equal to the username; choose another",
            ));
        }
        Ok(())
    }
}

/// Argon2id cost. The default is OWASP's recommendation (m=19 MiB, t=2, p=1).
#[derive(Debug, Clone, Copy)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashCost {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    argon: Argon2<'static>,
    /// How many hashes may run or wait; beyond this requests are refused.
    admission: Arc<Semaphore>,
    /// How many hashes run at once (blocking threads).
    running: Arc<Semaphore>,
    /// Verifying against this when a user has no hash keeps the time of a
    /// failed login independent of whether the username exists.
    dummy_hash: Arc<String>,
}

impl PasswordHasher {
    pub fn new(cost: HashCost, workers: usize, queue: usize) -> Result<Self, CoreError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(CoreError::internal)?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let workers = workers.max(1);
        let dummy = argon
            .hash_password(b"roster-dummy-password")
            .map_err(CoreError::internal)?
            .to_string();
        Ok(Self {
            argon,
            admission: Arc::new(Semaphore::new(workers + queue)),
            running: Arc::new(Semaphore::new(workers)),
            dummy_hash: Arc::new(dummy),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, CoreError> {
        let _admitted =
            self.admission
                .clone()
                .try_acquire_owned()
                .map_err(|_| CoreError::Overloaded {
                    retry_after_secs: 1,
                })?;
        let _running = self.running.acquire().await.map_err(CoreError::internal)?;
        let argon = self.argon.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| job(&argon)))
            .await
            .map_err(CoreError::internal)
    }

    pub async fn hash(&self, password: &Secret) -> Result<String, CoreError> {
        let pw = password.clone();
        self.run(move |argon| {
            argon
                .hash_password(pw.expose().as_bytes())
                .map(|h| h.to_string())
                .map_err(CoreError::internal)
        })
        .await?
    }

    /// Verifies in constant time; with `None` it verifies against a dummy
    /// hash and returns false, taking as long as a real check.
    pub async fn verify(&self, password: &Secret, hash: Option<&str>) -> Result<bool, CoreError> {
        let pw = password.clone();
        let (stored, real) = match hash {
            Some(h) => (h.to_string(), true),
            None => (self.dummy_hash.as_ref().clone(), false),
        };
        self.run(move |argon| {
            let ok = argon
                .verify_password(pw.expose().as_bytes(), stored.as_str())
                .is_ok();
            ok && real
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_accepts_seed_examples_and_rejects_weak() {
        let p = PasswordPolicy::default();
        assert!(
            p.check("password", &Secret::new("Test@123"), "test")
                .is_ok()
        );
        assert!(
            p.check("password", &Secret::new("ThisIsASuperLongPassword"), "x")
                .is_ok()
        );
        assert_eq!(
            p.check("password", &Secret::new("short"), "x")
                .unwrap_err()
                .rule,
            "min_length"
        );
        assert_eq!(
            p.check("password", &Secret::new("password123"), "x")
                .unwrap_err()
                .rule,
            "common_password"
        );
        assert_eq!(
            p.check("password", &Secret::new("AliceAlice"), "alicealice")
                .unwrap_err()
                .rule,
            "common_password"
        );
        assert_eq!(
            p.check("password", &Secret::new("x".repeat(257)), "a")
                .unwrap_err()
                .rule,
            "max_length"
        );
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let cheap = HashCost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        let h = PasswordHasher::new(cheap, 1, 1).unwrap();
        let pw = Secret::new("correct horse battery");
        let hash = h.hash(&pw).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(h.verify(&pw, Some(&hash)).await.unwrap());
        assert!(!h.verify(&Secret::new("wrong"), Some(&hash)).await.unwrap());
        assert!(!h.verify(&pw, None).await.unwrap());
    }
}
