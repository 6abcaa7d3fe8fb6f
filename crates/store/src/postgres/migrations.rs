//! Schema versions for PostgreSQL, embedded in the binary and applied in
//! order at start, all in one transaction under an advisory lock: nodes
//! starting together take turns, and a failed migration leaves nothing
//! behind. `roster_meta` marks the schema as roster's and records its
//! version, so another application's database is refused unchanged.

use roster_core::audit::GENESIS;

use super::{Conn, OpenFailure};

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_container_description.sql"),
    include_str!("migrations/0003_user_soft_delete.sql"),
    include_str!("migrations/0004_user_sites.sql"),
    include_str!("migrations/0005_link_tokens.sql"),
    include_str!("migrations/0006_webhooks.sql"),
    include_str!("migrations/0007_user_search.sql"),
    include_str!("migrations/0008_user_text_search.sql"),
];

/// Shared with SQLite's `application_id`: "Rost".
const LOCK_ID: i64 = 0x526F_7374;

/// Why a database cannot be used as roster's.
#[derive(Debug)]
pub enum Refusal {
    Foreign(String),
    Newer { found: i64, supported: i64 },
    Empty,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Foreign(why) => write!(
                f,
                "not a roster database ({why}); refusing to change it. Point ROSTER_DATABASE_URL at a roster database or an empty one"
            ),
            Refusal::Newer { found, supported } => write!(
                f,
                "the database has schema version {found}, newer than the {supported} this roster binary supports; upgrade roster (or restore a backup) instead of downgrading"
            ),
            Refusal::Empty => write!(f, "the database holds no roster schema"),
        }
    }
}

fn refused(r: Refusal) -> OpenFailure {
    OpenFailure::Refused(r.to_string())
}

fn failed(e: tokio_postgres::Error) -> OpenFailure {
    OpenFailure::Connect(e.to_string())
}

/// The schema version found in the current schema (0: nothing there).
async fn version(c: &Conn) -> Result<i64, OpenFailure> {
    let tables: Vec<String> = c
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() ORDER BY table_name",
            &[],
        )
        .await
        .map_err(failed)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if tables.is_empty() {
        return Ok(0);
    }
    if !tables.iter().any(|t| t == "roster_meta") {
        let mut names = tables
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if tables.len() > 5 {
            names.push_str(", …");
        }
        return Err(refused(Refusal::Foreign(format!(
            "it has tables ({names}) and no roster_meta"
        ))));
    }
    let row = c
        .query_opt(
            "SELECT value FROM roster_meta WHERE key = 'schema_version'",
            &[],
        )
        .await
        .map_err(failed)?;
    let found = row
        .and_then(|r| r.get::<_, String>(0).parse::<i64>().ok())
        .ok_or_else(|| refused(Refusal::Foreign("roster_meta has no schema_version".into())))?;
    if found > MIGRATIONS.len() as i64 {
        return Err(refused(Refusal::Newer {
            found,
            supported: MIGRATIONS.len() as i64,
        }));
    }
    Ok(found)
}

/// Brings the schema up to date.
pub async fn apply(c: &mut deadpool_postgres::Object) -> Result<(), OpenFailure> {
    c.batch_execute("BEGIN").await.map_err(failed)?;
    let outcome = apply_in_transaction(c).await;
    match outcome {
        Ok(()) => c.batch_execute("COMMIT").await.map_err(failed),
        Err(e) => {
            let _ = c.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

async fn apply_in_transaction(c: &Conn) -> Result<(), OpenFailure> {
    c.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_ID])
        .await
        .map_err(failed)?;
    let current = version(c).await?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        c.batch_execute(sql).await.map_err(failed)?;
        if i == 0 {
            c.execute(
                "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, $1)",
                &[&GENESIS],
            )
            .await
            .map_err(failed)?;
        }
        c.execute(
            "INSERT INTO roster_meta (key, value) VALUES ('schema_version', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&(i as i64 + 1).to_string()],
        )
        .await
        .map_err(failed)?;
        tracing::info!(version = i + 1, "applied database migration");
    }
    Ok(())
}

/// Accepts only an existing roster schema this binary understands.
pub async fn check_existing(c: &Conn) -> Result<(), OpenFailure> {
    match version(c).await? {
        0 => Err(refused(Refusal::Empty)),
        _ => Ok(()),
    }
}
