//! The storage port. Each backend implements [`Store`]; uniqueness, version
//! checks, referential integrity and atomicity are the database's job,
//! reported back as [`StoreError`] values the services translate. Every
//! change carries the audit event that the backend writes in the same
//! transaction.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::access::{
    ApiKeyInfo, Assignment, BuiltinRole, Container, Group, Holder, Membership, Role,
};
use crate::audit::{AuditEvent, AuditRecord, Outcome};
use crate::auth::KeyRecord;
use crate::authz::{Grant, Privilege};
use crate::user::{Patch, User, UserDraft, UserQuery};

/// The container every installation starts with; home of the bootstrap admin.
pub const ROOT_CONTAINER_ID: Uuid = Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0001);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint failed on this field.
    #[error("conflict on {field}")]
    Conflict { field: &'static str },
    /// A referenced object does not exist (foreign key), named by field.
    #[error("missing reference {field}")]
    MissingReference { field: &'static str },
    /// The object is still referenced and cannot be deleted.
    #[error("in use: {0}")]
    InUse(&'static str),
    #[error("not found")]
    NotFound,
    #[error("version mismatch")]
    VersionMismatch,
    #[error("storage backend: {0}")]
    Backend(String),
    /// The storage itself failed (disk full, I/O error, read-only file
    /// system): nothing is wrong with the request, and retrying later may
    /// succeed. The text is for the log.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A validated user ready to be written.
#[derive(Debug, Clone)]
pub struct NewUserRecord {
    pub id: Uuid,
    pub profile: UserDraft,
    pub password_hash: Option<String>,
    pub container_id: Uuid,
    pub now: OffsetDateTime,
}

/// Ties a create to the idempotency key it was sent with, written in the
/// same transaction as the user.
#[derive(Debug, Clone)]
pub struct IdempotencyWrite {
    /// Keys are per caller: two callers may use the same key independently.
    pub scope: Uuid,
    pub key: String,
    pub request_hash: String,
}

pub enum Inserted {
    Created(User),
    /// The key was used before with the same request: the first result.
    Replayed(User),
    /// The key was used before with a different request.
    Mismatch,
}

/// The stored result of an earlier request with an idempotency key.
pub struct IdempotencyHit {
    pub request_hash: String,
    pub user: User,
}

/// A user together with the secret material only the core may see.
pub struct LoginRecord {
    pub user: User,
    pub password_hash: Option<String>,
    pub locked_until: Option<OffsetDateTime>,
    pub totp_secret: Option<String>,
}

/// The owner of an API key, and the key's own state.
pub struct KeyOwner {
    pub key: ApiKeyInfo,
    pub key_hash: String,
    pub user: User,
    /// The privileges the key was limited to when it was minted (a key
    /// minted by a restricted credential keeps its restriction).
    pub cap: Option<Vec<Privilege>>,
}

pub struct Bootstrap {
    pub admin: NewUserRecord,
    pub key: Option<KeyRecord>,
    pub audit: AuditEvent,
}

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

#[derive(Debug, Clone)]
pub struct NewContainer {
    pub id: Uuid,
    pub seq: Option<i64>,
    pub name: String,
    pub parent_id: Uuid,
    pub now: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewRole {
    pub id: Uuid,
    pub seq: Option<i64>,
    pub name: String,
    pub description: String,
    pub privileges: Vec<Privilege>,
    pub now: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewGroup {
    pub id: Uuid,
    pub seq: Option<i64>,
    pub name: String,
    pub description: String,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub now: OffsetDateTime,
}

/// How a group is named by a caller.
#[derive(Debug, Clone, Copy)]
pub enum GroupRef {
    Id(Uuid),
    Seq(i64),
}

/// Memberships and grants written with a new user, in its transaction.
#[derive(Debug, Clone, Default)]
pub struct NewUserAccess {
    pub groups: Vec<Uuid>,
    /// (role, all objects, containers)
    pub assignments: Vec<(Uuid, bool, Vec<Uuid>)>,
}

/// How a role is named by a caller.
#[derive(Debug, Clone)]
pub enum RoleRef {
    Id(Uuid),
    Seq(i64),
    Name(String),
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor_id: Option<Uuid>,
    pub action: Option<String>,
    pub target_id: Option<String>,
    pub outcome: Option<Outcome>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Newest first: events with `seq` below this.
    pub before_seq: Option<i64>,
    pub limit: u32,
}

/// One write of a request that changes several things (a dialect's user
/// update that also changes roles and groups, a group created with members
/// and permissions). [`Store::write_all`] applies a list of them, each with
/// its audit event, in one transaction: all or nothing.
#[derive(Debug, Clone)]
pub enum Write {
    /// As [`Store::update_user`]: only if the stored version is still this one.
    UpdateUser {
        id: Uuid,
        expected_version: i64,
        draft: Box<UserDraft>,
        container_id: Uuid,
        password_hash: Patch<String>,
        now: OffsetDateTime,
    },
    /// As [`Store::replace_assignments`].
    ReplaceAssignments {
        holder: Holder,
        assignments: Vec<(Uuid, bool, Vec<Uuid>)>,
    },
    /// As [`Store::assign`].
    Assign {
        holder: Holder,
        role: Uuid,
        all_objects: bool,
        containers: Vec<Uuid>,
    },
    InsertGroup(NewGroup),
    /// As [`Store::update_group`].
    UpdateGroup {
        id: Uuid,
        expected_version: i64,
        name: String,
        description: String,
        attributes: serde_json::Map<String, serde_json::Value>,
        now: OffsetDateTime,
    },
    AddMember {
        group: Uuid,
        user: Uuid,
        access_level: Option<String>,
    },
    RemoveMember {
        group: Uuid,
        user: Uuid,
    },
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Answers when the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// Makes the built-in roles exist as given.
    async fn ensure_builtin_roles(&self, roles: &'static [BuiltinRole]) -> StoreResult<()>;

    /// On an empty database, creates the administrator (with the
    /// Administrator role over every object and the given key). Returns
    /// false if users exist.
    async fn bootstrap(&self, b: Bootstrap) -> StoreResult<bool>;

    /// Stores `candidate` as a token signing secret unless one exists;
    /// returns the secrets in force as (key id, secret), newest first.
    /// An empty `candidate` only reads.
    async fn signing_secrets(&self, candidate: Vec<u8>) -> StoreResult<Vec<(String, Vec<u8>)>>;

    async fn add_signing_secret(
        &self,
        kid: String,
        secret: Vec<u8>,
        audit: AuditEvent,
    ) -> StoreResult<()>;

    /// Applies every write with its audit event in one transaction; the
    /// first that fails undoes them all.
    async fn write_all(&self, writes: Vec<(Write, AuditEvent)>) -> StoreResult<()>;

    // ---- users

    async fn insert_user(
        &self,
        rec: NewUserRecord,
        access: NewUserAccess,
        idempotency: Option<IdempotencyWrite>,
        audit: AuditEvent,
    ) -> StoreResult<Inserted>;

    /// Inserts many users in few transactions (imports, seeding). All or none
    /// of each batch; returns how many were written.
    async fn insert_users_bulk(&self, recs: Vec<NewUserRecord>) -> StoreResult<u64>;

    async fn idempotent_result(
        &self,
        scope: Uuid,
        key: &str,
    ) -> StoreResult<Option<IdempotencyHit>>;

    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>>;

    async fn user_for_login(&self, username_key: &str) -> StoreResult<Option<LoginRecord>>;

    /// Fetches up to `q.limit` users matching `q`, ordered by `seq`;
    /// `within` limits them to these containers' subtrees.
    async fn list_users(&self, q: &UserQuery, within: Option<&[Uuid]>) -> StoreResult<Vec<User>>;

    /// How many users match `q` (ignoring paging).
    async fn count_users(&self, q: &UserQuery, within: Option<&[Uuid]>) -> StoreResult<u64>;

    /// Writes `draft` if the stored version is still `expected_version`.
    #[allow(clippy::too_many_arguments)]
    async fn update_user(
        &self,
        id: Uuid,
        expected_version: i64,
        draft: UserDraft,
        container_id: Uuid,
        password_hash: Patch<String>,
        now: OffsetDateTime,
        audit: AuditEvent,
    ) -> StoreResult<User>;

    async fn delete_user(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        audit: AuditEvent,
    ) -> StoreResult<()>;

    /// Sets `locked_until` (None unlocks) and clears the failure count.
    async fn set_lock(
        &self,
        id: Uuid,
        until: Option<OffsetDateTime>,
        audit: AuditEvent,
    ) -> StoreResult<User>;

    /// Records a successful login: last login time, the source's failures
    /// forgiven, and the TOTP step used. Fails with `Conflict` when that
    /// step (or a later one) was used before, so a code works once.
    async fn login_succeeded(
        &self,
        id: Uuid,
        at: OffsetDateTime,
        totp_step: Option<i64>,
        source: String,
        audit: AuditEvent,
    ) -> StoreResult<()>;

    /// Records a failed secret check of `account_key` (a username key,
    /// whether or not it exists) from `source`, with its audit event, and
    /// returns until when further checks must wait, if they must.
    async fn login_failed(
        &self,
        account_key: String,
        source: String,
        policy: LockoutPolicy,
        audit: AuditEvent,
    ) -> StoreResult<Option<OffsetDateTime>>;

    /// Until when secret checks of `account_key` from `source` must wait.
    async fn login_throttled(
        &self,
        account_key: &str,
        source: &str,
    ) -> StoreResult<Option<OffsetDateTime>>;

    /// Stores a TOTP secret: pending (not yet confirmed) or confirmed.
    async fn set_totp(
        &self,
        id: Uuid,
        secret: Option<String>,
        confirmed: bool,
        audit: AuditEvent,
    ) -> StoreResult<()>;

    async fn pending_totp(&self, id: Uuid) -> StoreResult<Option<String>>;

    // ---- containers

    async fn insert_container(&self, c: NewContainer, audit: AuditEvent) -> StoreResult<Container>;
    async fn container(&self, id: Uuid) -> StoreResult<Option<Container>>;
    async fn container_by_seq(&self, seq: i64) -> StoreResult<Option<Container>>;
    /// Containers with this name (case-insensitive), oldest first.
    async fn containers_named(&self, name: &str) -> StoreResult<Vec<Container>>;
    /// The container and its ancestors, nearest first, the root last.
    async fn container_chain(&self, id: Uuid) -> StoreResult<Vec<Uuid>>;
    async fn list_containers(&self) -> StoreResult<Vec<Container>>;
    #[allow(clippy::too_many_arguments)]
    async fn update_container(
        &self,
        id: Uuid,
        expected_version: i64,
        name: String,
        parent_id: Option<Uuid>,
        now: OffsetDateTime,
        audit: AuditEvent,
    ) -> StoreResult<Container>;
    async fn delete_container(&self, id: Uuid, audit: AuditEvent) -> StoreResult<()>;

    // ---- roles

    async fn insert_role(&self, r: NewRole, audit: AuditEvent) -> StoreResult<Role>;
    async fn role(&self, r: RoleRef) -> StoreResult<Option<Role>>;
    async fn list_roles(&self) -> StoreResult<Vec<Role>>;
    #[allow(clippy::too_many_arguments)]
    async fn update_role(
        &self,
        id: Uuid,
        expected_version: i64,
        name: String,
        description: String,
        privileges: Vec<Privilege>,
        now: OffsetDateTime,
        audit: AuditEvent,
    ) -> StoreResult<Role>;
    async fn delete_role(&self, id: Uuid, audit: AuditEvent) -> StoreResult<()>;

    // ---- groups

    async fn insert_group(&self, g: NewGroup, audit: AuditEvent) -> StoreResult<Group>;
    async fn group(&self, id: Uuid) -> StoreResult<Option<Group>>;
    async fn group_by_seq(&self, seq: i64) -> StoreResult<Option<Group>>;
    async fn list_groups(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<Group>>;
    #[allow(clippy::too_many_arguments)]
    async fn update_group(
        &self,
        id: Uuid,
        expected_version: i64,
        name: String,
        description: String,
        attributes: serde_json::Map<String, serde_json::Value>,
        now: OffsetDateTime,
        audit: AuditEvent,
    ) -> StoreResult<Group>;
    async fn delete_group(&self, id: Uuid, audit: AuditEvent) -> StoreResult<()>;
    /// Returns false when the user was a member already.
    async fn add_member(
        &self,
        group: Uuid,
        user: Uuid,
        access_level: Option<String>,
        audit: AuditEvent,
    ) -> StoreResult<bool>;
    async fn remove_member(&self, group: Uuid, user: Uuid, audit: AuditEvent) -> StoreResult<()>;
    async fn members(&self, group: Uuid, after_seq: i64, limit: u32) -> StoreResult<Vec<User>>;
    async fn groups_of(&self, user: Uuid) -> StoreResult<Vec<Membership>>;

    // ---- role assignments

    /// Grants `role` to `holder` over every object or these containers,
    /// replacing the holder's earlier assignment of the same role.
    async fn assign(
        &self,
        holder: Holder,
        role: Uuid,
        all_objects: bool,
        containers: Vec<Uuid>,
        audit: AuditEvent,
    ) -> StoreResult<Assignment>;
    async fn unassign(&self, assignment: Uuid, audit: AuditEvent) -> StoreResult<()>;
    /// Replaces all of a holder's assignments with these, in one transaction.
    async fn replace_assignments(
        &self,
        holder: Holder,
        assignments: Vec<(Uuid, bool, Vec<Uuid>)>,
        audit: AuditEvent,
    ) -> StoreResult<Vec<Assignment>>;
    /// Makes `users` exactly the users whose scoped assignments include
    /// `container`: adds it to their container-scoped assignments, and
    /// removes it from everyone else's.
    async fn set_container_users(
        &self,
        container: Uuid,
        users: Vec<Uuid>,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    async fn assignments_of(&self, holder: Holder) -> StoreResult<Vec<Assignment>>;
    /// Every assignment of a role, to anyone.
    async fn assignments_of_role(&self, role: Uuid) -> StoreResult<Vec<Assignment>>;
    /// Every user assignment whose scope names this container.
    async fn user_assignments_in(&self, container: Uuid) -> StoreResult<Vec<Assignment>>;
    async fn assignment(&self, id: Uuid) -> StoreResult<Option<Assignment>>;
    /// Every grant a user holds, directly and through groups.
    async fn grants_of(&self, user: Uuid) -> StoreResult<Vec<Grant>>;

    // ---- API keys

    /// `cap` is the most the key may ever do (see [`KeyOwner::cap`]).
    #[allow(clippy::too_many_arguments)]
    async fn insert_key(
        &self,
        user: Uuid,
        key: KeyRecord,
        role: Option<Uuid>,
        cap: Option<Vec<Privilege>>,
        expires_at: Option<OffsetDateTime>,
        audit: AuditEvent,
    ) -> StoreResult<ApiKeyInfo>;
    async fn key_owner(&self, key_hash: &str) -> StoreResult<Option<KeyOwner>>;
    async fn key(&self, id: Uuid) -> StoreResult<Option<ApiKeyInfo>>;
    async fn list_keys(&self, user: Option<Uuid>) -> StoreResult<Vec<ApiKeyInfo>>;
    async fn revoke_key(&self, id: Uuid, at: OffsetDateTime, audit: AuditEvent) -> StoreResult<()>;
    async fn touch_key(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<()>;

    // ---- tokens

    async fn revoke_token(
        &self,
        jti: Uuid,
        expires_at: OffsetDateTime,
        audit: AuditEvent,
    ) -> StoreResult<()>;
    async fn token_revoked(&self, jti: Uuid) -> StoreResult<bool>;

    /// Starts a sliding session for a token: it lapses after `idle_secs` unused.
    async fn create_session(
        &self,
        jti: Uuid,
        user: Uuid,
        idle_secs: u64,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// The session's idle length and current expiry, if it exists.
    async fn session(&self, jti: Uuid) -> StoreResult<Option<(u64, OffsetDateTime)>>;
    async fn extend_session(&self, jti: Uuid, expires_at: OffsetDateTime) -> StoreResult<()>;

    // ---- audit

    /// Writes an event that accompanies no other change (login failures).
    async fn append_audit(&self, audit: AuditEvent) -> StoreResult<()>;
    async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;
    /// Events in chain order after `after_seq`, for verification.
    async fn audit_chain(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditRecord>>;
}
