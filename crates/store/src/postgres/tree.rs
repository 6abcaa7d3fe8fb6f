//! SQL for the container tree on PostgreSQL.

use roster_core::access::{Container, NewContainer, name_key};
use roster_core::store::{StoreError, StoreResult};
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{Conn, PgResult, err, micros_precision, not_found_or_stale};

const COLUMNS: &str = "id, seq, name, parent_id, created_at, updated_at, version, description";

fn container(r: &Row) -> PgResult<Container> {
    Ok(Container {
        id: r.try_get(0)?,
        seq: r.try_get(1)?,
        name: r.try_get(2)?,
        parent_id: r.try_get(3)?,
        created_at: r.try_get(4)?,
        updated_at: r.try_get(5)?,
        version: r.try_get(6)?,
        description: r.try_get(7)?,
    })
}

fn one(row: Option<Row>, f: fn(&Row) -> PgResult<Container>) -> StoreResult<Option<Container>> {
    row.as_ref().map(f).transpose().map_err(err)
}

/// The next free `seq` of a table whose rows are rarely created, when the
/// caller preserves none. The advisory lock (held to the end of the
/// transaction) makes two nodes' creates take turns instead of colliding.
pub async fn next_seq(c: &Conn, table: &'static str) -> StoreResult<i64> {
    c.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&table])
        .await
        .map_err(err)?;
    c.query_one(
        &format!("SELECT coalesce(max(seq), 0) + 1 FROM {table}"),
        &[],
    )
    .await
    .map_err(err)?
    .try_get(0)
    .map_err(err)
}

pub async fn insert(c: &Conn, n: &NewContainer) -> StoreResult<Container> {
    if by_id(c, n.parent_id).await?.is_none() {
        return Err(StoreError::MissingReference { field: "parent_id" });
    }
    let seq = match n.seq {
        Some(s) => s,
        None => next_seq(c, "containers").await?,
    };
    c.execute(
        "INSERT INTO containers (id, seq, name, name_key, parent_id, created_at, updated_at,
             description)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
        &[
            &n.id,
            &seq,
            &n.name,
            &name_key(&n.name),
            &n.parent_id,
            &micros_precision(n.now),
            &n.description,
        ],
    )
    .await
    .map_err(err)?;
    by_id(c, n.id).await?.ok_or(StoreError::NotFound)
}

pub async fn by_id(c: &Conn, id: Uuid) -> StoreResult<Option<Container>> {
    let stmt = c
        .prepare_cached(&format!("SELECT {COLUMNS} FROM containers WHERE id = $1"))
        .await
        .map_err(err)?;
    one(c.query_opt(&stmt, &[&id]).await.map_err(err)?, container)
}

pub async fn by_seq(c: &Conn, seq: i64) -> StoreResult<Option<Container>> {
    let stmt = c
        .prepare_cached(&format!("SELECT {COLUMNS} FROM containers WHERE seq = $1"))
        .await
        .map_err(err)?;
    one(c.query_opt(&stmt, &[&seq]).await.map_err(err)?, container)
}

pub async fn all(c: &Conn) -> StoreResult<Vec<Container>> {
    let stmt = c
        .prepare_cached(&format!("SELECT {COLUMNS} FROM containers ORDER BY seq"))
        .await
        .map_err(err)?;
    let rows = c.query(&stmt, &[]).await.map_err(err)?;
    rows.iter()
        .map(container)
        .collect::<PgResult<_>>()
        .map_err(err)
}

pub async fn named(c: &Conn, name: &str) -> StoreResult<Vec<Container>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM containers WHERE name_key = $1 ORDER BY seq"
        ))
        .await
        .map_err(err)?;
    let rows = c.query(&stmt, &[&name_key(name)]).await.map_err(err)?;
    rows.iter()
        .map(container)
        .collect::<PgResult<_>>()
        .map_err(err)
}

pub async fn chain(c: &Conn, id: Uuid) -> StoreResult<Vec<Uuid>> {
    let stmt = c
        .prepare_cached(
            "WITH RECURSIVE up(id, parent_id, depth) AS (
                 SELECT id, parent_id, 0 FROM containers WHERE id = $1
                 UNION ALL
                 SELECT c.id, c.parent_id, up.depth + 1 FROM containers c JOIN up ON c.id = up.parent_id
                 WHERE up.depth < 1000)
             SELECT id FROM up ORDER BY depth",
        )
        .await
        .map_err(err)?;
    let rows = c.query(&stmt, &[&id]).await.map_err(err)?;
    rows.iter()
        .map(|r| r.try_get(0))
        .collect::<PgResult<_>>()
        .map_err(err)
}

pub async fn update(
    c: &Conn,
    id: Uuid,
    expected_version: i64,
    name: &str,
    description: &str,
    parent_id: Option<Uuid>,
    now: OffsetDateTime,
) -> StoreResult<Container> {
    if let Some(p) = parent_id {
        // Moves take turns across nodes: two crossing moves, each checked
        // alone, could otherwise close a cycle together.
        c.execute(
            "SELECT pg_advisory_xact_lock(hashtext('containers.move'))",
            &[],
        )
        .await
        .map_err(err)?;
        // Moving under itself or a descendant would detach a cycle.
        let up = chain(c, p).await?;
        if up.is_empty() {
            return Err(StoreError::MissingReference { field: "parent_id" });
        }
        if up.contains(&id) {
            return Err(StoreError::InUse("a container cannot move under itself"));
        }
    }
    let n = c
        .execute(
            "UPDATE containers SET name = $3, name_key = $4, parent_id = coalesce($5, parent_id),
                 updated_at = $6, version = version + 1, description = $7
             WHERE id = $1 AND version = $2",
            &[
                &id,
                &expected_version,
                &name,
                &name_key(name),
                &parent_id,
                &now,
                &description,
            ],
        )
        .await
        .map_err(err)?;
    if n == 0 {
        return Err(not_found_or_stale(by_id(c, id).await?.is_some()));
    }
    by_id(c, id).await?.ok_or(StoreError::NotFound)
}

pub async fn delete(c: &Conn, id: Uuid) -> StoreResult<()> {
    let row = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM containers WHERE parent_id = $1),
                    EXISTS (SELECT 1 FROM users WHERE container_id = $1)
                        OR EXISTS (SELECT 1 FROM user_sites WHERE container_id = $1)",
            &[&id],
        )
        .await
        .map_err(err)?;
    if row.try_get::<_, bool>(0).map_err(err)? {
        return Err(StoreError::InUse("the container has sub-containers"));
    }
    if row.try_get::<_, bool>(1).map_err(err)? {
        return Err(StoreError::InUse("the container holds users"));
    }
    // A user (or child) added by another node since the checks above
    // holds it too: the foreign key says so, as "in use".
    let n = c
        .execute("DELETE FROM containers WHERE id = $1", &[&id])
        .await
        .map_err(|e| match err(e) {
            StoreError::MissingReference { .. } => StoreError::InUse("the container is in use"),
            other => other,
        })?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
