//! The audit page: newest first, filters, keyset paging, and the chain's
//! verification status for those the core lets read the log.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use minijinja::{Value, context};
use roster_core::CoreError;
use roster_core::audit::AuditQuery;
use roster_core::service::{UserKey, Verification};
use serde::Deserialize;

use super::page::{self, core_error, render};
use super::session::Session;
use super::users::url_encode;
use crate::state::AppState;

/// Events per page.
const PAGE: u32 = 50;

/// How old the last walk of the whole chain may be before a view walks it
/// all again (between those, only new records are verified).
const FULL_WALK: time::Duration = time::Duration::minutes(10);

#[derive(Deserialize, Default)]
pub struct Filters {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    before: Option<i64>,
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// `GET /console/audit?action=&actor=&before=`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    s: Session,
    q: Result<Query<Filters>, QueryRejection>,
) -> Response {
    let Ok(Query(f)) = q else {
        return page::error_page(400, "Bad request", "The filters could not be read.", None, Some(&s));
    };
    let action = nonempty(f.action);
    let actor = nonempty(f.actor);
    // The actor filter names a user; the log is searched by their id.
    let mut unknown_actor = false;
    let actor_id = match &actor {
        None => None,
        Some(name) => match state
            .roster
            .find_user(&s.ctx, UserKey::Username(name.clone()))
            .await
        {
            Ok(u) => Some(u.id),
            Err(CoreError::NotFound(_) | CoreError::Forbidden) => {
                unknown_actor = true;
                None
            }
            Err(e) => return core_error(e, Some("read the audit log"), Some(&s)),
        },
    };
    let events = if unknown_actor {
        // Authorised like any read of the log, but nothing can match.
        match state
            .roster
            .list_audit(&s.ctx, AuditQuery { limit: 1, ..AuditQuery::default() })
            .await
        {
            Ok(_) => roster_core::user::Page {
                items: Vec::new(),
                next: None,
                hidden: 0,
            },
            Err(e) => return core_error(e, Some("read the audit log"), Some(&s)),
        }
    } else {
        let query = AuditQuery {
            actor_id,
            action: action.clone(),
            before_seq: f.before,
            limit: PAGE,
            ..AuditQuery::default()
        };
        match state.roster.list_audit(&s.ctx, query).await {
            Ok(p) => p,
            Err(e) => return core_error(e, Some("read the audit log"), Some(&s)),
        }
    };
    // Verified from the last checkpoint, so a look costs what was appended
    // since; the whole chain again at most every FULL_WALK.
    let chain = match state.roster.verify_audit_cached(&s.ctx, FULL_WALK).await {
        Ok(v) => {
            let full_walk_at = page::when(v.full_walk_at);
            match v.outcome {
                Verification::Intact { events } => {
                    context! { intact => true, events, full_walk_at }
                }
                Verification::Broken(b) => {
                    context! { intact => false, seq => b.seq, reason => b.reason, full_walk_at }
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "verifying the audit chain for the console");
            Value::UNDEFINED
        }
    };
    let rows: Vec<Value> = events
        .items
        .iter()
        .map(|r| {
            let e = &r.event;
            context! {
                seq => r.seq,
                at => page::when(e.at),
                actor => e.actor,
                action => e.action,
                target => match (&e.target_kind, &e.target_id) {
                    (Some(k), Some(id)) => Some(format!("{k} {id}")),
                    (Some(k), None) => Some(k.clone()),
                    (None, Some(id)) => Some(id.clone()),
                    (None, None) => None,
                },
                outcome => e.outcome.as_str(),
                source => e.source,
            }
        })
        .collect();
    render(
        200,
        "audit.html",
        Some(&s),
        context! {
            title => "Audit log",
            section => "audit",
            events => rows,
            next => events.next,
            filter_param => format!(
                "action={}&actor={}",
                url_encode(action.as_deref().unwrap_or_default()),
                url_encode(actor.as_deref().unwrap_or_default()),
            ),
            action,
            actor,
            unknown_actor,
            paged => f.before.is_some(),
            chain,
        },
    )
}
