//! The storage port. Each backend implements [`Store`]; uniqueness, version
//! checks, referential integrity and atomicity are the database's job,
//! reported back as [`StoreError`] values the services translate. Every
//! change carries the audit event that the backend writes in the same
//! transaction.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::access::{
    ApiKeyInfo, Assignment, BuiltinRole, Container, Group, Holder, Membership, NewContainer,
    NewGroup, NewRole, Role, RoleRef,
};
use crate::audit::{AuditEvent, AuditQuery, AuditRecord};
use crate::auth::{KeyOwner, KeyRecord};
use crate::authz::{Grant, Privilege};
use crate::link::{LinkEffect, LinkPurpose, LinkRecord};
use crate::lockout::LockoutPolicy;
use crate::transfer::{Cursor, ExportPage, Record, RecordKind};
use crate::user::{
    IdempotencyHit, IdempotencyWrite, Inserted, LoginRecord, NewUserAccess, NewUserRecord, Patch,
    User, UserDraft, UserQuery,
};
use crate::webhook::{Attempt, Delivery, NewDelivery, Webhook};

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
    /// A value the database cannot hold (PostgreSQL text refuses U+0000):
    /// the request's fault, not the store's.
    #[error("a value the database cannot store")]
    Unstorable,
    /// The storage itself failed (disk full, I/O error, read-only file
    /// system): nothing is wrong with the request, and retrying later may
    /// succeed. The text is for the log.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

pub struct Bootstrap {
    pub admin: NewUserRecord,
    pub key: Option<KeyRecord>,
    pub audit: AuditEvent,
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
    /// As [`Store::delete_container`].
    DeleteContainer(Uuid),
    /// As [`Store::set_user_deleted`] with a deletion time: a soft delete.
    DeleteUser {
        id: Uuid,
        expected_version: Option<i64>,
        at: OffsetDateTime,
    },
    /// As [`Store::delete_group`].
    DeleteGroup {
        id: Uuid,
        expected_version: Option<i64>,
    },
    RemoveMember {
        group: Uuid,
        user: Uuid,
    },
    /// Replaces the containers a user belongs to besides its home.
    SetUserSites {
        user: Uuid,
        sites: Vec<Uuid>,
    },
    /// As [`UserStore::insert_user`] without an idempotency key.
    InsertUser {
        rec: Box<NewUserRecord>,
        access: NewUserAccess,
    },
    /// As [`CredentialStore::insert_key`] (created at the event's time).
    InsertKey {
        user: Uuid,
        key: KeyRecord,
        role: Option<Uuid>,
        cap: Option<Vec<Privilege>>,
        expires_at: Option<OffsetDateTime>,
    },
    /// Stores a link token, deleting the user's earlier links of the same
    /// purpose (one live link per purpose: a re-sent invitation kills the
    /// first).
    IssueLink(LinkRecord),
    /// Deletes the user's links of this purpose; `NotFound` when none.
    RevokeLinks {
        user: Uuid,
        purpose: LinkPurpose,
    },
    /// Deletes the link with this hash if it is of this purpose, not
    /// expired at `now` and its user's credential epoch is still the one
    /// it was made at (`NotFound` otherwise), and applies its effect on
    /// that user in the same transaction.
    RedeemLink {
        token_hash: String,
        purpose: LinkPurpose,
        now: OffsetDateTime,
        effect: LinkEffect,
    },
}

/// Users, their credentials' state and the login throttle.
#[async_trait]
pub trait UserStore: Send + Sync {
    async fn insert_user(
        &self,
        rec: NewUserRecord,
        access: NewUserAccess,
        idempotency: Option<IdempotencyWrite>,
        audit: AuditEvent,
    ) -> StoreResult<Inserted>;

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

    /// Removes the user for good (a purge).
    async fn delete_user(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        audit: AuditEvent,
    ) -> StoreResult<()>;

    /// Soft-deletes the user at `deleted_at` (`None`: restores it). A
    /// delete also moves the credential epoch on.
    async fn set_user_deleted(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        deleted_at: Option<OffsetDateTime>,
        audit: AuditEvent,
    ) -> StoreResult<User>;

