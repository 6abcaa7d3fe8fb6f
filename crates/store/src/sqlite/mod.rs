//! The embedded store: one SQLite file in WAL mode, `synchronous=FULL` so an
//! acknowledged write survives power loss, one writer thread doing group
//! commit, and a small pool of read-only connections used inline.

mod access;
mod audit;
mod groups;
mod links;
mod migrations;
mod roles;
mod search;
mod transfer;
mod tree;
mod user_filter;
mod users;
mod webhooks;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use roster_core::store::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};

use writer::Writer;

/// The writer's setting: the savepoint journal of a batch (one savepoint
/// per request) stays in memory. On a file — it spills there past 64 KiB —
/// it cost ~35 `pwrite` calls per create, more kernel time than the
/// inserts' own work (strace); the batch size bounds it.
pub(crate) const TEMP_IN_MEMORY: &str = "PRAGMA temp_store = MEMORY";

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// `FULL` (default) fsyncs every commit; `NORMAL` may lose the last
    /// commits on power loss (never on a process crash).
    pub synchronous: Synchronous,
    /// Read connections kept open.
    pub readers: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    Full,
    Normal,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Full,
            readers: 8,
        }
    }
}

/// `sqlite://roster.db`, `sqlite:roster.db` and `sqlite:///abs/path.db`.
pub fn path_from_url(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let rest = rest.split('?').next().unwrap_or_default();
    (!rest.is_empty()).then(|| PathBuf::from(rest))
}

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Writer,
    readers: Mutex<Vec<Connection>>,
    /// One permit per read connection: bounds open connections (and their
    /// page caches) however many requests arrive at once.
    read_permits: tokio::sync::Semaphore,
    /// The users table's secondary indexes while an import runs without
    /// them (`import_starting`), to build once at its end.
    import_indexes: Mutex<Vec<String>>,
}

/// Storage failures (the disk, not the statement) become `Unavailable`,
/// everything else `Backend`.
pub(crate) fn classify(e: &rusqlite::Error) -> StoreError {
    use rusqlite::ffi::ErrorCode;
    match e.sqlite_error_code() {
        Some(
            ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::ReadOnly
            | ErrorCode::CannotOpen
            | ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked,
        ) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Backend(e.to_string()),
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    classify(&e)
}

/// Why the store did not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenFailure {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Refused(String),
}

fn sqlite_error(code: i32, msg: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some(msg))
}

