//! The PostgreSQL store, for several stateless roster nodes sharing one
//! database. Reads use a bounded pool of connections with prepared
//! statements; writes go through one group-commit writer per node (see
//! `writer`); everything nodes must agree on lives in the database:
//! uniqueness in constraints, the audit chain behind a locked head row,
//! idempotency claims, throttle counters as atomic upserts, and cached
//! credentials dropped on every node through LISTEN/NOTIFY.

mod access;
mod audit;
mod groups;
mod links;
mod listen;
mod migrations;
mod roles;
mod transfer;
mod tree;
mod user_filter;
mod users;
mod webhooks;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use roster_core::store::{Invalidation, StoreError};
use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

pub use migrations::Refusal;
use writer::Writer;

/// The connection type every statement function takes.
pub type Conn = deadpool_postgres::ClientWrapper;
type PgResult<T> = Result<T, tokio_postgres::Error>;

#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections this node keeps at most for reads and announcements
    /// (the writer and the listener have one each besides).
    pub pool_size: usize,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self { pool_size: 16 }
    }
}

#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    writer: Writer,
    invalidations: broadcast::Sender<Invalidation>,
    listener: tokio::task::JoinHandle<()>,
    /// The users table's secondary indexes while an import runs without
    /// them (`import_starting`), to build once at its end.
    import_indexes: parking_lot::Mutex<Vec<String>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Why the store did not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenFailure {
    #[error("{0}")]
    Refused(String),
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(String),
}

/// The channel cached-credential invalidations travel on.
const CHANNEL: &str = "roster_auth";

impl PgStore {
    /// Connects, and creates or migrates roster's schema (several nodes
    /// starting at once take turns). A database holding another
    /// application's tables, or a newer roster's, is refused unchanged.
    pub async fn open(url: &str, options: PgOptions) -> Result<Self, OpenFailure> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| OpenFailure::Connect(e.to_string()))?;
        bounded(&mut config, "");
        let pool = pool(config.clone(), options.pool_size)?;
        {
            let mut conn = pool
                .get()
                .await
                .map_err(|e| OpenFailure::Connect(e.to_string()))?;
            migrations::apply(&mut conn).await?;
        }
        Self::start(config, pool)
    }

    /// Opens an existing roster database for reading only: no migration,
    /// and every session is read-only (for `roster audit verify`).
    pub async fn open_read_only(url: &str) -> Result<Self, OpenFailure> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| OpenFailure::Connect(e.to_string()))?;
        bounded(&mut config, "-c default_transaction_read_only=on");
        let pool = pool(config.clone(), 2)?;
        {
            let conn = pool
                .get()
                .await
                .map_err(|e| OpenFailure::Connect(e.to_string()))?;
            migrations::check_existing(&conn).await?;
        }
        Self::start(config, pool)
    }

    fn start(config: tokio_postgres::Config, pool: Pool) -> Result<Self, OpenFailure> {
        let writer =
            Writer::start(config.clone()).map_err(|e| OpenFailure::Connect(e.to_string()))?;
        let (tx, _) = broadcast::channel(1024);
        let listener = tokio::spawn(listen::run(config, CHANNEL, tx.clone()));
        Ok(PgStore {
            inner: Arc::new(Inner {
                writer,
                pool,
                invalidations: tx,
                listener,
                import_indexes: parking_lot::Mutex::new(Vec::new()),
            }),
        })
    }

    async fn conn(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.inner
            .pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Runs a test-only or maintenance statement (tests use it to play the
    /// attacker with direct edits).
    pub async fn execute_batch(&self, sql: &str) -> Result<(), StoreError> {
        self.conn().await?.batch_execute(sql).await.map_err(err)
    }
}

/// Every session gives up instead of waiting for ever: on a lock (another
/// node's writer cut off while holding the chain head), on a statement, and
/// on a transaction left open by a vanished client, whose locks PostgreSQL
/// then frees; keepalives notice a dead peer in seconds, not hours. Each
/// surfaces as `Unavailable`: 503 with Retry-After.
fn bounded(config: &mut tokio_postgres::Config, extra: &str) {
    let mut options = config.get_options().unwrap_or_default().to_string();
    for setting in [
        "-c lock_timeout=5000",
        "-c statement_timeout=30000",
        "-c idle_in_transaction_session_timeout=15000",
        extra,
    ] {
        if !setting.is_empty() {
            options.push(' ');
            options.push_str(setting);
        }
    }
    config.options(options.trim());
    config.connect_timeout(Duration::from_secs(5));
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(10));
}

fn pool(config: tokio_postgres::Config, size: usize) -> Result<Pool, OpenFailure> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(2))
        .runtime(Runtime::Tokio1)
        // A database that stops answering fails requests with 503
        // instead of queueing them for ever.
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .build()
        .map_err(|e| OpenFailure::Connect(e.to_string()))
}

/// PostgreSQL keeps microseconds: values written are cut to that, so what
/// a write returns equals what a later read finds.
pub(crate) fn micros_precision(t: OffsetDateTime) -> OffsetDateTime {
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 1000).unwrap_or(t)
}

/// Classifies a driver error by its SQLSTATE: constraints by kind (and
/// uniqueness by the constraint's name), storage trouble as `Unavailable`.
pub(crate) fn err(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION {
            return StoreError::Conflict {
                field: unique_field(db.constraint().unwrap_or_default()),
            };
        }
        if *code == SqlState::FOREIGN_KEY_VIOLATION {
            return StoreError::MissingReference { field: "reference" };
        }
        // Text with U+0000 in it, from a request: refused, not a fault.
        if *code == SqlState::CHARACTER_NOT_IN_REPERTOIRE
            || *code == SqlState::UNTRANSLATABLE_CHARACTER
        {
            return StoreError::Unstorable;
        }
        // 08 connection, 53 resources (disk full, too many connections),
        // 57 operator intervention (shutdown), 58 system (I/O); a read-only
        // database and lost races between nodes pass too.
        let class = &code.code()[..2];
        if matches!(class, "08" | "53" | "57" | "58")
            || *code == SqlState::READ_ONLY_SQL_TRANSACTION
            || *code == SqlState::LOCK_NOT_AVAILABLE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
        {
            return StoreError::Unavailable(db.message().to_string());
        }
        return StoreError::Backend(format!(
            "{} {}: {}",
            db.severity(),
            code.code(),
            db.message()
        ));
    }
    if e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()) {
        return StoreError::Unavailable(e.to_string());
    }
    StoreError::Backend(e.to_string())
}

/// The API field a unique constraint stands for (constraints are named in
/// the migrations for this).
fn unique_field(constraint: &str) -> &'static str {
    if constraint == "users_username_key_key" {
        "username"
    } else if constraint.ends_with("_seq_key") {
        "seq"
    } else if constraint.ends_with("_name_key_key") || constraint == "containers_sibling_name" {
        "name"
    } else {
        "id"
    }
}

/// As [`err`], naming a missing reference by the field the caller knows.
pub(crate) fn renamed(field: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| match err(e) {
        StoreError::MissingReference { .. } => StoreError::MissingReference { field },
        other => other,
    }
}

/// A conditional write that changed nothing: the row is gone, or its
/// version moved on.
pub(crate) fn not_found_or_stale(exists: bool) -> StoreError {
    if exists {
        StoreError::VersionMismatch
    } else {
        StoreError::NotFound
    }
}

mod store_impl;
