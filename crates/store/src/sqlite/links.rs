//! SQL for link tokens (invitation, password reset, email verification).

use roster_core::link::{LinkEffect, LinkPurpose, LinkRecord};
use roster_core::store::{StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, Row, params};
use time::OffsetDateTime;
use uuid::Uuid;

use super::users::{from_micros, map_write_error, micros};

const COLUMNS: &str =
    "token_hash, user_id, purpose, credential_epoch, email, created_at, expires_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<LinkRecord> {
    let purpose: String = r.get(2)?;
    Ok(LinkRecord {
        token_hash: r.get(0)?,
        user_id: r.get(1)?,
        purpose: LinkPurpose::parse(&purpose).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                2,
                rusqlite::types::Type::Text,
                format!("unknown link purpose {purpose:?}").into(),
            )
        })?,
        credential_epoch: r.get(3)?,
        email: r.get(4)?,
        created_at: from_micros(r.get(5)?),
        expires_at: from_micros(r.get(6)?),
    })
}

pub fn by_hash(conn: &Connection, hash: &str) -> rusqlite::Result<Option<LinkRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM link_tokens WHERE token_hash = ?1"
    ))?
    .query_row([hash], from_row)
    .optional()
}

pub fn pending(
    conn: &Connection,
    user: Uuid,
    purpose: LinkPurpose,
) -> rusqlite::Result<Option<LinkRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM link_tokens WHERE user_id = ?1 AND purpose = ?2
         ORDER BY created_at DESC LIMIT 1"
    ))?
    .query_row(params![user, purpose.as_str()], from_row)
    .optional()
}

pub fn issue(conn: &Connection, rec: &LinkRecord) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM link_tokens WHERE user_id = ?1 AND purpose = ?2")
        .map_err(map_write_error)?
        .execute(params![rec.user_id, rec.purpose.as_str()])
        .map_err(map_write_error)?;
    conn.prepare_cached(&format!(
        "INSERT INTO link_tokens ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))
    .map_err(map_write_error)?
    .execute(params![
        rec.token_hash,
        rec.user_id,
        rec.purpose.as_str(),
        rec.credential_epoch,
        rec.email,
        micros(rec.created_at),
        micros(rec.expires_at),
    ])
    .map_err(map_write_error)?;
    Ok(())
}

pub fn revoke(conn: &Connection, user: Uuid, purpose: LinkPurpose) -> StoreResult<()> {
    let n = conn
        .prepare_cached("DELETE FROM link_tokens WHERE user_id = ?1 AND purpose = ?2")
        .map_err(map_write_error)?
        .execute(params![user, purpose.as_str()])
        .map_err(map_write_error)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Deletes a live link and applies its effect; `NotFound` when the link is
/// unknown, of another purpose, expired, or its user's epoch moved on.
pub fn redeem(
    conn: &Connection,
    hash: &str,
    purpose: LinkPurpose,
    now: OffsetDateTime,
    effect: &LinkEffect,
) -> StoreResult<()> {
    let found: Option<(Uuid, String)> = conn
        .prepare_cached(
            "DELETE FROM link_tokens WHERE token_hash = ?1 AND purpose = ?2 AND expires_at > ?3
               AND credential_epoch = (SELECT u.credential_epoch FROM users u
                                       WHERE u.id = link_tokens.user_id AND u.deleted_at IS NULL)
             RETURNING user_id, email",
        )
        .map_err(map_write_error)?
        .query_row(params![hash, purpose.as_str(), micros(now)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .map_err(map_write_error)?;
    let Some((user, email)) = found else {
        return Err(StoreError::NotFound);
    };
    let changed = match effect {
        LinkEffect::SetPassword { password_hash } => conn
            .prepare_cached(
                "UPDATE users SET password_hash = ?2, credential_epoch = credential_epoch + 1,
                    email_verified = email_verified OR email_key IS lower(?3),
                    updated_at = ?4, version = version + 1
                 WHERE id = ?1",
            )
            .map_err(map_write_error)?
            .execute(params![user, password_hash, email, micros(now)])
            .map_err(map_write_error)?,
        LinkEffect::VerifyEmail => conn
            .prepare_cached(
                "UPDATE users SET email_verified = 1, updated_at = ?3, version = version + 1
                 WHERE id = ?1 AND email_key IS lower(?2)",
            )
            .map_err(map_write_error)?
            .execute(params![user, email, micros(now)])
            .map_err(map_write_error)?,
    };
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
