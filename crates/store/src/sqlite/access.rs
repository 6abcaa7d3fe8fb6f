//! SQL for API keys, revoked tokens, signing secrets and idempotency records.

use roster_core::access::ApiKeyInfo;
use roster_core::auth::{KeyOwner, KeyRecord};
use roster_core::authz::Privilege;
use roster_core::store::{StoreError, StoreResult};
use roster_core::user::{IdempotencyHit, IdempotencyWrite, User};
use rusqlite::{Connection, OptionalExtension, Row, params};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::columns::KEY_COLUMNS;

use super::roles::{parse_privileges, privileges_json};
use super::users::{
    USER_COLUMN_COUNT, USER_COLUMNS, from_micros, map_write_error, micros, user_from_row,
};

/// Idempotency records older than this are forgotten.
const IDEMPOTENCY_TTL_MICROS: i64 = 24 * 3600 * 1_000_000;

fn key_info(r: &Row<'_>, at: usize) -> rusqlite::Result<ApiKeyInfo> {
    Ok(ApiKeyInfo {
        id: r.get(at)?,
        user_id: r.get(at + 1)?,
        name: r.get(at + 2)?,
        prefix: r.get(at + 3)?,
        role_id: r.get(at + 4)?,
        created_at: from_micros(r.get(at + 5)?),
        expires_at: r.get::<_, Option<i64>>(at + 6)?.map(from_micros),
        revoked_at: r.get::<_, Option<i64>>(at + 7)?.map(from_micros),
        last_used_at: r.get::<_, Option<i64>>(at + 8)?.map(from_micros),
    })
}

pub fn insert_key(
    conn: &Connection,
    user_id: Uuid,
    key: &KeyRecord,
    role: Option<Uuid>,
    cap: Option<&[Privilege]>,
    expires_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> StoreResult<ApiKeyInfo> {
    conn.execute(
        "INSERT INTO api_keys (id, user_id, name, prefix, hash, role_id, created_at, expires_at, privileges)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            key.id,
            user_id,
            key.name,
            key.prefix,
            key.hash,
            role,
            micros(now),
            expires_at.map(micros),
            cap.map(privileges_json)
        ],
    )
    .map_err(|e| match map_write_error(e) {
        StoreError::MissingReference { .. } => StoreError::MissingReference { field: "role_id" },
        other => other,
    })?;
    key_by_id(conn, key.id)
        .map_err(map_write_error)?
        .ok_or(StoreError::NotFound)
}

pub fn key_by_id(conn: &Connection, id: Uuid) -> rusqlite::Result<Option<ApiKeyInfo>> {
    conn.prepare_cached(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.id = ?1"
    ))?
    .query_row([id], |r| key_info(r, 0))
    .optional()
}

pub fn list_keys(conn: &Connection, user: Option<Uuid>) -> rusqlite::Result<Vec<ApiKeyInfo>> {
    conn.prepare_cached(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys k WHERE ?1 IS NULL OR k.user_id = ?1 ORDER BY k.created_at"
    ))?
    .query_map([user], |r| key_info(r, 0))?
    .collect()
}

pub fn key_owner(conn: &Connection, hash: &str) -> rusqlite::Result<Option<KeyOwner>> {
    conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS}, {KEY_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.hash = ?1"
    ))?
    .query_row([hash], |r| {
        Ok(KeyOwner {
            user: user_from_row(r)?,
            key: key_info(r, USER_COLUMN_COUNT)?,
            key_hash: r.get(USER_COLUMN_COUNT + 9)?,
            cap: r
                .get::<_, Option<String>>(USER_COLUMN_COUNT + 10)?
                .map(|t| parse_privileges(&t)),
        })
    })
    .optional()
}

pub fn revoke_key(conn: &Connection, id: Uuid, at: OffsetDateTime) -> StoreResult<()> {
    let n = conn
        .execute(
            "UPDATE api_keys SET revoked_at = ifnull(revoked_at, ?2) WHERE id = ?1",
            params![id, micros(at)],
        )
        .map_err(map_write_error)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub fn touch_key(conn: &Connection, id: Uuid, at: OffsetDateTime) -> StoreResult<()> {
    conn.prepare_cached("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1")
        .map_err(map_write_error)?
        .execute(params![id, micros(at)])
        .map_err(map_write_error)?;
    Ok(())
}

pub fn revoke_token(conn: &Connection, jti: Uuid, expires_at: OffsetDateTime) -> StoreResult<()> {
    conn.execute(
        "INSERT OR IGNORE INTO revoked_tokens (jti, expires_at) VALUES (?1, ?2)",
        params![jti, micros(expires_at)],
    )
    .map_err(map_write_error)?;
    // Expired tokens are refused anyway; their revocations can go.
    conn.execute(
        "DELETE FROM revoked_tokens WHERE expires_at < ?1",
        [micros(OffsetDateTime::now_utc()) - 3600 * 1_000_000],
    )
    .map_err(map_write_error)?;
    Ok(())
}

pub fn create_session(
    conn: &Connection,
    jti: Uuid,
    user: Uuid,
    idle: u64,
    expires_at: OffsetDateTime,
) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO token_sessions (jti, user_id, idle_secs, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![jti, user, idle as i64, micros(expires_at)],
    )
    .map_err(map_write_error)?;
    // Lapsed sessions can go.
    conn.execute(
        "DELETE FROM token_sessions WHERE expires_at < ?1",
        [micros(OffsetDateTime::now_utc())],
    )
    .map_err(map_write_error)?;
    Ok(())
}

pub fn session(conn: &Connection, jti: Uuid) -> rusqlite::Result<Option<(u64, OffsetDateTime)>> {
    conn.prepare_cached("SELECT idle_secs, expires_at FROM token_sessions WHERE jti = ?1")?
        .query_row([jti], |r| {
            Ok((r.get::<_, i64>(0)? as u64, from_micros(r.get(1)?)))
        })
        .optional()
}

pub fn extend_session(conn: &Connection, jti: Uuid, expires_at: OffsetDateTime) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE token_sessions SET expires_at = max(expires_at, ?2) WHERE jti = ?1",
    )
    .map_err(map_write_error)?
    .execute(params![jti, micros(expires_at)])
    .map_err(map_write_error)?;
    Ok(())
}

pub fn token_revoked(conn: &Connection, jti: Uuid) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = ?1)")?
        .query_row([jti], |r| r.get(0))
}

pub fn signing_secrets(conn: &Connection, candidate: &[u8]) -> StoreResult<Vec<(String, Vec<u8>)>> {
    let now = micros(OffsetDateTime::now_utc());
    let any: bool = conn
        .query_row("SELECT EXISTS (SELECT 1 FROM signing_keys)", [], |r| {
            r.get(0)
        })
        .map_err(map_write_error)?;
    if !any && !candidate.is_empty() {
        conn.execute(
            "INSERT INTO signing_keys (kid, secret, created_at) VALUES (?1, ?2, ?3)",
            params![Uuid::now_v7().to_string(), candidate, now],
        )
        .map_err(map_write_error)?;
    }
    conn.prepare("SELECT kid, secret FROM signing_keys ORDER BY created_at DESC")
        .map_err(map_write_error)?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(map_write_error)?
        .collect::<rusqlite::Result<_>>()
        .map_err(map_write_error)
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

pub fn add_signing_secret(conn: &Connection, kid: &str, secret: &[u8]) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO signing_keys (kid, secret, created_at) VALUES (?1, ?2, ?3)",
        params![kid, secret, micros(OffsetDateTime::now_utc())],
    )
    .map_err(map_write_error)?;
    Ok(())
}
