//! SQL for groups and their members on PostgreSQL.

use roster_core::access::{Group, Membership, NewGroup, name_key};
use roster_core::store::{StoreError, StoreResult};
use roster_core::user::User;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::tree::next_seq;
use super::users::{USER_COLUMNS, object, user_from_row};
use super::{Conn, PgResult, err, micros_precision, not_found_or_stale, renamed};

const COLUMNS: &str =
    "g.id, g.seq, g.name, g.description, g.created_at, g.updated_at, g.version, g.attributes";

fn group(r: &Row) -> PgResult<Group> {
    Ok(Group {
        id: r.try_get(0)?,
        seq: r.try_get(1)?,
        name: r.try_get(2)?,
        description: r.try_get(3)?,
        created_at: r.try_get(4)?,
        updated_at: r.try_get(5)?,
        version: r.try_get(6)?,
        attributes: object(r.try_get(7)?),
    })
}

pub async fn insert(c: &Conn, g: &NewGroup) -> StoreResult<Group> {
    let seq = match g.seq {
        Some(s) => s,
        None => next_seq(c, "groups").await?,
    };
    c.execute(
        "INSERT INTO groups (id, seq, name, name_key, description, attributes, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        &[
            &g.id,
            &seq,
            &g.name,
            &name_key(&g.name),
            &g.description,
            &Value::Object(g.attributes.clone()),
            &micros_precision(g.now),
        ],
    )
    .await
    .map_err(err)?;
    by_id(c, g.id).await?.ok_or(StoreError::NotFound)
}

pub async fn by_id(c: &Conn, id: Uuid) -> StoreResult<Option<Group>> {
    let stmt = c
        .prepare_cached(&format!("SELECT {COLUMNS} FROM groups g WHERE g.id = $1"))
        .await
        .map_err(err)?;
    let row = c.query_opt(&stmt, &[&id]).await.map_err(err)?;
    row.as_ref().map(group).transpose().map_err(err)
}

pub async fn by_seq(c: &Conn, seq: i64) -> StoreResult<Option<Group>> {
    let stmt = c
        .prepare_cached(&format!("SELECT {COLUMNS} FROM groups g WHERE g.seq = $1"))
        .await
        .map_err(err)?;
    let row = c.query_opt(&stmt, &[&seq]).await.map_err(err)?;
    row.as_ref().map(group).transpose().map_err(err)
}

pub async fn page(c: &Conn, after_seq: i64, limit: u32) -> StoreResult<Vec<Group>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM groups g WHERE g.seq > $1 ORDER BY g.seq LIMIT $2"
        ))
        .await
        .map_err(err)?;
    let rows = c
        .query(&stmt, &[&after_seq, &(limit as i64)])
        .await
        .map_err(err)?;
    rows.iter().map(group).collect::<PgResult<_>>().map_err(err)
}

pub async fn update(
    c: &Conn,
    id: Uuid,
    expected_version: i64,
    name: &str,
    description: &str,
    attributes: &Map<String, Value>,
    now: OffsetDateTime,
) -> StoreResult<Group> {
    let n = c
        .execute(
            "UPDATE groups SET name = $3, name_key = $4, description = $5, attributes = $6,
                 updated_at = $7, version = version + 1
             WHERE id = $1 AND version = $2",
            &[
                &id,
                &expected_version,
                &name,
                &name_key(name),
                &description,
                &Value::Object(attributes.clone()),
                &now,
            ],
        )
        .await
        .map_err(err)?;
    if n == 0 {
        return Err(not_found_or_stale(by_id(c, id).await?.is_some()));
    }
    by_id(c, id).await?.ok_or(StoreError::NotFound)
}

pub async fn delete(c: &Conn, id: Uuid, expected_version: Option<i64>) -> StoreResult<()> {
    let n = c
        .execute(
            "DELETE FROM groups WHERE id = $1 AND ($2::bigint IS NULL OR version = $2)",
            &[&id, &expected_version],
        )
        .await
        .map_err(err)?;
    if n == 0 {
        return Err(match by_id(c, id).await? {
            Some(_) => StoreError::VersionMismatch,
            None => StoreError::NotFound,
        });
    }
    Ok(())
}

/// Adds a member, or updates the access level of one. Returns whether the
/// user was newly added.
pub async fn add_member(
    c: &Conn,
    group: Uuid,
    user: Uuid,
    level: Option<&str>,
) -> StoreResult<bool> {
    if by_id(c, group).await?.is_none() {
        return Err(StoreError::NotFound);
    }
    // `xmax = 0` only on a freshly inserted row: one statement tells
    // whether the membership is new, whatever other nodes do meanwhile.
    let row = c
        .query_one(
            "INSERT INTO group_members AS m (group_id, user_id, access_level, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (group_id, user_id) DO UPDATE SET
                 access_level = coalesce(excluded.access_level, m.access_level),
                 updated_at = excluded.updated_at
             RETURNING (xmax = 0)",
            &[&group, &user, &level, &micros_precision(OffsetDateTime::now_utc())],
        )
        .await
        .map_err(renamed("user_id"))?;
    row.try_get(0).map_err(err)
}

pub async fn remove_member(c: &Conn, group: Uuid, user: Uuid) -> StoreResult<()> {
    let n = c
        .execute(
            "DELETE FROM group_members WHERE group_id = $1 AND user_id = $2",
            &[&group, &user],
        )
        .await
        .map_err(err)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub async fn members(c: &Conn, group: Uuid, after_seq: i64, limit: u32) -> StoreResult<Vec<User>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {USER_COLUMNS} FROM group_members m JOIN users u ON u.id = m.user_id
             WHERE m.group_id = $1 AND u.seq > $2 AND u.deleted_at IS NULL ORDER BY u.seq LIMIT $3"
        ))
        .await
        .map_err(err)?;
    let rows = c
        .query(&stmt, &[&group, &after_seq, &(limit as i64)])
        .await
        .map_err(err)?;
    rows.iter()
        .map(user_from_row)
        .collect::<PgResult<_>>()
        .map_err(err)
}

pub async fn of_user(c: &Conn, user: Uuid) -> StoreResult<Vec<Membership>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, m.access_level, m.created_at, m.updated_at
             FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = $1 ORDER BY g.seq"
        ))
        .await
        .map_err(err)?;
    let rows = c.query(&stmt, &[&user]).await.map_err(err)?;
    rows.iter()
        .map(|r| {
            Ok(Membership {
                group: group(r)?,
                access_level: r.try_get(8)?,
                since: r.try_get(9)?,
                updated_at: r.try_get(10)?,
            })
        })
        .collect::<PgResult<_>>()
        .map_err(err)
}