/// What the running database actually uses, read back from the writing
/// connection (not echoed from the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durability {
    /// `wal` when the write-ahead log is in use.
    pub journal_mode: String,
    /// 2 = FULL (fsync at every commit), 1 = NORMAL.
    pub synchronous: i64,
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates roster's database. A file
    /// that belongs to another application or to a newer roster is refused
    /// before anything in it changes, journal mode included.
    pub fn open(path: &Path, options: SqliteOptions) -> Result<Self, OpenFailure> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                sqlite_error(
                    rusqlite::ffi::SQLITE_CANTOPEN,
                    format!("cannot create {}: {e}", dir.display()),
                )
            })?;
        }
        let mut conn = Connection::open(path)?;
        // Before anything else: several processes may be starting at once.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // The busy timeout does not cover every step: SQLite answers BUSY at
        // once, without waiting, where waiting could deadlock (the switch to
        // WAL, or a read turning into a write while another process commits
        // the schema). Every step below is idempotent, so on BUSY the whole
        // sequence starts again after a short, jittered pause.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut attempt = 0u32;
        loop {
            match prepare(&mut conn, options.synchronous) {
                Err(OpenFailure::Sqlite(e))
                    if is_busy(&e) && std::time::Instant::now() < deadline =>
                {
                    attempt += 1;
                    if !conn.is_autocommit() {
                        // A step left its savepoint open when it failed.
                        let _ = conn.execute_batch("ROLLBACK");
                    }
                    tracing::debug!(attempt, "database busy while opening; retrying");
                    let jitter = u64::from(std::process::id() % 7 + attempt % 5);
                    std::thread::sleep(std::time::Duration::from_millis(5 + 5 * jitter));
                }
                Err(e) => return Err(e),
                Ok(()) => break,
            }
        }
        // After the migrations, whose index builds sort through temporary
        // files: in memory they would hold a whole table's keys.
        conn.execute_batch(TEMP_IN_MEMORY)?;
        Self::with_writer(path, conn, options.readers)
    }

    /// Opens an existing roster database for reading only: no migration,
    /// no seeding, no change to the file (for `roster audit verify`).
    /// Writes through this store fail.
    pub fn open_read_only(path: &Path) -> Result<Self, OpenFailure> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        match migrations::identify(&conn)? {
            Err(refusal) => return Err(OpenFailure::Refused(refusal.to_string())),
            Ok(migrations::Identity::Empty) => {
                return Err(OpenFailure::Refused(format!(
                    "{} is not a roster database: it has no tables",
                    path.display()
                )));
            }
            Ok(migrations::Identity::Roster { .. }) => {}
        }
        Self::with_writer(path, conn, 2)
    }

    fn with_writer(path: &Path, conn: Connection, readers: usize) -> Result<Self, OpenFailure> {
        let (writer, _thread) = Writer::start(conn)
            .map_err(|e| sqlite_error(rusqlite::ffi::SQLITE_ERROR, e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                writer,
                readers: Mutex::new(Vec::new()),
                read_permits: tokio::sync::Semaphore::new(readers.max(1)),
                import_indexes: Mutex::new(Vec::new()),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Reads the journal mode and `synchronous` of the writing connection.
    pub async fn durability(&self) -> StoreResult<Durability> {
        self.inner
            .writer
            .write(|c| {
                let journal_mode: String = c
                    .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                    .map_err(backend)?;
                let synchronous: i64 = c
                    .query_row("PRAGMA synchronous", [], |r| r.get(0))
                    .map_err(backend)?;
                Ok(Durability {
                    journal_mode: journal_mode.to_ascii_lowercase(),
                    synchronous,
                })
            })
            .await
    }

    /// Ends the store: waits for queued writes, checkpoints the WAL into
    /// the database file and closes every connection, so that a clean stop
    /// leaves no `-wal` file behind. Later calls fail. Blocks; call it from
    /// a blocking context once the server has stopped.
    pub fn close(&self) {
        // Readers first: the last connection to close removes the WAL.
        self.inner.readers.lock().clear();
        self.inner.writer.close();
    }

    fn new_reader(&self) -> StoreResult<Connection> {
        let conn = Connection::open_with_flags(
            &self.inner.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(backend)?;
        stable_plans(&conn).map_err(backend)?;
        conn.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA cache_size = -4000;")
            .map_err(backend)?;
        Ok(conn)
    }

    /// Takes a read connection from the pool (opening one if the pool is
    /// empty); the caller must hold a read permit.
    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let conn = match self.inner.readers.lock().pop() {
            Some(c) => c,
            None => self.new_reader()?,
        };
        let result = f(&conn).map_err(backend);
        self.inner.readers.lock().push(conn);
        result
    }

    /// Runs a short read on the calling task: point reads take
    /// microseconds, less than handing them to another thread would cost.
    async fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let _permit = self
            .inner
            .read_permits
            .acquire()
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        self.with_reader(f)
    }

    /// Runs a read that may scan many rows on a blocking thread.
    async fn read_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StoreResult<T> {
        let permit = self
            .inner
            .read_permits
            .acquire()
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let this = self.clone();
        let result = tokio::task::spawn_blocking(move || this.with_reader(f))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        drop(permit);
        result
    }
}

/// Identifies, configures and migrates a freshly opened connection.
fn prepare(conn: &mut Connection, sync: Synchronous) -> Result<(), OpenFailure> {
    if let Err(refusal) = migrations::identify(conn)? {
        return Err(OpenFailure::Refused(refusal.to_string()));
    }
    configure(conn, sync)?;
    if let Err(refusal) = migrations::apply(conn)? {
        return Err(OpenFailure::Refused(refusal.to_string()));
    }
    Ok(())
}

fn is_busy(e: &rusqlite::Error) -> bool {
    use rusqlite::ffi::ErrorCode;
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Plans must not depend on bound values: otherwise SQLite re-prepares a
/// statement whenever a value bound to a LIKE changes (measured: the search
/// statement was parsed and planned again on every request, 1.2M
/// instructions each). Our plans never need it: prefix search narrows by
/// explicit ranges (`search`).
fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map(|_| ())
}

fn configure(conn: &Connection, sync: Synchronous) -> rusqlite::Result<()> {
    // Only after `identify` accepted the file: switching to WAL changes it.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(mode, "SQLite refused WAL mode");
    }
    let sync = match sync {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    stable_plans(conn)?;
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync};
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;
         PRAGMA wal_autocheckpoint = 1000;
         PRAGMA journal_size_limit = 16777216;
         PRAGMA cache_size = -16000;"
    ))
}

mod store_impl {
    use async_trait::async_trait;
    use roster_core::access::{
        ADMINISTRATOR_ROLE_ID, ApiKeyInfo, Assignment, BuiltinRole, Container, Group, Holder,
        Membership, NewContainer, NewGroup, NewRole, Role, RoleRef,
    };
    use roster_core::audit::{AuditEvent, AuditQuery, AuditRecord};
    use roster_core::auth::{KeyOwner, KeyRecord};
    use roster_core::authz::{Grant, Privilege};
    use roster_core::link::{LinkPurpose, LinkRecord};
    use roster_core::lockout::LockoutPolicy;
    use roster_core::store::*;
    use roster_core::transfer::{Cursor, ExportPage, Record, RecordKind};
    use roster_core::user::{
        IdempotencyHit, IdempotencyWrite, Inserted, LoginRecord, NewUserAccess, NewUserRecord,
        Patch, User, UserDraft, UserQuery,
    };
    use rusqlite::{Connection, OptionalExtension as _};
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::{SqliteStore, access, audit, backend, groups, links, roles, tree, users, webhooks};
    use roster_core::webhook::{Attempt, Delivery, NewDelivery, Webhook};

