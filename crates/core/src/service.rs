//! The services every face calls: authorise, validate, one store call, and
//! map what the store says into [`CoreError`]s.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rand::RngCore as _;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Secret;
use crate::auth::{
    self, CredentialKind, IssuedToken, MIN_CONFIGURED_KEY_LEN, Principal, TokenSigner,
};
use crate::authz::{self, ADMINISTRATOR_ROLE, Privilege, Target};
use crate::error::{CoreError, CoreResult, FieldError};
use crate::password::{HashCost, PasswordHasher, PasswordPolicy};
use crate::store::{
    Bootstrap, IdempotencyWrite, Inserted, NewUserRecord, ROOT_CONTAINER_ID, Store, StoreError,
};
use crate::user::{
    CreateUser, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, Patch, User, UserDraft, UserPage, UserPatch,
    UserQuery, username_key,
};

#[derive(Debug, Clone)]
pub struct RosterConfig {
    pub password_policy: PasswordPolicy,
    pub hash_cost: HashCost,
    /// Threads hashing passwords at once.
    pub hash_workers: usize,
    /// Hashes allowed to wait for a thread; more are refused with `Overloaded`.
    pub hash_queue: usize,
    pub token_ttl_secs: u64,
    /// How long an authenticated credential is remembered in this process.
    /// Revocations take effect on other nodes within this time.
    pub auth_cache_ttl: Duration,
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
            hash_queue: 16,
            token_ttl_secs: 900,
            auth_cache_ttl: Duration::from_secs(5),
        }
    }
}

/// Result of a create: the user, and whether it is a replay of an earlier
/// request with the same idempotency key.
pub struct Created {
    pub user: User,
    pub replayed: bool,
}

pub struct Roster {
    store: Arc<dyn Store>,
    hasher: PasswordHasher,
    policy: PasswordPolicy,
    tokens: TokenSigner,
    auth_cache: AuthCache,
}

fn from_store(e: StoreError) -> CoreError {
    match e {
        StoreError::Conflict { field } => CoreError::Conflict(FieldError::new(
            field,
            "unique",
            format!("a user with this {field} already exists"),
        )),
        StoreError::NotFound => CoreError::NotFound("user"),
        StoreError::VersionMismatch => CoreError::PreconditionFailed,
        StoreError::Backend(msg) => CoreError::Internal(msg),
    }
}

impl Roster {
    pub async fn new(store: Arc<dyn Store>, config: RosterConfig) -> CoreResult<Self> {
        let hasher = PasswordHasher::new(config.hash_cost, config.hash_workers, config.hash_queue)?;
        let mut candidate = vec![0u8; 32];
        rand::rng().fill_bytes(&mut candidate);
        let secret = store.signing_secret(candidate).await.map_err(from_store)?;
        Ok(Self {
            store,
            hasher,
            policy: config.password_policy,
            tokens: TokenSigner::new(&secret, config.token_ttl_secs),
            auth_cache: AuthCache::new(config.auth_cache_ttl),
        })
    }

    pub async fn health(&self) -> CoreResult<()> {
        self.store.ping().await.map_err(from_store)
    }