    /// Up to `limit` users soft-deleted before `cutoff`, oldest first.
    async fn users_deleted_before(
        &self,
        cutoff: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<Uuid>>;

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
}

/// Containers, roles, groups, memberships and role assignments.
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// Makes the built-in roles exist as given.
    async fn ensure_builtin_roles(&self, roles: &'static [BuiltinRole]) -> StoreResult<()>;

    /// Applies every write with its audit event in one transaction; the
    /// first that fails undoes them all.
    async fn write_all(&self, writes: Vec<(Write, AuditEvent)>) -> StoreResult<()>;

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
        description: String,
        parent_id: Option<Uuid>,
        now: OffsetDateTime,
        audit: AuditEvent,
    ) -> StoreResult<Container>;

    async fn delete_container(&self, id: Uuid, audit: AuditEvent) -> StoreResult<()>;

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

    async fn insert_group(&self, g: NewGroup, audit: AuditEvent) -> StoreResult<Group>;

    async fn group(&self, id: Uuid) -> StoreResult<Option<Group>>;

    async fn group_by_seq(&self, seq: i64) -> StoreResult<Option<Group>>;

    async fn list_groups(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<Group>>;

    /// Deletes a group; with `expected_version`, only that version of it
    /// (`VersionMismatch` otherwise).
    async fn delete_group(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        audit: AuditEvent,
    ) -> StoreResult<()>;

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

    /// Every assignment (of users and groups) whose scope names this container.
    async fn assignments_in(&self, container: Uuid) -> StoreResult<Vec<Assignment>>;

    async fn assignment(&self, id: Uuid) -> StoreResult<Option<Assignment>>;

    /// Every grant a user holds, directly and through groups.
    async fn grants_of(&self, user: Uuid) -> StoreResult<Vec<Grant>>;
}

/// API keys, token revocations, sliding sessions and signing secrets.
#[async_trait]
pub trait CredentialStore: Send + Sync {
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

    /// The stored link token with this hash, used or expired ones aside
    /// from neither (the caller checks expiry and epoch).
    async fn link(&self, token_hash: &str) -> StoreResult<Option<LinkRecord>>;

    /// The user's live link of this purpose, if any (the newest).
    async fn pending_link(
        &self,
        user: Uuid,
        purpose: LinkPurpose,
    ) -> StoreResult<Option<LinkRecord>>;
}

/// The append-only, hash-chained audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Writes an event that accompanies no other change (login failures).
    async fn append_audit(&self, audit: AuditEvent) -> StoreResult<()>;

    async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;

    /// Events in chain order after `after_seq`, for verification.
    async fn audit_chain(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditRecord>>;
}

/// Webhooks and their deliveries (see [`crate::webhook`]).
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores a webhook whose cursor starts at the audit chain's head, so
    /// it hears of changes made from now on.
    async fn insert_webhook(&self, w: Webhook, audit: AuditEvent) -> StoreResult<Webhook>;

    async fn webhook(&self, id: Uuid) -> StoreResult<Option<Webhook>>;

    /// Every webhook, oldest first (they are few).
    async fn list_webhooks(&self) -> StoreResult<Vec<Webhook>>;

    /// Writes url, event types, secret and active if the stored version is
    /// still `w.version` (`VersionMismatch` otherwise); the version moves on.
    async fn update_webhook(&self, w: Webhook, audit: AuditEvent) -> StoreResult<Webhook>;

    /// Deletes the webhook and its deliveries.
    async fn delete_webhook(&self, id: Uuid, audit: AuditEvent) -> StoreResult<()>;

    /// If the webhook's cursor is still `from` (no other node queued this
    /// run), queues `deliveries` (pending, due at `now`) and moves the
    /// cursor to `to`, in one transaction; `VersionMismatch` otherwise.
    async fn queue_deliveries(
        &self,
        webhook: Uuid,
        from: i64,
        to: i64,
        deliveries: Vec<NewDelivery>,
        now: OffsetDateTime,
    ) -> StoreResult<()>;

    /// Takes up to `limit` pending deliveries that are due at `now`, not
    /// leased by anyone, and have no earlier pending delivery with the same
    /// order key to the same webhook; leases them until `lease_until` so no
    /// other node (or loop) takes them meanwhile. Oldest events first.
    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>>;

    /// Records an attempt and releases the lease.
    async fn record_attempt(&self, delivery: Uuid, attempt: Attempt) -> StoreResult<()>;

