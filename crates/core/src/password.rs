//! Password policy and hashing. Hashing is CPU-bound and deliberately slow
//! (Argon2id), so it runs on a small pool of its own threads, off the async
//! runtime, at a lower scheduling priority so that a burst of password
//! work slows other requests as little as possible. Work is admitted while
//! its expected wait (measured hash time × jobs ahead ÷ workers) stays
//! within a time budget, and refused at once beyond it with a
//! `Retry-After` of the excess: a burst is queued, not refused, as long as
//! it can be served in time, whatever the machine's speed.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq as _;
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
    /// This policy with a minimum length at least `min`.
    pub fn at_least(&self, min: Option<usize>) -> PasswordPolicy {
        let mut p = self.clone();
        if let Some(m) = min {
            p.min_length = p.min_length.max(m);
        }
        p
    }

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

type Job = Box<dyn FnOnce() + Send>;

/// Niceness of hashing threads: the scheduler then favours request handling.
const HASH_THREAD_NICE: i32 = 10;

/// Which queue a hasher feeds. Both share the pool's threads (and so their
/// per-thread working memory), but authenticated work always goes first:
/// a flood of anonymous logins can delay other logins, never the
/// administrator creating users or setting passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Work = 0,
    Login = 1,
}

struct Queues {
    lanes: [std::collections::VecDeque<Job>; 2],
    closed: bool,
}

/// The hashing threads and their two queues.
struct Pool {
    queues: Mutex<Queues>,
    ready: std::sync::Condvar,
}

impl Pool {
    fn start(workers: usize) -> Result<Arc<Pool>, CoreError> {
        let pool = Arc::new(Pool {
            queues: Mutex::new(Queues {
                lanes: Default::default(),
                closed: false,
            }),
            ready: std::sync::Condvar::new(),
        });
        for i in 0..workers {
            let pool = pool.clone();
            std::thread::Builder::new()
                .name(format!("roster-hash-{i}"))
                .spawn(move || {
                    lower_priority();
                    while let Some(job) = pool.next() {
                        job();
                    }
                })
                .map_err(CoreError::internal)?;
        }
        Ok(pool)
    }

    /// The next job, work before logins; `None` once closed and drained.
    fn next(&self) -> Option<Job> {
        let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(job) = q.lanes.iter_mut().find_map(|l| l.pop_front()) {
                return Some(job);
            }
            if q.closed {
                return None;
            }
            q = self.ready.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn send(&self, lane: Lane, job: Job) -> Result<(), CoreError> {
        let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        if q.closed {
            return Err(CoreError::internal("password hashing pool stopped"));
        }
        q.lanes[lane as usize].push_back(job);
        drop(q);
        self.ready.notify_one();
        Ok(())
    }

    fn close(&self) {
        self.queues.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        self.ready.notify_all();
    }
}

/// Held by every hasher sharing a pool; the last one to go stops its threads.
struct PoolHandle(Arc<Pool>);

impl Drop for PoolHandle {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // On Linux the nice value is per thread, so this affects only this one.
    // SAFETY: setpriority has no memory-safety preconditions.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, HASH_THREAD_NICE);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

/// How long a hash may expect to wait before it is refused, by default.
pub const DEFAULT_HASH_BUDGET: Duration = Duration::from_secs(2);

/// What the pool is doing, for admission by expected wait.
struct Load {
    workers: usize,
    /// Longest expected wait a new job is admitted with.
    budget: Duration,
    /// Jobs admitted and not yet finished (running or waiting).
    outstanding: AtomicUsize,
    /// Moving average of one job's duration, in nanoseconds.
    avg_nanos: AtomicU64,
}

impl Load {
    fn average(&self) -> Duration {
        Duration::from_nanos(self.avg_nanos.load(Ordering::Relaxed))
    }

    /// Expected wait of a job with `ahead` jobs admitted before it.
    fn wait_behind(&self, ahead: usize) -> Duration {
        let per_worker = u32::try_from(ahead / self.workers).unwrap_or(u32::MAX);
        self.average().saturating_mul(per_worker)
    }

    fn record(&self, took: Duration) {
        let sample = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        // Weight 1/8: follows a changed machine load within a few dozen
        // hashes without jumping on one slow one. Races only lose a sample.
        let old = self.avg_nanos.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        };
        self.avg_nanos.store(new, Ordering::Relaxed);
    }
}

/// One admitted job; leaving (done or cancelled) frees its place.
struct Admitted(Arc<Load>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::AcqRel);
    }
}

