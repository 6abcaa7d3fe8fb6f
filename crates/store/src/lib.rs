//! Storage backends for roster. Each implements `roster_core::store::Store`.

pub mod sqlite;

pub use sqlite::{SqliteOptions, SqliteStore};

/// Opens the store a database URL names.
pub fn open(url: &str, options: SqliteOptions) -> Result<SqliteStore, OpenError> {
    if let Some(path) = sqlite::path_from_url(url) {
        return SqliteStore::open(&path, options).map_err(|e| OpenError::Sqlite(e.to_string()));
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

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    Unsupported(String),
    #[error("cannot open SQLite database: {0}")]
    Sqlite(String),
}
