//! The services every face calls: authenticate, authorise, validate, one
//! store call (which writes the audit event in the same transaction), and
//! map what the store says into [`CoreError`]s.

mod access;
mod audit;
mod cache;
mod claims;
mod gate;
mod guard;
mod links;
mod login;
mod mfa;
mod users;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use rand::RngCore as _;
use time::OffsetDateTime;
use uuid::Uuid;

pub use self::access::{
    ContainerChange, ContainerInput, EffectiveGrant, GroupChange, GroupInput, NewKey,
    PrivilegeChange, RoleInput,
};
pub use self::audit::{CachedVerification, Verification, verify_audit_chain};
pub use self::links::{LinkInfo, ResetFor};

pub use self::login::LoginInput;
pub use self::mfa::Enrollment;
pub use self::users::{AccessChange, Created, UserChange, UserKey};
pub use self::webhooks::{EventPage, WebhookChange, WebhookInput};

use crate::Secret;
use crate::access::BUILTIN_ROLES;
use crate::access::ROOT_CONTAINER_ID;
use crate::audit::{AuditEvent, Origin, Outcome};
use crate::auth::{self, MIN_CONFIGURED_KEY_LEN, Principal, TokenSigner};
use crate::error::{CoreError, CoreResult, FieldError};
use crate::lockout::LockoutPolicy;
use crate::password::{HashCost, Lane, PasswordHasher, PasswordPolicy};
use crate::store::{Bootstrap, Invalidation, Store, StoreError};
use crate::user::NewUserRecord;
use crate::user::UserDraft;
use cache::{AuthCache, ChainCache};

#[derive(Debug, Clone)]
pub struct RosterConfig {
    pub password_policy: PasswordPolicy,
    pub hash_cost: HashCost,
    /// Threads hashing passwords at once.
    pub hash_workers: usize,
    /// Hard cap on hashes waiting for a thread; more are refused with
    /// `Overloaded` whatever the budget (bounds their memory).
    pub hash_queue: usize,
    /// Hashes are admitted while their expected wait is within this.
    pub hash_budget: Duration,
    pub token_ttl_secs: u64,
    /// Seconds a token is still accepted after it expires (clock skew).
    pub token_leeway_secs: u64,
    /// How long an authenticated API key is remembered in this process.
    /// Revocations made on other nodes take effect within this time.
    pub auth_cache_ttl: Duration,
    pub lockout: LockoutPolicy,
    /// Secret checks (logins, current passwords, TOTP codes) one source may
    /// start per second, and in a burst; 0 turns the limit off.
    pub login_rate_per_sec: u32,
    pub login_burst: u32,
    /// Soft-deleted users are purged by the housekeeping this many days
    /// after their deletion; 0 keeps them until purged by hand.
    pub user_purge_after_days: u32,
    /// Lifetimes and pacing of mailed links.
    pub links: LinkSettings,
    /// How webhooks are checked and delivered.
    pub webhooks: crate::webhook::WebhookSettings,
}

/// How long mailed links live, and how often a reset may be mailed.
#[derive(Debug, Clone, Copy)]
pub struct LinkSettings {
    pub invite_ttl_secs: u64,
    pub reset_ttl_secs: u64,
    pub verify_ttl_secs: u64,
    /// At most one reset mail per account within this many seconds.
    pub reset_interval_secs: u64,
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self {
            invite_ttl_secs: 72 * 3600,
            reset_ttl_secs: 30 * 60,
            verify_ttl_secs: 72 * 3600,
            reset_interval_secs: 60,
        }
    }
}

impl Default for RosterConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            password_policy: PasswordPolicy::default(),
            hash_cost: HashCost::default(),
            // Hashing threads run at a lower priority, so they may use every
            // core without starving request handling.
            hash_workers: cores,
            // The time budget decides; this only bounds memory.
            hash_queue: 1024,
            hash_budget: crate::password::DEFAULT_HASH_BUDGET,
            token_ttl_secs: 900,
            token_leeway_secs: 0,
            auth_cache_ttl: Duration::from_secs(5),
            lockout: LockoutPolicy::new(10, 900),
            login_rate_per_sec: 5,
            login_burst: 20,
            user_purge_after_days: 30,
            links: LinkSettings::default(),
            webhooks: crate::webhook::WebhookSettings::default(),
        }
    }
}

