//! The storage port. Each backend implements [`Store`]; uniqueness, version
//! checks and atomicity are the database's job, reported back as
//! [`StoreError`] values the services translate.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::KeyRecord;
use crate::user::{Patch, User, UserDraft, UserQuery};

/// The container every installation starts with; home of the bootstrap admin.
pub const ROOT_CONTAINER_ID: Uuid = Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0001);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint failed on this field.
    #[error("conflict on {field}")]
    Conflict { field: &'static str },
    #[error("not found")]
    NotFound,
    #[error("version mismatch")]
    VersionMismatch,
    #[error("storage backend: {0}")]
    Backend(String),
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
}

/// The owner of an API key, and the key's own state.
pub struct KeyOwner {
    pub key_id: Uuid,
    pub key_hash: String,
    pub user: User,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked: bool,
}

pub struct Bootstrap {
    pub admin: NewUserRecord,
    pub key: Option<KeyRecord>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Answers when the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// On an empty database, creates the administrator (with the
    /// administrator role and the given key). Returns false if users exist.
    async fn bootstrap(&self, b: Bootstrap) -> StoreResult<bool>;

    /// Stores `candidate` as the token signing secret unless one exists;
    /// returns the one in force.
    async fn signing_secret(&self, candidate: Vec<u8>) -> StoreResult<Vec<u8>>;

    async fn insert_user(
        &self,
        rec: NewUserRecord,
        idempotency: Option<IdempotencyWrite>,
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

    async fn user_for_login(&self, username: &str) -> StoreResult<Option<LoginRecord>>;

    /// Fetches up to `q.limit` users matching `q`, ordered by `seq`.
    async fn list_users(&self, q: &UserQuery) -> StoreResult<Vec<User>>;

    /// Writes `draft` if the stored version is still `expected_version`.
    async fn update_user(
        &self,
        id: Uuid,
        expected_version: i64,
        draft: UserDraft,
        password_hash: Patch<String>,
        now: OffsetDateTime,
    ) -> StoreResult<User>;

    async fn delete_user(&self, id: Uuid, expected_version: Option<i64>) -> StoreResult<()>;

    async fn record_login(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<()>;

    async fn key_owner(&self, key_hash: &str) -> StoreResult<Option<KeyOwner>>;

    async fn roles_of(&self, user_id: Uuid) -> StoreResult<Vec<String>>;
}