    impl SqliteStore {
        /// Runs `f` and appends `event` in the same transaction.
        async fn audited<T, F>(&self, event: AuditEvent, f: F) -> StoreResult<T>
        where
            T: Send + 'static,
            F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        {
            self.inner
                .writer
                .write(move |c| {
                    let out = f(c)?;
                    audit::append(c, &event)?;
                    Ok(out)
                })
                .await
        }
    }

    /// A user's missing reference is its container.
    fn container_field(e: StoreError) -> StoreError {
        match e {
            StoreError::MissingReference { .. } => StoreError::MissingReference {
                field: "container_id",
            },
            other => other,
        }
    }

    /// A new user with its sites, groups and roles.
    fn insert_user_with(
        c: &Connection,
        rec: &NewUserRecord,
        with: &NewUserAccess,
    ) -> StoreResult<User> {
        let user = users::insert(c, rec).map_err(container_field)?;
        users::add_sites(c, user.id, &with.sites)?;
        for g in &with.groups {
            groups::add_member(c, *g, user.id, None)?;
        }
        for (role, all, containers) in &with.assignments {
            roles::assign(c, Holder::User(user.id), *role, *all, containers, rec.now)?;
        }
        Ok(user)
    }

    /// One write of [`Store::write_all`], with the same statements (and
    /// the same error meanings) as the single-write methods.
    fn apply(c: &Connection, write: &Write, at: OffsetDateTime) -> StoreResult<()> {
        match write {
            Write::UpdateUser {
                id,
                expected_version,
                draft,
                container_id,
                password_hash,
                now,
            } => users::update(
                c,
                *id,
                *expected_version,
                draft,
                *container_id,
                password_hash,
                *now,
            )
            .map(drop),
            Write::ReplaceAssignments {
                holder,
                assignments,
            } => {
                roles::clear(c, *holder)?;
                for (role, all, containers) in assignments {
                    roles::assign(c, *holder, *role, *all, containers, at)?;
                }
                Ok(())
            }
            Write::Assign {
                holder,
                role,
                all_objects,
                containers,
            } => roles::assign(c, *holder, *role, *all_objects, containers, at).map(drop),
            Write::InsertGroup(g) => groups::insert(c, g).map(drop),
            Write::UpdateGroup {
                id,
                expected_version,
                name,
                description,
                attributes,
                now,
            } => groups::update(
                c,
                *id,
                *expected_version,
                name,
                description,
                attributes,
                *now,
            )
            .map(drop),
            Write::AddMember {
                group,
                user,
                access_level,
            } => groups::add_member(c, *group, *user, access_level.as_deref()).map(drop),
            Write::RemoveMember { group, user } => groups::remove_member(c, *group, *user),
            Write::DeleteGroup {
                id,
                expected_version,
            } => groups::delete(c, *id, *expected_version),
            Write::DeleteContainer(id) => tree::delete(c, *id),
            Write::DeleteUser {
                id,
                expected_version,
                at,
            } => users::set_deleted(c, *id, *expected_version, Some(*at), *at).map(drop),
            Write::SetUserSites { user, sites } => users::set_sites(c, *user, sites),
            Write::InsertUser { rec, access } => insert_user_with(c, rec, access).map(drop),
            Write::InsertKey {
                user,
                key,
                role,
                cap,
                expires_at,
            } => {
                access::insert_key(c, *user, key, *role, cap.as_deref(), *expires_at, at).map(drop)
            }
            Write::IssueLink(rec) => links::issue(c, rec),
            Write::RevokeLinks { user, purpose } => links::revoke(c, *user, *purpose),
            Write::RedeemLink {
                token_hash,
                purpose,
                now,
                effect,
            } => links::redeem(c, token_hash, *purpose, *now, effect),
        }
    }

    #[async_trait]
    impl UserStore for SqliteStore {
        async fn insert_user(
            &self,
            rec: NewUserRecord,
            with: NewUserAccess,
            idempotency: Option<IdempotencyWrite>,
            event: AuditEvent,
        ) -> StoreResult<Inserted> {
            self.inner
                .writer
                .write(move |c| {
                    // Checked again inside the transaction: two retries racing
                    // each other must still create one user.
                    if let Some(w) = &idempotency
                        && let Some(hit) =
                            access::idempotent_result(c, w.scope, &w.key).map_err(backend)?
                    {
                        return Ok(if hit.request_hash == w.request_hash {
                            Inserted::Replayed(hit.user)
                        } else {
                            Inserted::Mismatch
                        });
                    }
                    let user = insert_user_with(c, &rec, &with)?;
                    if let Some(w) = &idempotency {
                        access::save_idempotency(c, w, &user)?;
                    }
                    audit::append(c, &event)?;
                    Ok(Inserted::Created(user))
                })
                .await
        }