    /// Creates the `admin` user on an empty database. Returns the generated
    /// API key when none was configured, for the caller to show once.
    pub async fn bootstrap(
        &self,
        api_key: Option<Secret>,
        password: Option<Secret>,
    ) -> CoreResult<Option<Secret>> {
        let key = match api_key {
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
        let (generated, show) = key;
        let created = self
            .store
            .bootstrap(Bootstrap {
                admin,
                key: Some(generated.record),
            })
            .await
            .map_err(from_store)?;
        Ok((created && show).then_some(generated.secret))
    }

    // ---- authentication -------------------------------------------------

    /// Accepts an API key or a roster token.
    pub async fn authenticate(&self, credential: &str) -> CoreResult<Principal> {
        if credential.is_empty() || credential.len() > 4096 {
            return Err(CoreError::Unauthenticated);
        }
        let cache_key = auth::hash_key(credential);
        if let Some(p) = self.auth_cache.get(&cache_key) {
            return Ok(p);
        }
        let (principal, valid_until) = if auth::looks_like_token(credential) {
            self.principal_from_token(credential).await?
        } else {
            self.principal_from_key(&cache_key).await?
        };
        self.auth_cache
            .put(cache_key, principal.clone(), valid_until);
        Ok(principal)
    }

    async fn principal_from_key(&self, hash: &str) -> CoreResult<(Principal, Option<Instant>)> {
        let owner = self
            .store
            .key_owner(hash)
            .await
            .map_err(from_store)?
            .ok_or(CoreError::Unauthenticated)?;
        let now = OffsetDateTime::now_utc();
        if !auth::hashes_equal(&owner.key_hash, hash)
            || owner.revoked
            || owner.expires_at.is_some_and(|t| t <= now)
            || !owner.user.profile.active
            || owner.user.locked
        {
            return Err(CoreError::Unauthenticated);
        }
        let valid_until = owner
            .expires_at
            .map(|t| Instant::now() + Duration::try_from(t - now).unwrap_or_default());
        let roles = self
            .store
            .roles_of(owner.user.id)
            .await
            .map_err(from_store)?;
        Ok((
            Principal {
                user_id: owner.user.id,
                username: owner.user.profile.username,
                roles,
                credential: CredentialKind::ApiKey {
                    key_id: owner.key_id,
                },
            },
            valid_until,
        ))
    }

    async fn principal_from_token(&self, token: &str) -> CoreResult<(Principal, Option<Instant>)> {
        let (user_id, token_id, exp) = self.tokens.verify(token)?;
        let user = self
            .store
            .user_by_id(user_id)
            .await
            .map_err(from_store)?
            .ok_or(CoreError::Unauthenticated)?;
        if !user.profile.active || user.locked {
            return Err(CoreError::Unauthenticated);
        }
        let remaining = exp - OffsetDateTime::now_utc().unix_timestamp();
        let valid_until = Instant::now() + Duration::from_secs(remaining.max(0) as u64);
        let roles = self.store.roles_of(user.id).await.map_err(from_store)?;
        Ok((
            Principal {
                user_id: user.id,
                username: user.profile.username,
                roles,
                credential: CredentialKind::Token { token_id },
            },
            Some(valid_until),
        ))
    }

    /// Exchanges a username and password for a token. Every failure looks
    /// the same to the caller and takes as long.
    pub async fn issue_token(&self, username: &str, password: &Secret) -> CoreResult<IssuedToken> {
        let record = if username.is_empty() || username.len() > 1024 {
            None
        } else {
            self.store
                .user_for_login(&username_key(username))
                .await
                .map_err(from_store)?
        };
        let hash = record.as_ref().and_then(|r| r.password_hash.as_deref());
        let ok = self.hasher.verify(password, hash).await?;
        let Some(record) = record.filter(|r| ok && r.user.profile.active && !r.user.locked) else {
            tracing::info!(outcome = "failure", "login");
            return Err(CoreError::Unauthenticated);
        };
        self.store
            .record_login(record.user.id, OffsetDateTime::now_utc())
            .await
            .map_err(from_store)?;
        tracing::info!(outcome = "success", user_id = %record.user.id, "login");
        self.tokens.issue(record.user.id)
    }

    // ---- users ----------------------------------------------------------

    pub async fn create_user(&self, who: &Principal, input: CreateUser) -> CoreResult<Created> {
        authz::authorize(who, Privilege::UsersWrite, Target::AnyUser)?;
        if let Some(idem) = &input.idempotency
            && let Some(hit) = self
                .store
                .idempotent_result(who.user_id, &idem.key)
                .await
                .map_err(from_store)?
        {
            return if auth::hashes_equal(&hit.request_hash, &idem.request_hash) {
                Ok(Created {
                    user: hit.user,
                    replayed: true,
                })
            } else {
                Err(CoreError::IdempotencyMismatch)
            };
        }
        self.check_new_user(&input.profile, input.password.as_ref())?;
        let password_hash = match &input.password {
            Some(p) => Some(self.hasher.hash(p).await?),
            None => None,
        };
        let rec = NewUserRecord {
            id: Uuid::now_v7(),
            profile: input.profile,
            password_hash,
            container_id: ROOT_CONTAINER_ID,
            now: OffsetDateTime::now_utc(),
        };
        let idempotency = input.idempotency.map(|i| IdempotencyWrite {
            scope: who.user_id,
            key: i.key,
            request_hash: i.request_hash,
        });
        match self
            .store
            .insert_user(rec, idempotency)
            .await
            .map_err(from_store)?
        {
            Inserted::Created(user) => {
                tracing::info!(user_id = %user.id, actor = %who.user_id, "user created");
                Ok(Created {
                    user,
                    replayed: false,
                })
            }
            Inserted::Replayed(user) => Ok(Created {
                user,
                replayed: true,
            }),
            Inserted::Mismatch => Err(CoreError::IdempotencyMismatch),
        }
    }

    fn check_new_user(&self, profile: &UserDraft, password: Option<&Secret>) -> CoreResult<()> {
        let mut errors = profile.validate().err().unwrap_or_default();
        if let Some(p) = password
            && let Err(e) = self.policy.check("password", p, &profile.username)
        {
            errors.push(e);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Invalid(errors))
        }
    }

    /// Bulk import for operators (CLI): validated like any create, written in
    /// large transactions, no passwords (set them afterwards).
    pub async fn import_users(&self, profiles: Vec<UserDraft>) -> CoreResult<u64> {
        let now = OffsetDateTime::now_utc();
        let mut recs = Vec::with_capacity(profiles.len());
        for (i, profile) in profiles.into_iter().enumerate() {
            profile.validate().map_err(|errs| {
                CoreError::Invalid(
                    errs.into_iter()
                        .map(|e| FieldError::new(format!("[{i}].{}", e.field), e.rule, e.message))
                        .collect(),
                )
            })?;
            recs.push(NewUserRecord {
                id: Uuid::now_v7(),
                profile,
                password_hash: None,
                container_id: ROOT_CONTAINER_ID,
                now,
            });
        }
        self.store.insert_users_bulk(recs).await.map_err(from_store)
    }

