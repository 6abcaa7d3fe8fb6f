//! SQL for the container tree.

use roster_core::access::{Container, NewContainer, name_key};
use roster_core::store::{StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, Row, params};
use time::OffsetDateTime;
use uuid::Uuid;

use super::users::{from_micros, map_write_error, micros};

const COLUMNS: &str = "id, seq, name, parent_id, created_at, updated_at, version, description";

fn container(r: &Row<'_>) -> rusqlite::Result<Container> {
    Ok(Container {
        id: r.get(0)?,
        seq: r.get(1)?,
        name: r.get(2)?,
        parent_id: r.get(3)?,
        created_at: from_micros(r.get(4)?),
        updated_at: from_micros(r.get(5)?),
        version: r.get(6)?,
        description: r.get(7)?,
    })
}

/// The next free `seq` of a table (when the caller preserves none).
pub fn next_seq(conn: &Connection, table: &str) -> StoreResult<i64> {
    conn.query_row(
        &format!("SELECT ifnull(max(seq), 0) + 1 FROM {table}"),
        [],
        |r| r.get(0),
    )
    .map_err(map_write_error)
}

pub fn insert(conn: &Connection, c: &NewContainer) -> StoreResult<Container> {
    if by_id(conn, c.parent_id).map_err(map_write_error)?.is_none() {
        return Err(StoreError::MissingReference { field: "parent_id" });
    }
    let seq = match c.seq {
        Some(s) => s,
        None => next_seq(conn, "containers")?,
    };
    conn.execute(
        "INSERT INTO containers (id, seq, name, name_key, parent_id, created_at, updated_at,
             description)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
        params![
            c.id,
            seq,
            c.name,
            name_key(&c.name),
            c.parent_id,
            micros(c.now),
            c.description
        ],
    )
    .map_err(map_write_error)?;
    by_id(conn, c.id)
        .map_err(map_write_error)?
        .ok_or(StoreError::NotFound)
}

pub fn by_id(conn: &Connection, id: Uuid) -> rusqlite::Result<Option<Container>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM containers WHERE id = ?1"))?
        .query_row([id], container)
        .optional()
}

pub fn by_seq(conn: &Connection, seq: i64) -> rusqlite::Result<Option<Container>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM containers WHERE seq = ?1"))?
        .query_row([seq], container)
        .optional()
}

pub fn all(conn: &Connection) -> rusqlite::Result<Vec<Container>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM containers ORDER BY seq"))?
        .query_map([], container)?
        .collect()
}

pub fn chain(conn: &Connection, id: Uuid) -> rusqlite::Result<Vec<Uuid>> {
    conn.prepare_cached(
        "WITH RECURSIVE up(id, parent_id, depth) AS (
             SELECT id, parent_id, 0 FROM containers WHERE id = ?1
             UNION ALL
             SELECT c.id, c.parent_id, up.depth + 1 FROM containers c JOIN up ON c.id = up.parent_id
             WHERE up.depth < 1000)
         SELECT id FROM up ORDER BY depth",
    )?
    .query_map([id], |r| r.get(0))?
    .collect()
}

pub fn update(
    conn: &Connection,
    id: Uuid,
    expected_version: i64,
    name: &str,
    description: &str,
    parent_id: Option<Uuid>,
    now: OffsetDateTime,
) -> StoreResult<Container> {
    if let Some(p) = parent_id {
        // Moving under itself or a descendant would detach a cycle.
        let up = chain(conn, p).map_err(map_write_error)?;
        if up.is_empty() {
            return Err(StoreError::MissingReference { field: "parent_id" });
        }
        if up.contains(&id) {
            return Err(StoreError::InUse("a container cannot move under itself"));
        }
    }
    let n = conn
        .execute(
            "UPDATE containers SET name = ?3, name_key = ?4, parent_id = ifnull(?5, parent_id),
                 updated_at = ?6, version = version + 1, description = ?7
             WHERE id = ?1 AND version = ?2",
            params![
                id,
                expected_version,
                name,
                name_key(name),
                parent_id,
                micros(now),
                description
            ],
        )
        .map_err(map_write_error)?;
    if n == 0 {
        return match by_id(conn, id).map_err(map_write_error)? {
            Some(_) => Err(StoreError::VersionMismatch),
            None => Err(StoreError::NotFound),
        };
    }
    by_id(conn, id)
        .map_err(map_write_error)?
        .ok_or(StoreError::NotFound)
}

pub fn delete(conn: &Connection, id: Uuid) -> StoreResult<()> {
    let children: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM containers WHERE parent_id = ?1)",
            [id],
            |r| r.get(0),
        )
        .map_err(map_write_error)?;
    if children {
        return Err(StoreError::InUse("the container has sub-containers"));
    }
    let users: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM users WHERE container_id = ?1)
                 OR EXISTS (SELECT 1 FROM user_sites WHERE container_id = ?1)",
            [id],
            |r| r.get(0),
        )
        .map_err(map_write_error)?;
    if users {
        return Err(StoreError::InUse("the container holds users"));
    }
    let n = conn
        .execute("DELETE FROM containers WHERE id = ?1", [id])
        .map_err(map_write_error)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub fn named(conn: &Connection, name: &str) -> rusqlite::Result<Vec<Container>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM containers WHERE name_key = ?1 ORDER BY seq"
    ))?
    .query_map([name_key(name)], container)?
    .collect()
}