        async fn idempotent_result(
            &self,
            scope: Uuid,
            key: &str,
        ) -> StoreResult<Option<IdempotencyHit>> {
            self.read(|c| access::idempotent_result(c, scope, key))
                .await
        }

        async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>> {
            self.read(|c| users::by_id(c, id)).await
        }

        async fn user_for_login(&self, username_key: &str) -> StoreResult<Option<LoginRecord>> {
            self.read(|c| users::for_login(c, username_key)).await
        }

        async fn list_users(
            &self,
            q: &UserQuery,
            within: Option<&[Uuid]>,
        ) -> StoreResult<Vec<User>> {
            // A search, a subtree or a structured filter may read many rows
            // (a prefix search's walk reads up to ~50 × users ÷
            // `search::RARE` of them): off the runtime's threads, so that
            // such requests cannot stall the others. The rest are index
            // ranges.
            if q.q.is_some()
                || within.is_some()
                || q.first_name.is_some()
                || q.last_name.is_some()
                || q.filter.is_some()
            {
                let q = q.clone();
                let within = within.map(<[Uuid]>::to_vec);
                self.read_blocking(move |c| users::list(c, &q, within.as_deref()))
                    .await
            } else {
                self.read(|c| users::list(c, q, None)).await
            }
        }

        async fn count_users(&self, q: &UserQuery, within: Option<&[Uuid]>) -> StoreResult<u64> {
            let q = q.clone();
            let within = within.map(<[Uuid]>::to_vec);
            self.read_blocking(move |c| users::count(c, &q, within.as_deref()))
                .await
        }

        async fn update_user(
            &self,
            id: Uuid,
            expected_version: i64,
            draft: UserDraft,
            container_id: Uuid,
            password_hash: Patch<String>,
            now: OffsetDateTime,
            event: AuditEvent,
        ) -> StoreResult<User> {
            self.audited(event, move |c| {
                users::update(
                    c,
                    id,
                    expected_version,
                    &draft,
                    container_id,
                    &password_hash,
                    now,
                )
                .map_err(|e| match e {
                    StoreError::MissingReference { .. } => StoreError::MissingReference {
                        field: "container_id",
                    },
                    other => other,
                })
            })
            .await
        }

        async fn delete_user(
            &self,
            id: Uuid,
            expected_version: Option<i64>,
            event: AuditEvent,
        ) -> StoreResult<()> {
            self.audited(event, move |c| users::delete(c, id, expected_version))
                .await
        }

        async fn set_user_deleted(
            &self,
            id: Uuid,
            expected_version: Option<i64>,
            deleted_at: Option<OffsetDateTime>,
            event: AuditEvent,
        ) -> StoreResult<User> {
            let now = event.at;
            self.audited(event, move |c| {
                users::set_deleted(c, id, expected_version, deleted_at, now)
            })
            .await
        }

        async fn users_deleted_before(
            &self,
            cutoff: OffsetDateTime,
            limit: u32,
        ) -> StoreResult<Vec<Uuid>> {
            self.read(move |c| users::deleted_before(c, cutoff, limit))
                .await
        }

        async fn set_lock(
            &self,
            id: Uuid,
            until: Option<OffsetDateTime>,
            event: AuditEvent,
        ) -> StoreResult<User> {
            let now = event.at;
            self.audited(event, move |c| users::set_lock(c, id, until, now))
                .await
        }

        async fn login_succeeded(
            &self,
            id: Uuid,
            at: OffsetDateTime,
            totp_step: Option<i64>,
            source: String,
            event: AuditEvent,
        ) -> StoreResult<()> {
            self.audited(event, move |c| {
                users::record_login(c, id, at, totp_step)?;
                let key: Option<String> = c
                    .query_row("SELECT username_key FROM users WHERE id = ?1", [id], |r| {
                        r.get(0)
                    })
                    .optional()
                    .map_err(users::map_write_error)?;
                match key {
                    Some(k) => users::clear_throttle(c, &k, &source),
                    None => Ok(()),
                }
            })
            .await
        }

        async fn login_throttled(
            &self,
            account_key: &str,
            source: &str,
        ) -> StoreResult<Option<OffsetDateTime>> {
            self.read(|c| users::throttled_until(c, account_key, source))
                .await
        }

