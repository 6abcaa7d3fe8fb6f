//! SQL for webhooks and their deliveries.

use roster_core::Secret;
use roster_core::store::{StoreError, StoreResult};
use roster_core::webhook::{Attempt, Delivery, DeliveryStatus, NewDelivery, Webhook};
use rusqlite::{Connection, OptionalExtension, Row, params};
use time::OffsetDateTime;
use uuid::Uuid;

use super::users::{from_micros, map_write_error, micros};

const HOOK_COLUMNS: &str =
    "id, url, event_types, secret, active, cursor_seq, version, created_at, updated_at";

const DELIVERY_COLUMNS: &str = "id, webhook_id, event_seq, event_id, event_type, order_key, status, \
     attempts, last_status, last_error, next_attempt_at, created_at, updated_at, delivered_at";

fn conversion(i: usize, what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, what.into())
}

fn hook_from_row(r: &Row<'_>) -> rusqlite::Result<Webhook> {
    let types: String = r.get(2)?;
    Ok(Webhook {
        id: r.get(0)?,
        url: r.get(1)?,
        event_types: serde_json::from_str(&types).map_err(|e| conversion(2, e.to_string()))?,
        secret: Secret::new(r.get::<_, String>(3)?),
        active: r.get(4)?,
        cursor: r.get(5)?,
        version: r.get(6)?,
        created_at: from_micros(r.get(7)?),
        updated_at: from_micros(r.get(8)?),
    })
}

fn delivery_from_row(r: &Row<'_>) -> rusqlite::Result<Delivery> {
    let status: String = r.get(6)?;
    Ok(Delivery {
        id: r.get(0)?,
        webhook_id: r.get(1)?,
        event_seq: r.get(2)?,
        event_id: r.get(3)?,
        event_type: r.get(4)?,
        order_key: r.get(5)?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| conversion(6, format!("unknown delivery status {status:?}")))?,
        attempts: r.get(7)?,
        last_status: r.get(8)?,
        last_error: r.get(9)?,
        next_attempt_at: from_micros(r.get(10)?),
        created_at: from_micros(r.get(11)?),
        updated_at: from_micros(r.get(12)?),
        delivered_at: r.get::<_, Option<i64>>(13)?.map(from_micros),
    })
}

fn types_json(w: &Webhook) -> String {
    serde_json::Value::from(w.event_types.clone()).to_string()
}

