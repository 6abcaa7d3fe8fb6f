//! Storage backends for roster. Each implements `roster_core::store::Store`.

pub mod sqlite;

pub use sqlite::{Durability, SqliteOptions, SqliteStore};

use std::sync::Arc;

use roster_core::store::Store;

/// Opens the store a database URL names, choosing the backend by its
/// scheme (`sqlite://PATH`; PostgreSQL to come).
pub fn open(url: &str, options: SqliteOptions) -> Result<Arc<dyn Store>, OpenError> {
    if let Some(path) = sqlite::path_from_url(url) {
        let store = SqliteStore::open(&path, options).map_err(OpenError::from)?;
        return Ok(Arc::new(store));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Err(OpenError::Unsupported(
            "PostgreSQL is not supported yet; use a sqlite:// URL".into(),
        ));
    }
    Err(OpenError::Unsupported(format!(
        "unrecognised database URL scheme in {:?}; expected sqlite://PATH",
        url.split(':').next().unwrap_or_default()
    )))
}

/// Opens an existing database for reading only (no migration, no change).
pub fn open_read_only(url: &str) -> Result<SqliteStore, OpenError> {
    match sqlite::path_from_url(url) {
        Some(path) => SqliteStore::open_read_only(&path).map_err(OpenError::from),
        None => Err(OpenError::Unsupported(format!(
            "read-only access needs a sqlite://PATH URL, not {url:?}"
        ))),
    }
}

impl From<sqlite::OpenFailure> for OpenError {
    fn from(e: sqlite::OpenFailure) -> Self {
        match e {
            sqlite::OpenFailure::Refused(why) => OpenError::Refused(why),
            sqlite::OpenFailure::Sqlite(e) => OpenError::Sqlite(e.to_string()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file is not one roster may use (another application's, or newer).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("cannot open SQLite database: {0}")]
    Sqlite(String),
}