        async fn login_failed(
            &self,
            account_key: String,
            source: String,
            policy: LockoutPolicy,
            event: AuditEvent,
        ) -> StoreResult<Option<OffsetDateTime>> {
            let now = event.at;
            self.audited(event, move |c| {
                users::record_failure(c, &account_key, &source, &policy, now)
            })
            .await
        }

        async fn set_totp(
            &self,
            id: Uuid,
            secret: Option<String>,
            confirmed: bool,
            event: AuditEvent,
        ) -> StoreResult<()> {
            self.audited(event, move |c| {
                users::set_totp(c, id, secret.as_deref(), confirmed)
            })
            .await
        }

        async fn pending_totp(&self, id: Uuid) -> StoreResult<Option<String>> {
            self.read(|c| users::pending_totp(c, id)).await
        }
    }

    #[async_trait]
    impl AccessStore for SqliteStore {
        async fn ensure_builtin_roles(&self, list: &'static [BuiltinRole]) -> StoreResult<()> {
            self.inner
                .writer
                .write(move |c| roles::ensure_builtin(c, list))
                .await
        }

        async fn insert_container(
            &self,
            new: NewContainer,
            event: AuditEvent,
        ) -> StoreResult<Container> {
            self.audited(event, move |c| tree::insert(c, &new)).await
        }

        async fn container(&self, id: Uuid) -> StoreResult<Option<Container>> {
            self.read(|c| tree::by_id(c, id)).await
        }

        async fn container_by_seq(&self, seq: i64) -> StoreResult<Option<Container>> {
            self.read(|c| tree::by_seq(c, seq)).await
        }

        async fn containers_named(&self, name: &str) -> StoreResult<Vec<Container>> {
            self.read(|c| tree::named(c, name)).await
        }

        async fn container_chain(&self, id: Uuid) -> StoreResult<Vec<Uuid>> {
            self.read(|c| tree::chain(c, id)).await
        }

        async fn list_containers(&self) -> StoreResult<Vec<Container>> {
            self.read(tree::all).await
        }

        async fn update_container(
            &self,
            id: Uuid,
            expected_version: i64,
            name: String,
            description: String,
            parent_id: Option<Uuid>,
            now: OffsetDateTime,
            event: AuditEvent,
        ) -> StoreResult<Container> {
            self.audited(event, move |c| {
                tree::update(c, id, expected_version, &name, &description, parent_id, now)
            })
            .await
        }

        async fn delete_container(&self, id: Uuid, event: AuditEvent) -> StoreResult<()> {
            self.audited(event, move |c| tree::delete(c, id)).await
        }

        async fn insert_role(&self, r: NewRole, event: AuditEvent) -> StoreResult<Role> {
            self.audited(event, move |c| roles::insert(c, &r)).await
        }

        async fn role(&self, r: RoleRef) -> StoreResult<Option<Role>> {
            self.read(|c| roles::get(c, &r)).await
        }

        async fn list_roles(&self) -> StoreResult<Vec<Role>> {
            self.read(roles::all).await
        }

        async fn update_role(
            &self,
            id: Uuid,
            expected_version: i64,
            name: String,
            description: String,
            privileges: Vec<Privilege>,
            now: OffsetDateTime,
            event: AuditEvent,
        ) -> StoreResult<Role> {
            self.audited(event, move |c| {
                roles::update(
                    c,
                    id,
                    expected_version,
                    &name,
                    &description,
                    &privileges,
                    now,
                )
            })
            .await
        }

        async fn delete_role(&self, id: Uuid, event: AuditEvent) -> StoreResult<()> {
            self.audited(event, move |c| roles::delete(c, id)).await
        }

        async fn write_all(&self, writes: Vec<(Write, AuditEvent)>) -> StoreResult<()> {
            self.inner
                .writer
                .write(move |c| {
                    for (write, event) in &writes {
                        apply(c, write, event.at)?;
                        audit::append(c, event)?;
                    }
                    Ok(())
                })
                .await
        }

        async fn insert_group(&self, g: NewGroup, event: AuditEvent) -> StoreResult<Group> {
            self.audited(event, move |c| groups::insert(c, &g)).await
        }

        async fn group(&self, id: Uuid) -> StoreResult<Option<Group>> {
            self.read(|c| groups::by_id(c, id)).await
        }

        async fn group_by_seq(&self, seq: i64) -> StoreResult<Option<Group>> {
            self.read(|c| groups::by_seq(c, seq)).await
        }

