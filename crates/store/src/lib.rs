//! Storage backends for roster. Each implements `roster_core::store::Store`.

mod columns;
pub mod postgres;
pub mod sqlite;
pub mod testing;
mod user_filter;

pub use postgres::{PgOptions, PgStore};
pub use sqlite::{Durability, SqliteOptions, SqliteStore};

use std::sync::Arc;

use roster_core::store::Store;

/// How to open either backend; each reads its own part.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub sqlite: SqliteOptions,
    pub postgres: PgOptions,
}

/// Which backend a database URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Backend {
    pub fn of(url: &str) -> Result<Self, OpenError> {
        if let Some(path) = sqlite::path_from_url(url) {
            return Ok(Backend::Sqlite(path));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Backend::Postgres(url.to_string()));
        }
        Err(OpenError::Unsupported(format!(
            "unrecognised database URL scheme in {:?}; expected sqlite://PATH or postgres://USER@HOST/DB",
            url.split(':').next().unwrap_or_default()
        )))
    }
}

/// Opens (creating or migrating) the store a database URL names, choosing
/// the backend by its scheme.
pub async fn open(url: &str, options: Options) -> Result<Arc<dyn Store>, OpenError> {
    Ok(match Backend::of(url)? {
        Backend::Sqlite(path) => Arc::new(SqliteStore::open(&path, options.sqlite)?),
        Backend::Postgres(url) => Arc::new(PgStore::open(&url, options.postgres).await?),
    })
}

/// Opens an existing database for reading only (no migration, no change).
pub async fn open_read_only(url: &str) -> Result<Arc<dyn Store>, OpenError> {
    Ok(match Backend::of(url)? {
        Backend::Sqlite(path) => Arc::new(SqliteStore::open_read_only(&path)?),
        Backend::Postgres(url) => Arc::new(PgStore::open_read_only(&url).await?),
    })
}

impl From<sqlite::OpenFailure> for OpenError {
    fn from(e: sqlite::OpenFailure) -> Self {
        match e {
            sqlite::OpenFailure::Refused(why) => OpenError::Refused(why),
            sqlite::OpenFailure::Sqlite(e) => OpenError::Sqlite(e.to_string()),
        }
    }
}

impl From<postgres::OpenFailure> for OpenError {
    fn from(e: postgres::OpenFailure) -> Self {
        match e {
            postgres::OpenFailure::Refused(why) => OpenError::Refused(why),
            postgres::OpenFailure::Connect(why) => OpenError::Postgres(why),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database is not one roster may use (another application's, or newer).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("cannot open SQLite database: {0}")]
    Sqlite(String),
    #[error("cannot open PostgreSQL database: {0}")]
    Postgres(String),
}
