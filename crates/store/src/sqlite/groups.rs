//! SQL for groups and their members.

use roster_core::access::{Group, Membership, NewGroup, name_key};
use roster_core::store::{StoreError, StoreResult};
use roster_core::user::User;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use super::tree::next_seq;
use super::users::{USER_COLUMNS, from_micros, map_write_error, micros, user_from_row};

const COLUMNS: &str =
    "g.id, g.seq, g.name, g.description, g.created_at, g.updated_at, g.version, g.attributes";

fn group(r: &Row<'_>) -> rusqlite::Result<Group> {
    let attributes: String = r.get(7)?;
    Ok(Group {
        id: r.get(0)?,
        seq: r.get(1)?,
        name: r.get(2)?,
        description: r.get(3)?,
        created_at: from_micros(r.get(4)?),
        updated_at: from_micros(r.get(5)?),
        version: r.get(6)?,
        attributes: serde_json::from_str(&attributes).unwrap_or_default(),
    })
}

fn attributes_json(a: &Map<String, Value>) -> String {
    serde_json::to_string(a).unwrap_or_else(|_| "{}".into())
}

pub fn insert(conn: &Connection, g: &NewGroup) -> StoreResult<Group> {
    let seq = match g.seq {
        Some(s) => s,
        None => next_seq(conn, "groups")?,
    };
    conn.execute(
        "INSERT INTO groups (id, seq, name, name_key, description, attributes, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![
            g.id,
            seq,
            g.name,
            name_key(&g.name),
            g.description,
            attributes_json(&g.attributes),
            micros(g.now)
        ],
    )
    .map_err(map_write_error)?;
    by_id(conn, g.id)
        .map_err(map_write_error)?
        .ok_or(StoreError::NotFound)
}

pub fn by_id(conn: &Connection, id: Uuid) -> rusqlite::Result<Option<Group>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM groups g WHERE g.id = ?1"))?
        .query_row([id], group)
        .optional()
}

pub fn by_seq(conn: &Connection, seq: i64) -> rusqlite::Result<Option<Group>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM groups g WHERE g.seq = ?1"))?
        .query_row([seq], group)
        .optional()
}

pub fn page(conn: &Connection, after_seq: i64, limit: u32) -> rusqlite::Result<Vec<Group>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM groups g WHERE g.seq > ?1 ORDER BY g.seq LIMIT ?2"
    ))?
    .query_map(params![after_seq, limit], group)?
    .collect()
}

pub fn update(
    conn: &Connection,
    id: Uuid,
    expected_version: i64,
    name: &str,
    description: &str,
    attributes: &Map<String, Value>,
    now: OffsetDateTime,
) -> StoreResult<Group> {
    let n = conn
        .execute(
            "UPDATE groups SET name = ?3, name_key = ?4, description = ?5, attributes = ?6,
                 updated_at = ?7, version = version + 1
             WHERE id = ?1 AND version = ?2",
            params![
                id,
                expected_version,
                name,
                name_key(name),
                description,
                attributes_json(attributes),
                micros(now)
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

pub fn delete(conn: &Connection, id: Uuid, expected_version: Option<i64>) -> StoreResult<()> {
    let n = conn
        .execute(
            "DELETE FROM groups WHERE id = ?1 AND (?2 IS NULL OR version = ?2)",
            rusqlite::params![id, expected_version],
        )
        .map_err(map_write_error)?;
    if n == 0 {
        return Err(match by_id(conn, id).map_err(map_write_error)? {
            Some(_) => StoreError::VersionMismatch,
            None => StoreError::NotFound,
        });
    }
    Ok(())
}

/// Adds a member, or updates the access level of one. Returns whether the
/// user was newly added.
pub fn add_member(
    conn: &Connection,
    group: Uuid,
    user: Uuid,
    level: Option<&str>,
) -> StoreResult<bool> {
    if by_id(conn, group).map_err(map_write_error)?.is_none() {
        return Err(StoreError::NotFound);
    }
    let existed: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM group_members WHERE group_id = ?1 AND user_id = ?2)",
            params![group, user],
            |r| r.get(0),
        )
        .map_err(map_write_error)?;
    conn.execute(
        "INSERT INTO group_members (group_id, user_id, access_level, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (group_id, user_id) DO UPDATE SET
             access_level = ifnull(excluded.access_level, access_level),
             updated_at = excluded.updated_at",
        params![group, user, level, micros(OffsetDateTime::now_utc())],
    )
    .map_err(|e| match map_write_error(e) {
        StoreError::MissingReference { .. } => StoreError::MissingReference { field: "user_id" },
        other => other,
    })?;
    Ok(!existed)
}

pub fn remove_member(conn: &Connection, group: Uuid, user: Uuid) -> StoreResult<()> {
    let n = conn
        .execute(
            "DELETE FROM group_members WHERE group_id = ?1 AND user_id = ?2",
            params![group, user],
        )
        .map_err(map_write_error)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub fn members(
    conn: &Connection,
    group: Uuid,
    after_seq: i64,
    limit: u32,
) -> rusqlite::Result<Vec<User>> {
    conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM group_members m JOIN users u ON u.id = m.user_id
         WHERE m.group_id = ?1 AND u.seq > ?2 AND u.deleted_at IS NULL ORDER BY u.seq LIMIT ?3"
    ))?
    .query_map(params![group, after_seq, limit], user_from_row)?
    .collect()
}

pub fn of_user(conn: &Connection, user: Uuid) -> rusqlite::Result<Vec<Membership>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS}, m.access_level, m.created_at, m.updated_at
         FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = ?1 ORDER BY g.seq"
    ))?
    .query_map([user], |r| {
        Ok(Membership {
            group: group(r)?,
            access_level: r.get(8)?,
            since: from_micros(r.get(9)?),
            updated_at: from_micros(r.get(10)?),
        })
    })?
    .collect()
}