        async fn list_groups(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<Group>> {
            self.read(|c| groups::page(c, after_seq, limit)).await
        }

        async fn delete_group(
            &self,
            id: Uuid,
            expected_version: Option<i64>,
            event: AuditEvent,
        ) -> StoreResult<()> {
            self.audited(event, move |c| groups::delete(c, id, expected_version))
                .await
        }

        async fn add_member(
            &self,
            group: Uuid,
            user: Uuid,
            access_level: Option<String>,
            event: AuditEvent,
        ) -> StoreResult<bool> {
            self.audited(event, move |c| {
                groups::add_member(c, group, user, access_level.as_deref())
            })
            .await
        }

        async fn remove_member(
            &self,
            group: Uuid,
            user: Uuid,
            event: AuditEvent,
        ) -> StoreResult<()> {
            self.audited(event, move |c| groups::remove_member(c, group, user))
                .await
        }

        async fn members(&self, group: Uuid, after_seq: i64, limit: u32) -> StoreResult<Vec<User>> {
            self.read(|c| groups::members(c, group, after_seq, limit))
                .await
        }

        async fn groups_of(&self, user: Uuid) -> StoreResult<Vec<Membership>> {
            self.read(|c| groups::of_user(c, user)).await
        }

        async fn assign(
            &self,
            holder: Holder,
            role: Uuid,
            all_objects: bool,
            containers: Vec<Uuid>,
            event: AuditEvent,
        ) -> StoreResult<Assignment> {
            let now = event.at;
            self.audited(event, move |c| {
                roles::assign(c, holder, role, all_objects, &containers, now)
            })
            .await
        }

        async fn replace_assignments(
            &self,
            holder: Holder,
            assignments: Vec<(Uuid, bool, Vec<Uuid>)>,
            event: AuditEvent,
        ) -> StoreResult<Vec<Assignment>> {
            let now = event.at;
            self.audited(event, move |c| {
                roles::clear(c, holder)?;
                for (role, all, containers) in &assignments {
                    roles::assign(c, holder, *role, *all, containers, now)?;
                }
                roles::of(c, holder).map_err(backend)
            })
            .await
        }

        async fn set_container_users(
            &self,
            container: Uuid,
            users: Vec<Uuid>,
            event: AuditEvent,
        ) -> StoreResult<()> {
            self.audited(event, move |c| {
                roles::set_container_users(c, container, &users)
            })
            .await
        }

        async fn unassign(&self, assignment: Uuid, event: AuditEvent) -> StoreResult<()> {
            self.audited(event, move |c| roles::unassign(c, assignment))
                .await
        }

        async fn assignments_of(&self, holder: Holder) -> StoreResult<Vec<Assignment>> {
            self.read(|c| roles::of(c, holder)).await
        }

        async fn assignments_of_role(&self, role: Uuid) -> StoreResult<Vec<Assignment>> {
            self.read(|c| roles::of_role(c, role)).await
        }

        async fn assignments_in(&self, container: Uuid) -> StoreResult<Vec<Assignment>> {
            self.read(|c| roles::scoped_to(c, container)).await
        }

        async fn assignment(&self, id: Uuid) -> StoreResult<Option<Assignment>> {
            self.read(|c| roles::by_id(c, id)).await
        }

        async fn grants_of(&self, user: Uuid) -> StoreResult<Vec<Grant>> {
            self.read(|c| roles::grants_of(c, user)).await
        }
    }

    #[async_trait]
    impl CredentialStore for SqliteStore {
        async fn signing_secrets(&self, candidate: Vec<u8>) -> StoreResult<Vec<(String, Vec<u8>)>> {
            self.inner
                .writer
                .write(move |c| access::signing_secrets(c, &candidate))
                .await
        }

        async fn add_signing_secret(
            &self,
            kid: String,
            secret: Vec<u8>,
            event: AuditEvent,
        ) -> StoreResult<()> {
            self.audited(event, move |c| access::add_signing_secret(c, &kid, &secret))
                .await
        }

        async fn insert_key(
            &self,
            user: Uuid,
            key: KeyRecord,
            role: Option<Uuid>,
            cap: Option<Vec<Privilege>>,
            expires_at: Option<OffsetDateTime>,
            event: AuditEvent,
        ) -> StoreResult<ApiKeyInfo> {
            let now = event.at;
            self.audited(event, move |c| {
                access::insert_key(c, user, &key, role, cap.as_deref(), expires_at, now)
            })
            .await
        }

        async fn key_owner(&self, key_hash: &str) -> StoreResult<Option<KeyOwner>> {
            self.read(|c| access::key_owner(c, key_hash)).await
        }

        async fn key(&self, id: Uuid) -> StoreResult<Option<ApiKeyInfo>> {
            self.read(|c| access::key_by_id(c, id)).await
        }

        async fn list_keys(&self, user: Option<Uuid>) -> StoreResult<Vec<ApiKeyInfo>> {
            self.read(|c| access::list_keys(c, user)).await
        }

        async fn revoke_key(
            &self,
            id: Uuid,
            at: OffsetDateTime,
            event: AuditEvent,
        ) -> StoreResult<()> {
            self.audited(event, move |c| access::revoke_key(c, id, at))
                .await
        }