/// An authenticated request: who, and from where (for the audit trail).
#[derive(Debug, Clone)]
pub struct Ctx {
    pub who: Principal,
    pub origin: Origin,
}

impl Ctx {
    /// The operator at the machine, running the `roster` command against
    /// the database: every privilege over everything, and the audit
    /// trail's actor `cli` (no user id). The one place such power is made.
    pub fn operator() -> Self {
        Self {
            who: Principal {
                user_id: Uuid::nil(),
                username: auth::OPERATOR_ACTOR.into(),
                container_id: ROOT_CONTAINER_ID,
                grants: vec![crate::authz::Grant {
                    assignment_id: Uuid::nil(),
                    role_id: Uuid::nil(),
                    role_name: "operator".into(),
                    privileges: crate::authz::Privilege::ALL.to_vec(),
                    scope: crate::authz::Scope::All,
                    via_group: None,
                }],
                restriction: None,
                enroll_only: false,
                credential: auth::CredentialKind::Operator,
            },
            origin: Origin {
                request_id: None,
                source: Some(auth::OPERATOR_ACTOR.into()),
            },
        }
    }

    fn event(&self, action: &str) -> AuditEvent {
        AuditEvent::new(action, Outcome::Success, &self.origin).by(&self.who)
    }
}

pub struct Roster {
    store: Arc<dyn Store>,
    /// Hashing for authenticated work (creating users, setting passwords).
    hasher: PasswordHasher,
    /// Hashing for password checks, anonymous logins above all: the same
    /// threads, but a queue and budget of its own that they serve only when
    /// no authenticated work waits, so a flood of logins cannot starve
    /// administrators.
    login_hasher: PasswordHasher,
    login_gate: gate::LoginGate,
    policy: PasswordPolicy,
    lockout: LockoutPolicy,
    tokens: std::sync::RwLock<Arc<TokenSigner>>,
    token_ttl_secs: u64,
    token_leeway_secs: u64,
    auth_cache: Arc<AuthCache>,
    /// Container ancestry, dropped on every move or delete (here and, by
    /// announcement, on every node).
    chain_cache: Arc<ChainCache>,
    creating: claims::Claims,
    user_purge_after_days: u32,
    /// Where [`Roster::verify_audit_cached`] goes on from.
    audit_checkpoint: tokio::sync::Mutex<Option<audit::AuditCheckpoint>>,
    links: LinkSettings,
    /// Delivers mailed links; `None`: mail is not configured.
    mailer: Option<Arc<dyn crate::mail::Mailer>>,
    webhooks: crate::webhook::WebhookSettings,
}

/// What a client is told to wait when the disk refuses writes: long enough
/// for an operator or a log rotation to free space, short enough to notice.
const STORAGE_RETRY_AFTER_SECS: u64 = 5;

/// Rounds an update without `If-Match` may take when other writes keep
/// landing between its read and its write (each round lets one racer
/// through, so this is far more than racers ever need).
const UNCONDITIONAL_ROUNDS: u32 = 64;