    /// A webhook's deliveries, newest event first, with `event_seq` below
    /// `before_seq` when given.
    async fn deliveries(
        &self,
        webhook: Uuid,
        before_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>>;

    /// Deletes up to `limit` finished (delivered or failed) deliveries last
    /// changed before `before`; returns how many went.
    async fn purge_deliveries(&self, before: OffsetDateTime, limit: u32) -> StoreResult<u64>;

    /// Makes a delivery of this webhook pending again, due at `now`, with
    /// its attempts counted from zero; `NotFound` if there is none.
    async fn redeliver(
        &self,
        webhook: Uuid,
        delivery: Uuid,
        now: OffsetDateTime,
        audit: AuditEvent,
    ) -> StoreResult<Delivery>;
}

/// What a node may have cached that must be looked up again: one user's
/// credentials, container ancestry (a container moved or went), or
/// everything (a role or group change may touch anyone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    User(Uuid),
    Containers,
    All,
}

/// Why an import chunk was not written (nothing of it was).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct ImportFailure {
    /// The record of the chunk that failed, when one did (not the commit).
    pub index: Option<usize>,
    pub error: StoreError,
}

/// Whole-database export and import (`roster export` / `roster import`,
/// see [`crate::transfer`]): rows copied verbatim, ids, `seq`s, versions,
/// hashes and the audit chain included.
#[async_trait]
pub trait TransferStore: Send + Sync {
    /// Up to `limit` records of `kind` after `after`, in the kind's export
    /// order (containers parents first, then by `seq`; roles, users, groups
    /// and audit events by `seq`; the others by their key). Keyset paging:
    /// memory stays bounded however large the table, and each page costs
    /// what the first does. Start with [`Cursor::Start`] and pass back
    /// `next` until it is `None`. Each page is read on its own, so export a
    /// database that is not being written to.
    async fn export_chunk(
        &self,
        kind: RecordKind,
        after: Cursor,
        limit: u32,
    ) -> StoreResult<ExportPage>;

    /// Writes the records as given, in order, in one transaction: all of
    /// them or none. Nothing is validated beyond the database's own
    /// constraints, and no audit event is added. The root container and
    /// built-in (`system`) roles already present are overwritten with the
    /// record instead of conflicting. Returns how many were written.
    async fn import_chunk(&self, records: Vec<Record>) -> Result<u64, ImportFailure>;

    /// Whether an import may start here: no users, groups, audit events,
    /// signing keys or revoked tokens, and no containers or roles besides
    /// the root and the built-in roles.
    async fn is_empty_for_import(&self) -> StoreResult<bool>;

    /// Before the first chunk of an import into an empty database: a
    /// backend may set aside what is faster to build once after the load
    /// than row by row (secondary indexes), and must then restore it in
    /// [`Self::import_finished`].
    async fn import_starting(&self) -> StoreResult<()> {
        Ok(())
    }

    /// After the last chunk, whether the import succeeded or not.
    async fn import_finished(&self) -> StoreResult<()> {
        Ok(())
    }
}

/// A storage backend: every area's narrow trait, plus what concerns the
/// backend as a whole. Services hold an `Arc<dyn Store>`.
#[async_trait]
pub trait Store:
    UserStore + AccessStore + CredentialStore + AuditStore + TransferStore + WebhookStore + 'static
{
    /// Answers when the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// What an acknowledged write survives, read back from the database
    /// itself (for the start-up log), e.g. `journal_mode=wal synchronous=FULL`.
    async fn durability_report(&self) -> StoreResult<String>;

    /// Flushes and closes the backend before the process exits (blocking).
    fn close(&self) {}

    /// On an empty database, creates the administrator (with the
    /// Administrator role over every object and the given key). Returns
    /// false if users exist.
    async fn bootstrap(&self, b: Bootstrap) -> StoreResult<bool>;

    /// Tells every node sharing this database to drop what it cached of
    /// these credentials. A backend used by one process has no one to tell.
    async fn announce(&self, _what: Invalidation) -> StoreResult<()> {
        Ok(())
    }

    /// What other nodes announce, for a backend several nodes share.
    fn invalidations(&self) -> Option<tokio::sync::broadcast::Receiver<Invalidation>> {
        None
    }

    /// Whether [`Store::backup_into`] works here; a backend with tools of
    /// its own for copies (PostgreSQL: `pg_dump`) has none.
    fn can_backup(&self) -> bool {
        false
    }

    /// Writes a consistent copy of the whole database, taken at one moment
    /// while others keep reading and writing, to a new file at `path`.
    async fn backup_into(&self, _path: &std::path::Path) -> StoreResult<()> {
        Err(StoreError::Backend(
            "this backend makes no copies of itself".into(),
        ))
    }
}
