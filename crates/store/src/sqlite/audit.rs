//! SQL for the hash-chained audit log.

use roster_core::audit::{AuditEvent, AuditQuery, AuditRecord, GENESIS, Outcome, chain_hash};
use roster_core::store::StoreResult;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::users::{from_micros, map_write_error, micros};

use crate::columns::AUDIT_COLUMNS;

/// Appends `e` after the newest event. Runs inside the writer's
/// transaction, so the chain has one writer and no gaps.
pub fn append(conn: &Connection, e: &AuditEvent) -> StoreResult<()> {
    let (last_seq, prev): (i64, String) = conn
        .prepare_cached("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        .map_err(map_write_error)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(map_write_error)?
        .unwrap_or((0, GENESIS.to_string()));
    let seq = last_seq + 1;
    let hash = chain_hash(&prev, seq, e);
    conn.prepare_cached(&format!(
        "INSERT INTO audit_events ({AUDIT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
    ))
    .map_err(map_write_error)?
    .execute(params![
        seq,
        e.id,
        micros(e.at),
        e.actor_id,
        e.actor,
        e.action,
        e.target_kind,
        e.target_id,
        e.container_id,
        e.outcome.as_str(),
        e.request_id,
        e.source,
        e.details,
        prev,
        hash,
    ])
    .map_err(map_write_error)?;
    Ok(())
}

fn record(r: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    let outcome: String = r.get(9)?;
    Ok(AuditRecord {
        seq: r.get(0)?,
        event: AuditEvent {
            id: r.get(1)?,
            at: from_micros(r.get(2)?),
            actor_id: r.get(3)?,
            actor: r.get(4)?,
            action: r.get(5)?,
            target_kind: r.get(6)?,
            target_id: r.get(7)?,
            container_id: r.get(8)?,
            // An unreadable outcome fails verification rather than loading.
            outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Failure),
            request_id: r.get(10)?,
            source: r.get(11)?,
            details: r.get(12)?,
        },
        prev_hash: r.get(13)?,
        hash: r.get(14)?,
    })
}

pub fn list(conn: &Connection, q: &AuditQuery) -> rusqlite::Result<Vec<AuditRecord>> {
    let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_events WHERE seq < ?");
    let mut args = vec![SqlValue::Integer(q.before_seq.unwrap_or(i64::MAX))];
    if let Some(a) = q.actor_id {
        sql.push_str(" AND actor_id = ?");
        args.push(SqlValue::Blob(a.as_bytes().to_vec()));
    }
    if let Some(a) = &q.action {
        sql.push_str(" AND action = ?");
        args.push(SqlValue::Text(a.clone()));
    }
    if let Some(t) = &q.target_id {
        sql.push_str(" AND target_id = ?");
        args.push(SqlValue::Text(t.clone()));
    }
    if let Some(o) = q.outcome {
        sql.push_str(" AND outcome = ?");
        args.push(SqlValue::Text(o.as_str().into()));
    }
    if let Some(t) = q.since {
        sql.push_str(" AND at >= ?");
        args.push(SqlValue::Integer(micros(t)));
    }
    if let Some(t) = q.until {
        sql.push_str(" AND at < ?");
        args.push(SqlValue::Integer(micros(t)));
    }
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT {}", q.limit));
    conn.prepare_cached(&sql)?
        .query_map(params_from_iter(args), record)?
        .collect()
}

pub fn chain(conn: &Connection, after_seq: i64, limit: u32) -> rusqlite::Result<Vec<AuditRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE seq > ?1 ORDER BY seq LIMIT ?2"
    ))?
    .query_map(params![after_seq, limit], record)?
    .collect()
}