/// A short random pause before reading again, so the same racers do not
/// meet again at once.
async fn backoff(round: u32) {
    let ms = rand::random_range(0..=u64::from(round.min(8)) + 1);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// An update without `If-Match` means "whatever the version is now": when
/// another change lands between reading and writing, `attempt` reads and
/// applies again, rather than answering a precondition the client never
/// set. With `If-Match`, one attempt: a stale version is the client's 412.
async fn unconditionally<T, F, Fut>(if_match: Option<i64>, mut attempt: F) -> CoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = CoreResult<T>>,
{
    if if_match.is_some() {
        return attempt().await;
    }
    for round in 0..UNCONDITIONAL_ROUNDS {
        match attempt().await {
            Err(CoreError::PreconditionFailed) => backoff(round).await,
            other => return other,
        }
    }
    Err(too_contended())
}

/// What an unconditional update answers when it never got its turn.
fn too_contended() -> CoreError {
    CoreError::StorageUnavailable {
        retry_after_secs: 1,
        message: "too many concurrent changes to one object".into(),
    }
}

/// Translates storage outcomes; `what` names the object for "not found".
fn from_store(what: &'static str) -> impl Fn(StoreError) -> CoreError {
    move |e| match e {
        StoreError::Conflict { field } => CoreError::Conflict(FieldError::new(
            field,
            "unique",
            format!("a {what} with this {field} already exists"),
        )),
        StoreError::MissingReference { field } => {
            CoreError::invalid(field, "exists", "refers to something that does not exist")
        }
        StoreError::InUse(why) => CoreError::Conflict(FieldError::new("id", "in_use", why)),
        StoreError::NotFound => CoreError::NotFound(what),
        StoreError::VersionMismatch => CoreError::PreconditionFailed,
        StoreError::Backend(msg) => CoreError::Internal(msg),
        StoreError::Unstorable => CoreError::invalid(
            "value",
            "unstorable",
            "contains a character that cannot be stored (U+0000)",
        ),
        StoreError::Unavailable(message) => CoreError::StorageUnavailable {
            retry_after_secs: STORAGE_RETRY_AFTER_SECS,
            message,
        },
    }
}

impl Roster {
    pub async fn new(store: Arc<dyn Store>, config: RosterConfig) -> CoreResult<Self> {
        let hasher = PasswordHasher::new(config.hash_cost, config.hash_workers, config.hash_queue)?
            .with_budget(config.hash_budget);
        let login_hasher = hasher.lane(Lane::Login, config.hash_queue);
        store
            .ensure_builtin_roles(BUILTIN_ROLES)
            .await
            .map_err(from_store("role"))?;
        let mut candidate = vec![0u8; 32];
        rand::rng().fill_bytes(&mut candidate);
        let secrets = store
            .signing_secrets(candidate)
            .await
            .map_err(from_store("signing key"))?;
        let chain_cache = Arc::new(ChainCache::new(config.auth_cache_ttl));
        Ok(Self {
            auth_cache: Self::shared_cache(&store, &chain_cache, config.auth_cache_ttl),
            chain_cache,
            store,
            hasher,
            login_hasher,
            login_gate: gate::LoginGate::new(config.login_rate_per_sec, config.login_burst),
            policy: config.password_policy,
            lockout: config.lockout,
            tokens: std::sync::RwLock::new(Arc::new(
                TokenSigner::new(&secrets, config.token_ttl_secs)?
                    .with_leeway(config.token_leeway_secs),
            )),
            token_ttl_secs: config.token_ttl_secs,
            token_leeway_secs: config.token_leeway_secs,
            user_purge_after_days: config.user_purge_after_days,
            links: config.links,
            mailer: None,
            webhooks: config.webhooks,
            creating: claims::Claims::default(),
            audit_checkpoint: tokio::sync::Mutex::new(None),
        })
    }

    /// Turns on the mailed flows (invitations, password reset, email
    /// verification) with this mailer.
    pub fn with_mailer(mut self, mailer: Arc<dyn crate::mail::Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// The credential cache, which also drops what other nodes announce
    /// (a key revoked on one node is refused by all within moments).
    fn shared_cache(
        store: &Arc<dyn Store>,
        chains: &Arc<ChainCache>,
        ttl: Duration,
    ) -> Arc<AuthCache> {
        let cache = Arc::new(AuthCache::new(ttl));
        if let Some(mut heard) = store.invalidations() {
            let cache = Arc::downgrade(&cache);
            let chains = Arc::downgrade(chains);
            tokio::spawn(async move {
                loop {
                    let what = heard.recv().await;
                    let (Some(cache), Some(chains)) = (cache.upgrade(), chains.upgrade()) else {
                        break;
                    };
                    match what {
                        Ok(Invalidation::User(id)) => cache.forget_user(id),
                        Ok(Invalidation::Containers) => chains.clear(),
                        // Missed announcements: forget everything.
                        Ok(Invalidation::All)
                        | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            cache.clear();
                            chains.clear();
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    }
                }
            });
        }
        cache
    }

    /// Drops cached container ancestry here and on every other node.
    async fn forget_chains(&self) {
        self.chain_cache.clear();
        self.announce(Invalidation::Containers).await;
    }

    /// Drops a user's cached credentials here and on every other node.
    async fn forget_user(&self, id: Uuid) {
        self.auth_cache.forget_user(id);
        self.announce(Invalidation::User(id)).await;
    }

    /// Drops every cached credential here and on every other node.
    async fn forget_everyone(&self) {
        self.auth_cache.clear();
        self.announce(Invalidation::All).await;
    }

    async fn announce(&self, what: Invalidation) {
        // The change itself is committed; if the announcement fails, other
        // nodes still drop the entry when its short cache life ends.
        if let Err(e) = self.store.announce(what).await {
            tracing::warn!(error = %e, "could not tell other nodes to drop cached credentials");
        }
    }

    fn signer(&self) -> Arc<TokenSigner> {
        self.tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-reads the signing secrets, so that a key rotated by another node or
    /// by `roster tokens rotate-key` signs here too.
    pub async fn refresh_signing_keys(&self) -> CoreResult<()> {
        let secrets = self
            .store
            .signing_secrets(Vec::new())
            .await
            .map_err(from_store("signing key"))?;
        let signer = Arc::new(
            TokenSigner::new(&secrets, self.token_ttl_secs)?.with_leeway(self.token_leeway_secs),
        );
        *self.tokens.write().unwrap_or_else(|e| e.into_inner()) = signer;
        Ok(())
    }

    /// Adds a new signing secret; it signs from now on, the old ones still
    /// verify the tokens they signed. Returns the new key id.
    pub async fn rotate_signing_key(&self) -> CoreResult<String> {
        let mut secret = vec![0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let kid = Uuid::now_v7().to_string();
        let event = AuditEvent::new("token.key.rotate", Outcome::Success, &Origin::default())
            .actor(None, "system")
            .target("signing_key", &kid, None);
        self.store
            .add_signing_secret(kid.clone(), secret, event)
            .await
            .map_err(from_store("signing key"))?;
        self.refresh_signing_keys().await?;
        Ok(kid)
    }

    pub async fn health(&self) -> CoreResult<()> {
        self.store.ping().await.map_err(from_store("database"))
    }

    /// Creates the `admin` user on an empty database. Returns the generated
    /// API key when none was configured, for the caller to show once.
    pub async fn bootstrap(
        &self,
        api_key: Option<Secret>,
        password: Option<Secret>,
    ) -> CoreResult<Option<Secret>> {
        let (generated, show) = match api_key {
            Some(k) if k.expose().chars().count() < MIN_CONFIGURED_KEY_LEN => {
                return Err(CoreError::invalid(
                    "ROSTER_ADMIN_API_KEY",
                    "min_length",
                    format!("must be at least {MIN_CONFIGURED_KEY_LEN} characters"),
                ));
            }
            Some(k) if k.expose().contains('.') || k.expose().chars().any(char::is_whitespace) => {
                return Err(CoreError::invalid(
                    "ROSTER_ADMIN_API_KEY",
                    "charset",
                    "must not contain dots or whitespace",
                ));
            }
            Some(k) => (auth::record_for("bootstrap", k), false),
            None => (auth::generate_key("bootstrap"), true),
        };
        let password_hash = match &password {
            Some(p) => {
                self.policy
                    .check("ROSTER_ADMIN_PASSWORD", p, "admin")
                    .map_err(|e| CoreError::Invalid(vec![e]))?;
                Some(self.hasher.hash(p).await?)
            }
            None => None,
        };
        let admin = NewUserRecord {
            id: Uuid::now_v7(),
            profile: UserDraft {
                username: "admin".into(),
                display_name: Some("Administrator".into()),
                active: true,
                ..Default::default()
            },
            password_hash,
            container_id: ROOT_CONTAINER_ID,
            now: OffsetDateTime::now_utc(),
        };
        let audit = AuditEvent::new("bootstrap", Outcome::Success, &Origin::default())
            .actor(None, "system")
            .target("user", admin.id, Some(ROOT_CONTAINER_ID));
        let created = self
            .store
            .bootstrap(Bootstrap {
                admin,
                key: Some(generated.record),
                audit,
            })
            .await
            .map_err(from_store("user"))?;
        Ok((created && show).then_some(generated.secret))
    }
}