        async fn touch_key(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<()> {
            self.inner
                .writer
                .write(move |c| access::touch_key(c, id, at))
                .await
        }

        async fn revoke_token(
            &self,
            jti: Uuid,
            expires_at: OffsetDateTime,
            event: AuditEvent,
        ) -> StoreResult<()> {
            self.audited(event, move |c| access::revoke_token(c, jti, expires_at))
                .await
        }

        async fn token_revoked(&self, jti: Uuid) -> StoreResult<bool> {
            self.read(|c| access::token_revoked(c, jti)).await
        }

        async fn create_session(
            &self,
            jti: Uuid,
            user: Uuid,
            idle_secs: u64,
            expires_at: OffsetDateTime,
        ) -> StoreResult<()> {
            self.inner
                .writer
                .write(move |c| access::create_session(c, jti, user, idle_secs, expires_at))
                .await
        }

        async fn session(&self, jti: Uuid) -> StoreResult<Option<(u64, OffsetDateTime)>> {
            self.read(|c| access::session(c, jti)).await
        }

        async fn extend_session(&self, jti: Uuid, expires_at: OffsetDateTime) -> StoreResult<()> {
            self.inner
                .writer
                .write(move |c| access::extend_session(c, jti, expires_at))
                .await
        }

        async fn link(&self, token_hash: &str) -> StoreResult<Option<LinkRecord>> {
            self.read(|c| links::by_hash(c, token_hash)).await
        }

        async fn pending_link(
            &self,
            user: Uuid,
            purpose: LinkPurpose,
        ) -> StoreResult<Option<LinkRecord>> {
            self.read(|c| links::pending(c, user, purpose)).await
        }
    }

    #[async_trait]
    impl AuditStore for SqliteStore {
        async fn append_audit(&self, event: AuditEvent) -> StoreResult<()> {
            self.inner
                .writer
                .write(move |c| audit::append(c, &event))
                .await
        }

        async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
            let q = q.clone();
            self.read_blocking(move |c| audit::list(c, &q)).await
        }

        async fn audit_chain(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
            self.read_blocking(move |c| audit::chain(c, after_seq, limit))
                .await
        }
    }

    #[async_trait]
    impl TransferStore for SqliteStore {
        async fn export_chunk(
            &self,
            kind: RecordKind,
            after: Cursor,
            limit: u32,
        ) -> StoreResult<ExportPage> {
            self.export_page(kind, after, limit).await
        }

        async fn import_chunk(&self, records: Vec<Record>) -> Result<u64, ImportFailure> {
            self.import_records(records).await
        }

        async fn import_starting(&self) -> StoreResult<()> {
            let set_aside = self
                .inner
                .writer
                .write(super::transfer::drop_secondary_indexes)
                .await?;
            *self.inner.import_indexes.lock() = set_aside;
            Ok(())
        }

        async fn import_finished(&self) -> StoreResult<()> {
            let indexes = std::mem::take(&mut *self.inner.import_indexes.lock());
            if indexes.is_empty() {
                return Ok(());
            }
            self.inner
                .writer
                .write(move |c| super::transfer::create_indexes(c, &indexes))
                .await
        }

        async fn is_empty_for_import(&self) -> StoreResult<bool> {
            self.empty_for_import().await
        }
    }

    #[async_trait]
    impl WebhookStore for SqliteStore {
        async fn insert_webhook(&self, w: Webhook, event: AuditEvent) -> StoreResult<Webhook> {
            self.audited(event, move |c| webhooks::insert(c, &w)).await
        }

        async fn webhook(&self, id: Uuid) -> StoreResult<Option<Webhook>> {
            self.read(|c| webhooks::by_id(c, id)).await
        }

        async fn list_webhooks(&self) -> StoreResult<Vec<Webhook>> {
            self.read(webhooks::all).await
        }

        async fn update_webhook(&self, w: Webhook, event: AuditEvent) -> StoreResult<Webhook> {
            self.audited(event, move |c| webhooks::update(c, &w)).await
        }

        async fn delete_webhook(&self, id: Uuid, event: AuditEvent) -> StoreResult<()> {
            self.audited(event, move |c| webhooks::delete(c, id)).await
        }

        async fn queue_deliveries(
            &self,
            webhook: Uuid,
            from: i64,
            to: i64,
            deliveries: Vec<NewDelivery>,
            now: OffsetDateTime,
        ) -> StoreResult<()> {
            self.inner
                .writer
                .write(move |c| webhooks::queue(c, webhook, from, to, &deliveries, now))
                .await
        }

        async fn claim_deliveries(
            &self,
            now: OffsetDateTime,
            lease_until: OffsetDateTime,
            limit: u32,
        ) -> StoreResult<Vec<Delivery>> {
            self.inner
                .writer
                .write(move |c| webhooks::claim(c, now, lease_until, limit))
                .await
        }

        async fn record_attempt(&self, delivery: Uuid, attempt: Attempt) -> StoreResult<()> {
            self.inner
                .writer
                .write(move |c| webhooks::record(c, delivery, &attempt))
                .await
        }