    pub async fn get_user(&self, who: &Principal, id: Uuid) -> CoreResult<User> {
        authz::authorize(who, Privilege::UsersRead, Target::User(id))?;
        self.store
            .user_by_id(id)
            .await
            .map_err(from_store)?
            .ok_or(CoreError::NotFound("user"))
    }

    pub async fn list_users(&self, who: &Principal, mut query: UserQuery) -> CoreResult<UserPage> {
        authz::authorize(who, Privilege::UsersRead, Target::AnyUser)?;
        if query.limit == 0 {
            query.limit = LIST_DEFAULT_LIMIT;
        }
        if query.limit > LIST_MAX_LIMIT {
            return Err(CoreError::invalid(
                "limit",
                "range",
                format!("must be between 1 and {LIST_MAX_LIMIT}"),
            ));
        }
        query.username = query.username.map(|u| username_key(&u));
        query.email = query.email.map(|e| e.to_lowercase());
        query.q = query.q.map(|q| q.to_lowercase()).filter(|q| !q.is_empty());
        let limit = query.limit as usize;
        // One extra row tells whether another page follows.
        query.limit += 1;
        let mut items = self.store.list_users(&query).await.map_err(from_store)?;
        let next_after_seq = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|u| u.seq)
        } else {
            None
        };
        Ok(UserPage {
            items,
            next_after_seq,
        })
    }

    /// Applies a merge patch. With `if_match` the write happens only on that
    /// version; without it a concurrent change is re-read and the patch
    /// re-applied, so no field another writer changed is lost.
    pub async fn update_user(
        &self,
        who: &Principal,
        id: Uuid,
        patch: UserPatch,
        if_match: Option<i64>,
    ) -> CoreResult<User> {
        authz::authorize(who, Privilege::UsersWrite, Target::User(id))?;
        let password_hash = match &patch.password {
            Patch::Set(p) => {
                let current = self.get_user(who, id).await?;
                let username = match &patch.username {
                    Patch::Set(u) => u.as_str(),
                    _ => current.profile.username.as_str(),
                };
                self.policy
                    .check("password", p, username)
                    .map_err(|e| CoreError::Invalid(vec![e]))?;
                Patch::Set(self.hasher.hash(p).await?)
            }
            Patch::Clear => Patch::Clear,
            Patch::Keep => Patch::Keep,
        };
        for _attempt in 0..5 {
            let current = self.get_user(who, id).await?;
            if if_match.is_some_and(|v| v != current.version) {
                return Err(CoreError::PreconditionFailed);
            }
            let mut draft = current.profile.clone();
            patch
                .clone()
                .apply(&mut draft)
                .map_err(CoreError::Invalid)?;
            draft.validate().map_err(CoreError::Invalid)?;
            match self
                .store
                .update_user(
                    id,
                    current.version,
                    draft,
                    password_hash.clone(),
                    OffsetDateTime::now_utc(),
                )
                .await
            {
                Ok(user) => {
                    self.auth_cache.forget_user(id);
                    tracing::info!(user_id = %id, actor = %who.user_id, "user updated");
                    return Ok(user);
                }
                Err(StoreError::VersionMismatch) if if_match.is_none() => continue,
                Err(e) => return Err(from_store(e)),
            }
        }
        Err(CoreError::PreconditionFailed)
    }

    pub async fn delete_user(
        &self,
        who: &Principal,
        id: Uuid,
        if_match: Option<i64>,
    ) -> CoreResult<()> {
        authz::authorize(who, Privilege::UsersDelete, Target::User(id))?;
        if id == who.user_id {
            return Err(CoreError::Conflict(FieldError::new(
                "id",
                "not_self",
                "you cannot delete the user you are signed in as",
            )));
        }
        self.store
            .delete_user(id, if_match)
            .await
            .map_err(from_store)?;
        self.auth_cache.forget_user(id);
        tracing::info!(user_id = %id, actor = %who.user_id, "user deleted");
        Ok(())
    }

    pub fn is_admin(who: &Principal) -> bool {
        who.roles.iter().any(|r| r == ADMINISTRATOR_ROLE)
    }
}

/// Remembers recently authenticated credentials (by hash) so that a busy
/// client does not cost a key lookup per request.
struct AuthCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, (Principal, Instant)>>,
}

const AUTH_CACHE_MAX: usize = 10_000;

impl AuthCache {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    fn get(&self, key: &str) -> Option<Principal> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(p, _)| p.clone())
    }

    fn put(&self, key: String, principal: Principal, credential_valid_until: Option<Instant>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut until = Instant::now() + self.ttl;
        if let Some(limit) = credential_valid_until {
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

    /// Changes to a user (deactivation, deletion) take effect at once here.
    fn forget_user(&self, user_id: Uuid) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (p, _)| p.user_id != user_id);
    }
}
