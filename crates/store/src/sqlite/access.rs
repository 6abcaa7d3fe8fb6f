//! SQL for credentials, roles, idempotency records and settings.

use roster_core::auth::KeyRecord;
use roster_core::store::{IdempotencyHit, IdempotencyWrite, StoreError, StoreResult};
use roster_core::user::User;
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;
use uuid::Uuid;

use super::users::{USER_COLUMNS, from_micros, map_write_error, micros, user_from_row};

/// Idempotency records older than this are forgotten.
const IDEMPOTENCY_TTL_MICROS: i64 = 24 * 3600 * 1_000_000;

pub fn insert_key(
    conn: &Connection,
    user_id: Uuid,
    key: &KeyRecord,
    now: OffsetDateTime,
) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO api_keys (id, user_id, name, prefix, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![key.id, user_id, key.name, key.prefix, key.hash, micros(now)],
    )
    .map_err(map_write_error)?;
    Ok(())
}

pub fn grant_role(conn: &Connection, user_id: Uuid, role: &str) -> StoreResult<()> {
    let n = conn
        .execute(
            "INSERT OR IGNORE INTO user_roles (user_id, role_id) SELECT ?1, id FROM roles WHERE name = ?2",
            params![user_id, role],
        )
        .map_err(map_write_error)?;
    if n == 0 {
        return Err(StoreError::Backend(format!("role {role} missing")));
    }
    Ok(())
}

pub struct KeyRow {
    pub key_id: Uuid,
    pub hash: String,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked: bool,
    pub user: User,
}

pub fn key_owner(conn: &Connection, hash: &str) -> rusqlite::Result<Option<KeyRow>> {
    conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS}, k.id, k.hash, k.expires_at, k.revoked_at IS NOT NULL
         FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.hash = ?1"
    ))?
    .query_row([hash], |r| {
        Ok(KeyRow {
            user: user_from_row(r)?,
            key_id: r.get(26)?,
            hash: r.get(27)?,
            expires_at: r.get::<_, Option<i64>>(28)?.map(from_micros),
            revoked: r.get(29)?,
        })
    })
    .optional()
}

pub fn roles_of(conn: &Connection, user_id: Uuid) -> rusqlite::Result<Vec<String>> {
    conn.prepare_cached(
        "SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = ?1 ORDER BY r.name",
    )?
    .query_map([user_id], |r| r.get(0))?
    .collect()
}

pub fn idempotent_result(
    conn: &Connection,
    scope: Uuid,
    key: &str,
) -> rusqlite::Result<Option<IdempotencyHit>> {
    let cutoff = micros(OffsetDateTime::now_utc()) - IDEMPOTENCY_TTL_MICROS;
    let row: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT request_hash, response FROM idempotency_keys WHERE scope = ?1 AND key = ?2 AND created_at > ?3",
        )?
        .query_row(params![scope, key, cutoff], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.and_then(|(request_hash, response)| {
        serde_json::from_str::<User>(&response)
            .ok()
            .map(|user| IdempotencyHit { request_hash, user })
    }))
}

pub fn save_idempotency(conn: &Connection, w: &IdempotencyWrite, user: &User) -> StoreResult<()> {
    let response = serde_json::to_string(user).map_err(|e| StoreError::Backend(e.to_string()))?;
    let now = micros(OffsetDateTime::now_utc());
    conn.prepare_cached(
        "INSERT OR REPLACE INTO idempotency_keys (scope, key, request_hash, response, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .map_err(map_write_error)?
    .execute(params![w.scope, w.key, w.request_hash, response, now])
    .map_err(map_write_error)?;
    Ok(())
}

pub fn expire_idempotency(conn: &Connection) -> StoreResult<()> {
    let cutoff = micros(OffsetDateTime::now_utc()) - IDEMPOTENCY_TTL_MICROS;
    conn.execute(
        "DELETE FROM idempotency_keys WHERE created_at <= ?1",
        [cutoff],
    )
    .map_err(map_write_error)?;
    Ok(())
}

pub fn setting(conn: &Connection, name: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| {
        r.get(0)
    })
    .optional()
}

pub fn put_setting_if_absent(conn: &Connection, name: &str, value: &[u8]) -> StoreResult<()> {
    conn.execute(
        "INSERT OR IGNORE INTO settings (name, value) VALUES (?1, ?2)",
        params![name, value],
    )
    .map_err(map_write_error)?;
    Ok(())
}