        async fn deliveries(
            &self,
            webhook: Uuid,
            before_seq: Option<i64>,
            limit: u32,
        ) -> StoreResult<Vec<Delivery>> {
            self.read_blocking(move |c| webhooks::page(c, webhook, before_seq, limit))
                .await
        }

        async fn purge_deliveries(&self, before: OffsetDateTime, limit: u32) -> StoreResult<u64> {
            self.inner
                .writer
                .write(move |c| webhooks::purge(c, before, limit))
                .await
        }

        async fn redeliver(
            &self,
            webhook: Uuid,
            delivery: Uuid,
            now: OffsetDateTime,
            event: AuditEvent,
        ) -> StoreResult<Delivery> {
            self.audited(event, move |c| {
                webhooks::redeliver(c, webhook, delivery, now)
            })
            .await
        }
    }

    #[async_trait]
    impl Store for SqliteStore {
        async fn durability_report(&self) -> StoreResult<String> {
            let d = self.durability().await?;
            let synchronous = match d.synchronous {
                3 => "EXTRA",
                2 => "FULL",
                1 => "NORMAL",
                _ => "OFF",
            };
            Ok(format!(
                "sqlite journal_mode={} synchronous={synchronous}",
                d.journal_mode
            ))
        }

        fn can_backup(&self) -> bool {
            true
        }

        /// `VACUUM INTO` on a reading connection: one read transaction, so
        /// the copy is the database at one moment, and writers go on.
        async fn backup_into(&self, path: &std::path::Path) -> StoreResult<()> {
            let Some(target) = path.to_str().map(str::to_owned) else {
                return Err(StoreError::Backend(format!(
                    "{} is not a UTF-8 path",
                    path.display()
                )));
            };
            self.read_blocking(move |c| c.execute("VACUUM INTO ?1", [target]).map(|_| ()))
                .await
        }

        fn close(&self) {
            SqliteStore::close(self)
        }

        async fn ping(&self) -> StoreResult<()> {
            // Reads may still work on a full disk; readiness means writes do.
            if self.inner.writer.storage_failed() {
                return Err(StoreError::Unavailable(
                    "the last write failed for a storage reason".into(),
                ));
            }
            self.read(|c| c.query_row("SELECT 1", [], |_| Ok(()))).await
        }

        async fn bootstrap(&self, b: Bootstrap) -> StoreResult<bool> {
            self.inner
                .writer
                .write(move |c| {
                    let any: bool = c
                        .query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))
                        .map_err(backend)?;
                    if any {
                        access::expire_idempotency(c)?;
                        return Ok(false);
                    }
                    let admin = users::insert(c, &b.admin)?;
                    roles::assign(
                        c,
                        Holder::User(admin.id),
                        ADMINISTRATOR_ROLE_ID,
                        true,
                        &[],
                        b.admin.now,
                    )?;
                    if let Some(key) = &b.key {
                        access::insert_key(c, admin.id, key, None, None, None, b.admin.now)?;
                    }
                    audit::append(c, &b.audit)?;
                    Ok(true)
                })
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer keeps its savepoint journals in memory, and an import's
    /// index builds (which set it to files) give it back.
    #[tokio::test]
    async fn the_writer_keeps_temporary_files_in_memory_after_an_index_build() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db"), SqliteOptions::default()).unwrap();
        let temp_store = |store: &SqliteStore| {
            let store = store.clone();
            async move {
                store
                    .inner
                    .writer
                    .write(|c| {
                        c.query_row("PRAGMA temp_store", [], |r| r.get::<_, i64>(0))
                            .map_err(backend)
                    })
                    .await
                    .unwrap()
            }
        };
        assert_eq!(temp_store(&store).await, 2, "MEMORY");
        store
            .inner
            .writer
            .write(|c| {
                let indexes = transfer::drop_secondary_indexes(c)?;
                assert!(!indexes.is_empty());
                transfer::create_indexes(c, &indexes)
            })
            .await
            .unwrap();
        assert_eq!(temp_store(&store).await, 2, "MEMORY again");
    }

    /// A lock held past the busy timeout (another process migrating a
    /// large file, or SQLite answering BUSY without waiting) delays the
    /// open; it does not fail it.
    #[test]
    fn opening_outlasts_a_lock_held_past_the_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locked.db");
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let opener = {
            let path = path.clone();
            std::thread::spawn(move || {
                tx.send(()).unwrap();
                SqliteStore::open(&path, SqliteOptions::default()).map(drop)
            })
        };
        rx.recv().unwrap();
        std::thread::sleep(std::time::Duration::from_secs(6));
        holder.execute_batch("COMMIT").unwrap();
        drop(holder);
        opener.join().unwrap().expect("opens once the lock is gone");
    }
}