/// Stores the webhook with its cursor at the chain's head.
pub fn insert(c: &Connection, w: &Webhook) -> StoreResult<Webhook> {
    let head: i64 = c
        .query_row("SELECT COALESCE(MAX(seq), 0) FROM audit_events", [], |r| {
            r.get(0)
        })
        .map_err(map_write_error)?;
    c.prepare_cached(&format!(
        "INSERT INTO webhooks ({HOOK_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    ))
    .map_err(map_write_error)?
    .execute(params![
        w.id,
        w.url,
        types_json(w),
        w.secret.expose(),
        w.active,
        head,
        w.version,
        micros(w.created_at),
        micros(w.updated_at),
    ])
    .map_err(map_write_error)?;
    by_id(c, w.id)
        .map_err(map_write_error)?
        .ok_or(StoreError::NotFound)
}

pub fn by_id(c: &Connection, id: Uuid) -> rusqlite::Result<Option<Webhook>> {
    c.prepare_cached(&format!(
        "SELECT {HOOK_COLUMNS} FROM webhooks WHERE id = ?1"
    ))?
    .query_row([id], hook_from_row)
    .optional()
}

pub fn all(c: &Connection) -> rusqlite::Result<Vec<Webhook>> {
    c.prepare_cached(&format!(
        "SELECT {HOOK_COLUMNS} FROM webhooks ORDER BY created_at, id"
    ))?
    .query_map([], hook_from_row)?
    .collect()
}

pub fn update(c: &Connection, w: &Webhook) -> StoreResult<Webhook> {
    let n = c
        .prepare_cached(
            "UPDATE webhooks SET url = ?2, event_types = ?3, secret = ?4, active = ?5,
                updated_at = ?6, version = version + 1
             WHERE id = ?1 AND version = ?7",
        )
        .map_err(map_write_error)?
        .execute(params![
            w.id,
            w.url,
            types_json(w),
            w.secret.expose(),
            w.active,
            micros(w.updated_at),
            w.version,
        ])
        .map_err(map_write_error)?;
    let found = by_id(c, w.id).map_err(map_write_error)?;
    match (n, found) {
        (1, Some(w)) => Ok(w),
        (_, Some(_)) => Err(StoreError::VersionMismatch),
        (_, None) => Err(StoreError::NotFound),
    }
}

pub fn delete(c: &Connection, id: Uuid) -> StoreResult<()> {
    let n = c
        .prepare_cached("DELETE FROM webhooks WHERE id = ?1")
        .map_err(map_write_error)?
        .execute([id])
        .map_err(map_write_error)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub fn queue(
    c: &Connection,
    webhook: Uuid,
    from: i64,
    to: i64,
    deliveries: &[NewDelivery],
    now: OffsetDateTime,
) -> StoreResult<()> {
    let moved = c
        .prepare_cached("UPDATE webhooks SET cursor_seq = ?3 WHERE id = ?1 AND cursor_seq = ?2")
        .map_err(map_write_error)?
        .execute(params![webhook, from, to])
        .map_err(map_write_error)?;
    if moved == 0 {
        return Err(StoreError::VersionMismatch);
    }
    let mut insert = c
        .prepare_cached(
            "INSERT INTO webhook_deliveries (id, webhook_id, event_seq, event_id, event_type,
                order_key, status, attempts, next_attempt_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?7, ?7)
             ON CONFLICT (webhook_id, event_seq) DO NOTHING",
        )
        .map_err(map_write_error)?;
    for d in deliveries {
        insert
            .execute(params![
                d.id,
                webhook,
                d.event_seq,
                d.event_id,
                d.event_type,
                d.order_key,
                micros(now),
            ])
            .map_err(map_write_error)?;
    }
    Ok(())
}

/// One writer, so no two claims run at once; the lease keeps what is being
/// sent from being taken again until it is recorded or the lease lapses.
pub fn claim(
    c: &Connection,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    limit: u32,
) -> StoreResult<Vec<Delivery>> {
    c.prepare_cached(&format!(
        "UPDATE webhook_deliveries SET lease_until = ?2
         WHERE id IN (
            SELECT d.id FROM webhook_deliveries d
            WHERE d.status = 'pending' AND d.next_attempt_at <= ?1
              AND (d.lease_until IS NULL OR d.lease_until <= ?1)
              AND NOT EXISTS (
                SELECT 1 FROM webhook_deliveries e
                WHERE e.webhook_id = d.webhook_id AND e.order_key = d.order_key
                  AND e.status = 'pending' AND e.event_seq < d.event_seq)
            ORDER BY d.event_seq LIMIT ?3)
         RETURNING {DELIVERY_COLUMNS}"
    ))
    .map_err(map_write_error)?
    .query_map(
        params![micros(now), micros(lease_until), limit],
        delivery_from_row,
    )
    .map_err(map_write_error)?
    .collect::<rusqlite::Result<Vec<_>>>()
    .map_err(map_write_error)
}

pub fn record(c: &Connection, id: Uuid, a: &Attempt) -> StoreResult<()> {
    let delivered = (a.next == DeliveryStatus::Delivered).then(|| micros(a.at));
    c.prepare_cached(
        "UPDATE webhook_deliveries SET status = ?2, attempts = attempts + 1, last_status = ?3,
            last_error = ?4, next_attempt_at = ?5, lease_until = NULL, updated_at = ?6,
            delivered_at = COALESCE(?7, delivered_at)
         WHERE id = ?1",
    )
    .map_err(map_write_error)?
    .execute(params![
        id,
        a.next.as_str(),
        a.status_code,
        a.error,
        micros(a.retry_at),
        micros(a.at),
        delivered,
    ])
    .map_err(map_write_error)?;
    Ok(())
}

pub fn page(
    c: &Connection,
    webhook: Uuid,
    before_seq: Option<i64>,
    limit: u32,
) -> rusqlite::Result<Vec<Delivery>> {
    c.prepare_cached(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
         WHERE webhook_id = ?1 AND event_seq < ?2 ORDER BY event_seq DESC LIMIT ?3"
    ))?
    .query_map(
        params![webhook, before_seq.unwrap_or(i64::MAX), limit],
        delivery_from_row,
    )?
    .collect()
}

pub fn redeliver(
    c: &Connection,
    webhook: Uuid,
    delivery: Uuid,
    now: OffsetDateTime,
) -> StoreResult<Delivery> {
    c.prepare_cached(&format!(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?3,
            updated_at = ?3
         WHERE id = ?2 AND webhook_id = ?1
         RETURNING {DELIVERY_COLUMNS}"
    ))
    .map_err(map_write_error)?
    .query_row(params![webhook, delivery, micros(now)], delivery_from_row)
    .optional()
    .map_err(map_write_error)?
    .ok_or(StoreError::NotFound)
}

pub fn purge(c: &Connection, before: OffsetDateTime, limit: u32) -> StoreResult<u64> {
    let n = c
        .prepare_cached(
            "DELETE FROM webhook_deliveries WHERE id IN (
                SELECT id FROM webhook_deliveries
                WHERE status <> 'pending' AND updated_at < ?1 LIMIT ?2)",
        )
        .map_err(map_write_error)?
        .execute(params![micros(before), limit])
        .map_err(map_write_error)?;
    Ok(n as u64)
}