fn whole_secs_at_least_one(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

#[derive(Clone)]
pub struct PasswordHasher {
    argon: Argon2<'static>,
    params: Params,
    /// Hard cap on hashes running or waiting, whatever the budget says:
    /// bounds the memory queued requests hold.
    admission: Arc<Semaphore>,
    load: Arc<Load>,
    pool: Arc<PoolHandle>,
    lane: Lane,
    /// Verifying against this when a user has no hash keeps the time of a
    /// failed login independent of whether the username exists.
    dummy_hash: Arc<String>,
}

impl PasswordHasher {
    pub fn new(cost: HashCost, workers: usize, queue: usize) -> Result<Self, CoreError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(CoreError::internal)?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let workers = workers.max(1);
        let pool = PoolHandle(Pool::start(workers)?);
        // Hashed on the pool, so the caller's thread keeps no working memory.
        // A second, timed hash is the first estimate of a hash's duration:
        // the first one pays for faulting in the working memory and would
        // make the estimate several times too high (measured: 38 of 64
        // distinct creates refused right after start).
        let (tx, rx) = mpsc::channel();
        let (a, p) = (argon.clone(), params.clone());
        pool.0.send(
            Lane::Work,
            Box::new(move || {
                let _ = hash_with(&a, &p, b"roster-warm-up");
                let started = Instant::now();
                let hash = hash_with(&a, &p, b"roster-dummy-password");
                let _ = tx.send((hash, started.elapsed()));
            }),
        )?;
        let (dummy, took) = rx.recv().map_err(CoreError::internal)?;
        let dummy = dummy?;
        let load = Load {
            workers,
            budget: DEFAULT_HASH_BUDGET,
            outstanding: AtomicUsize::new(0),
            avg_nanos: AtomicU64::new(0),
        };
        load.record(took);
        Ok(Self {
            argon,
            params,
            admission: Arc::new(Semaphore::new(workers + queue)),
            load: Arc::new(load),
            pool: Arc::new(pool),
            lane: Lane::Work,
            dummy_hash: Arc::new(dummy),
        })
    }

    /// A hasher on the same threads feeding `lane`, with an admission
    /// budget and queue of its own.
    pub fn lane(&self, lane: Lane, queue: usize) -> Self {
        let mut other = self.clone();
        other.lane = lane;
        other.admission = Arc::new(Semaphore::new(self.load.workers + queue));
        other.with_budget(self.load.budget)
    }

    /// The same hasher admitting work while its expected wait is at most
    /// `budget` (default [`DEFAULT_HASH_BUDGET`]). Call before cloning.
    pub fn with_budget(mut self, budget: Duration) -> Self {
        self.load = Arc::new(Load {
            workers: self.load.workers,
            budget,
            outstanding: AtomicUsize::new(0),
            avg_nanos: AtomicU64::new(self.load.avg_nanos.load(Ordering::Relaxed)),
        });
        self
    }

    /// Admits a job if it can expect to start within the budget.
    fn admit(&self) -> Result<(Admitted, tokio::sync::OwnedSemaphorePermit), CoreError> {
        let load = &self.load;
        let ahead = load.outstanding.fetch_add(1, Ordering::AcqRel);
        let admitted = Admitted(load.clone());
        let wait = load.wait_behind(ahead);
        if wait > load.budget {
            // Retry when the queue ahead has shrunk to fit the budget.
            return Err(CoreError::Overloaded {
                retry_after_secs: whole_secs_at_least_one(wait - load.budget),
            });
        }
        let permit =
            self.admission
                .clone()
                .try_acquire_owned()
                .map_err(|_| CoreError::Overloaded {
                    retry_after_secs: whole_secs_at_least_one(wait),
                })?;
        Ok((admitted, permit))
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Argon2<'static>, &Params) -> T + Send + 'static,
    ) -> Result<T, CoreError> {
        let (admitted, _permit) = self.admit()?;
        let argon = self.argon.clone();
        let params = self.params.clone();
        let span = tracing::Span::current();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let load = self.load.clone();
        self.pool.0.send(
            self.lane,
            Box::new(move || {
                let started = Instant::now();
                let out = span.in_scope(|| job(&argon, &params));
                load.record(started.elapsed());
                // Leaves the queue here, not when the caller wakes up: a
                // cancelled request's job must not count once it is done.
                drop(admitted);
                let _ = tx.send(out);
            }),
        )?;
        rx.await
            .map_err(|_| CoreError::internal("password hashing job lost"))
    }

    pub async fn hash(&self, password: &Secret) -> Result<String, CoreError> {
        let pw = password.clone();
        self.run(move |argon, params| hash_with(argon, params, pw.expose().as_bytes()))
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
        self.run(move |_, _| verify_with(pw.expose().as_bytes(), &stored) && real)
            .await
    }
}

