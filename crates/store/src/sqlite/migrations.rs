//! Schema versions, embedded in the binary and applied in order at start.
//! `PRAGMA user_version` records how many have run; `PRAGMA application_id`
//! marks the file as roster's, so that a database of another application
//! (or a newer roster) is refused before anything in it changes.

use rusqlite::{Connection, TransactionBehavior};

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_access_rule.sql"),
    include_str!("migrations/0003_container_description.sql"),
    include_str!("migrations/0004_user_soft_delete.sql"),
    include_str!("migrations/0005_user_sites.sql"),
    include_str!("migrations/0006_link_tokens.sql"),
    include_str!("migrations/0007_webhooks.sql"),
    include_str!("migrations/0008_user_search.sql"),
];

/// roster's SQLite `application_id`: "Rost" in ASCII.
pub const APPLICATION_ID: i64 = 0x526F_7374;

/// Tables every roster schema has had since version 1: a file without the
/// application id but with these is a roster database from before the id
/// was set, and is adopted.
const ROSTER_TABLES: &[&str] = &["users", "audit_events", "signing_keys"];

/// Schema versions this binary knows.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// Why a file cannot be used as roster's database.
#[derive(Debug)]
pub enum Refusal {
    /// Another application's database (its own id, or foreign tables).
    Foreign(String),
    /// Written by a newer roster: this binary would not understand it.
    Newer { found: i64, supported: i64 },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Foreign(why) => write!(
                f,
                "not a roster database ({why}); refusing to change it. Point ROSTER_DATABASE_URL at a roster database or a new file"
            ),
            Refusal::Newer { found, supported } => write!(
                f,
                "the database has schema version {found}, newer than the {supported} this roster binary supports; upgrade roster (or restore a backup) instead of downgrading"
            ),
        }
    }
}

/// What a file is, read without changing it.
#[derive(Debug, PartialEq, Eq)]
pub enum Identity {
    /// No tables at all: a new file.
    Empty,
    /// roster's, at this schema version (maybe from before the id was set).
    Roster { version: i64, marked: bool },
}

/// Reads the header and the table list; changes nothing. The reads share
/// one snapshot (a savepoint is a read transaction outside a transaction,
/// and nests inside one): read one by one, a process starting beside
/// another that is creating the schema could see its tables but not yet
/// its application id, and refuse a roster file as foreign.
pub fn identify(conn: &Connection) -> rusqlite::Result<Result<Identity, Refusal>> {
    conn.execute_batch("SAVEPOINT identify")?;
    let found = read_identity(conn);
    let released = conn.execute_batch("RELEASE identify");
    let found = found?;
    released?;
    Ok(found)
}

fn read_identity(conn: &Connection) -> rusqlite::Result<Result<Identity, Refusal>> {
    let app_id: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let tables: Vec<String> = {
        let mut stmt = conn.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    let identity = if app_id == APPLICATION_ID {
        Identity::Roster {
            version,
            marked: true,
        }
    } else if app_id != 0 {
        return Ok(Err(Refusal::Foreign(format!(
            "its SQLite application_id is {app_id:#x}, roster's is {APPLICATION_ID:#x}"
        ))));
    } else if tables.is_empty() {
        Identity::Empty
    } else if version >= 1 && ROSTER_TABLES.iter().all(|t| tables.iter().any(|n| n == t)) {
        Identity::Roster {
            version,
            marked: false,
        }
    } else {
        let mut names = tables
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if tables.len() > 5 {
            names.push_str(", …");
        }
        return Ok(Err(Refusal::Foreign(format!(
            "it has tables ({names}) and no roster application_id"
        ))));
    };
    if let Identity::Roster { version, .. } = identity
        && version > latest()
    {
        return Ok(Err(Refusal::Newer {
            found: version,
            supported: latest(),
        }));
    }
    Ok(Ok(identity))
}

/// Brings the schema up to date. Each step reads the version inside its
/// own `BEGIN IMMEDIATE`, so when several processes start on one new file
/// at once, one applies each migration and the others see it applied.
pub fn apply(conn: &mut Connection) -> rusqlite::Result<Result<(), Refusal>> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (current, marked) = match identify(&tx)? {
            Err(refusal) => return Ok(Err(refusal)),
            Ok(Identity::Empty) => (0, false),
            Ok(Identity::Roster { version, marked }) => (version.max(0), marked),
        };
        if !marked {
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        }
        let Some(sql) = MIGRATIONS.get(current as usize) else {
            tx.commit()?;
            return Ok(Ok(()));
        };
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", current + 1)?;
        tx.commit()?;
        tracing::info!(version = current + 1, "applied database migration");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app_id(c: &Connection) -> i64 {
        c.query_row("PRAGMA application_id", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_new_file_is_migrated_and_marked() {
        let mut c = Connection::open_in_memory().unwrap();
        assert_eq!(identify(&c).unwrap().unwrap(), Identity::Empty);
        apply(&mut c).unwrap().unwrap();
        assert_eq!(app_id(&c), APPLICATION_ID);
        assert_eq!(
            identify(&c).unwrap().unwrap(),
            Identity::Roster {
                version: latest(),
                marked: true
            }
        );
    }

    #[test]
    fn a_roster_file_from_before_the_id_is_adopted() {
        let mut c = Connection::open_in_memory().unwrap();
        apply(&mut c).unwrap().unwrap();
        c.pragma_update(None, "application_id", 0).unwrap();
        assert!(matches!(
            identify(&c).unwrap(),
            Ok(Identity::Roster { marked: false, .. })
        ));
        apply(&mut c).unwrap().unwrap();
        assert_eq!(app_id(&c), APPLICATION_ID);
    }

    #[test]
    fn foreign_and_newer_files_are_refused_unchanged() {
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE users (id INTEGER)").unwrap();
        // A table named like one of roster's is not enough.
        assert!(matches!(apply(&mut c).unwrap(), Err(Refusal::Foreign(_))));
        assert_eq!(app_id(&c), 0);
        let tables: i64 = c
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 1);

        let mut c = Connection::open_in_memory().unwrap();
        apply(&mut c).unwrap().unwrap();
        c.pragma_update(None, "user_version", latest() + 1).unwrap();
        let refusal = apply(&mut c).unwrap().unwrap_err();
        let text = refusal.to_string();
        assert!(
            text.contains(&format!("schema version {}", latest() + 1)),
            "{text}"
        );
    }
}
