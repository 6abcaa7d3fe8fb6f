//! The embedded store: one SQLite file in WAL mode, `synchronous=FULL` so an
//! acknowledged write survives power loss, one writer thread doing group
//! commit, and a small pool of read-only connections used inline.

mod access;
mod migrations;
mod users;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use roster_core::store::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};

use writer::Writer;

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
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    pub fn open(path: &Path, options: SqliteOptions) -> rusqlite::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                    Some(format!("cannot create {}: {e}", dir.display())),
                )
            })?;
        }
        let mut conn = Connection::open(path)?;
        configure(&conn, options.synchronous)?;
        migrations::apply(&mut conn)?;
        let (writer, _thread) = Writer::start(conn).map_err(|e| {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                Some(e.to_string()),
            )
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                writer,
                readers: Mutex::new(Vec::new()),
                read_permits: tokio::sync::Semaphore::new(options.readers.max(1)),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn new_reader(&self) -> StoreResult<Connection> {
        let conn = Connection::open_with_flags(
            &self.inner.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(backend)?;
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

fn configure(conn: &Connection, sync: Synchronous) -> rusqlite::Result<()> {
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(mode, "SQLite refused WAL mode");
    }
    let sync = match sync {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
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
    use roster_core::authz::ADMINISTRATOR_ROLE;
    use roster_core::store::{
        Bootstrap, IdempotencyHit, IdempotencyWrite, Inserted, KeyOwner, LoginRecord,
        NewUserRecord, Store, StoreError, StoreResult,
    };
    use roster_core::user::{Patch, User, UserDraft, UserQuery};
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::{SqliteStore, access, backend, users};

    const SIGNING_SECRET: &str = "token_signing_secret";
    /// Bulk imports commit in chunks of this many rows.
    const BULK_CHUNK: usize = 20_000;

    #[async_trait]
    impl Store for SqliteStore {
        async fn ping(&self) -> StoreResult<()> {
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
                        return Ok(false);
                    }
                    let admin = users::insert(c, &b.admin)?;
                    access::grant_role(c, admin.id, ADMINISTRATOR_ROLE)?;
                    if let Some(key) = &b.key {
                        access::insert_key(c, admin.id, key, b.admin.now)?;
                    }
                    access::expire_idempotency(c)?;
                    Ok(true)
                })
                .await
        }

        async fn signing_secret(&self, candidate: Vec<u8>) -> StoreResult<Vec<u8>> {
            self.inner
                .writer
                .write(move |c| {
                    access::put_setting_if_absent(c, SIGNING_SECRET, &candidate)?;
                    access::setting(c, SIGNING_SECRET)
                        .map_err(backend)?
                        .ok_or_else(|| StoreError::Backend("signing secret missing".into()))
                })
                .await
        }

        async fn insert_user(
            &self,
            rec: NewUserRecord,
            idempotency: Option<IdempotencyWrite>,
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
                    let user = users::insert(c, &rec)?;
                    if let Some(w) = &idempotency {
                        access::save_idempotency(c, w, &user)?;
                    }
                    Ok(Inserted::Created(user))
                })
                .await
        }

        async fn insert_users_bulk(&self, recs: Vec<NewUserRecord>) -> StoreResult<u64> {
            let mut written = 0u64;
            let mut recs = recs.into_iter().peekable();
            while recs.peek().is_some() {
                let chunk: Vec<NewUserRecord> = recs.by_ref().take(BULK_CHUNK).collect();
                written += self
                    .inner
                    .writer
                    .write(move |c| {
                        for rec in &chunk {
                            users::insert(c, rec)?;
                        }
                        Ok(chunk.len() as u64)
                    })
                    .await?;
            }
            Ok(written)
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
            Ok(self.read(|c| users::for_login(c, username_key)).await?.map(
                |(user, password_hash)| LoginRecord {
                    user,
                    password_hash,
                },
            ))
        }

        async fn list_users(&self, q: &UserQuery) -> StoreResult<Vec<User>> {
            // A text search may scan; everything else is an index range.
            if q.q.is_some() {
                let q = q.clone();
                self.read_blocking(move |c| users::list(c, &q)).await
            } else {
                self.read(|c| users::list(c, q)).await
            }
        }

        async fn update_user(
            &self,
            id: Uuid,
            expected_version: i64,
            draft: UserDraft,
            password_hash: Patch<String>,
            now: OffsetDateTime,
        ) -> StoreResult<User> {
            self.inner
                .writer
                .write(move |c| users::update(c, id, expected_version, &draft, &password_hash, now))
                .await
        }

        async fn delete_user(&self, id: Uuid, expected_version: Option<i64>) -> StoreResult<()> {
            self.inner
                .writer
                .write(move |c| users::delete(c, id, expected_version))
                .await
        }

        async fn record_login(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<()> {
            self.inner
                .writer
                .write(move |c| users::record_login(c, id, at))
                .await
        }

        async fn key_owner(&self, key_hash: &str) -> StoreResult<Option<KeyOwner>> {
            Ok(self
                .read(|c| access::key_owner(c, key_hash))
                .await?
                .map(|k| KeyOwner {
                    key_id: k.key_id,
                    key_hash: k.hash,
                    user: k.user,
                    expires_at: k.expires_at,
                    revoked: k.revoked,
                }))
        }

        async fn roles_of(&self, user_id: Uuid) -> StoreResult<Vec<String>> {
            self.read(|c| access::roles_of(c, user_id)).await
        }
    }
}