thread_local! {
    /// Each hashing thread keeps its Argon2 working memory between hashes.
    /// Allocating 19 MiB per hash costs a page fault per 4 KiB and lets the
    /// allocator's heaps grow far past what is in use (measured: 400 MB RSS
    /// after a few seconds of password creates, against about 50 MB here).
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    MEMORY.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() != blocks {
            *m = vec![Block::new(); blocks];
        }
        f(&mut m[..])
    })
}

/// Hashes into a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
fn hash_with(argon: &Argon2<'_>, params: &Params, password: &[u8]) -> Result<String, CoreError> {
    let salt_bytes = argon2::password_hash::generate_salt();
    let mut out = [0u8; 32];
    with_memory(params.block_count(), |mem| {
        argon.hash_password_into_with_memory(password, &salt_bytes, &mut out, mem)
    })
    .map_err(CoreError::internal)?;
    let phc = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(CoreError::internal)?,
        salt: Some(Salt::new(&salt_bytes).map_err(CoreError::internal)?),
        hash: Some(Output::new(&out).map_err(CoreError::internal)?),
    };
    Ok(phc.to_string())
}

/// Recomputes with the stored hash's own parameters and compares in
/// constant time.
fn verify_with(password: &[u8], stored: &str) -> bool {
    let Ok(phc) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return false;
    };
    if phc.algorithm != ARGON2ID_IDENT {
        return false;
    }
    let Ok(params) = Params::try_from(&phc) else {
        return false;
    };
    let version = phc
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or(Version::V0x13);
    let argon = Argon2::new(Algorithm::Argon2id, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    let computed = with_memory(params.block_count(), |mem| {
        argon.hash_password_into_with_memory(password, salt, &mut out, mem)
    });
    computed.is_ok() && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_work_runs_before_queued_logins_and_threads_stop_with_the_last_hasher() {
        let pool = PoolHandle(Pool::start(1).unwrap());
        let (release, blocked) = mpsc::channel::<()>();
        let order = Arc::new(Mutex::new(Vec::new()));
        pool.0
            .send(
                Lane::Work,
                Box::new(move || {
                    let _ = blocked.recv();
                }),
            )
            .unwrap();
        for (lane, name) in [
            (Lane::Login, "login-1"),
            (Lane::Login, "login-2"),
            (Lane::Work, "work"),
            (Lane::Login, "login-3"),
        ] {
            let order = order.clone();
            pool.0
                .send(lane, Box::new(move || order.lock().unwrap().push(name)))
                .unwrap();
        }
        let (done, finished) = mpsc::channel();
        pool.0
            .send(Lane::Login, Box::new(move || done.send(()).unwrap()))
            .unwrap();
        release.send(()).unwrap();
        finished.recv().unwrap();
        assert_eq!(
            *order.lock().unwrap(),
            ["work", "login-1", "login-2", "login-3"]
        );
        let inner = pool.0.clone();
        drop(pool);
        assert!(inner.send(Lane::Work, Box::new(|| {})).is_err());
    }

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
        assert!(!h.verify(&pw, Some("not a phc string")).await.unwrap());
    }

    #[test]
    fn hashes_interoperate_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let params = Params::new(64, 1, 1, None).unwrap();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        // Ours verify with the crate's verifier...
        let ours = hash_with(&argon, &params, b"pw-one-two").unwrap();
        assert!(argon.verify_password(b"pw-one-two", ours.as_str()).is_ok());
        assert!(argon.verify_password(b"pw-one-twO", ours.as_str()).is_err());
        // ...and the crate's (other cost, too) verify with ours.
        let other = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(128, 2, 1, None).unwrap(),
        );
        let theirs = other.hash_password(b"pw-three").unwrap().to_string();
        assert!(verify_with(b"pw-three", &theirs));
        assert!(!verify_with(b"pw-four", &theirs));
    }
}
