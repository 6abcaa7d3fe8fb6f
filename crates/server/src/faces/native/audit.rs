//! `/api/v1/audit-events`.

use std::sync::Arc;

use axum::extract::{Query, State};
use roster_core::audit::{AuditQuery, AuditRecord, Outcome};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;
use uuid::Uuid;

use super::users::{bad_param, decode_cursor, encode_cursor};
use crate::extract::Caller;
use super::problem::{ApiResult, Problem};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventOut {
    pub seq: i64,
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub actor_id: Option<Uuid>,
    pub actor: Option<String>,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub container_id: Option<Uuid>,
    /// `success` or `failure`.
    pub outcome: &'static str,
    pub request_id: Option<String>,
    pub source: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
    pub hash: String,
}

impl From<AuditRecord> for AuditEventOut {
    fn from(r: AuditRecord) -> Self {
        let e = r.event;
        Self {
            seq: r.seq,
            id: e.id,
            at: e.at,
            actor_id: e.actor_id,
            actor: e.actor,
            action: e.action,
            target_kind: e.target_kind,
            target_id: e.target_id,
            container_id: e.container_id,
            outcome: e.outcome.as_str(),
            request_id: e.request_id,
            source: e.source,
            details: serde_json::from_str(&e.details).unwrap_or(Value::Null),
            hash: r.hash,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    /// Newest first.
    pub items: Vec<AuditEventOut>,
    pub next_cursor: Option<String>,
}

fn time_param(name: &str, v: &str) -> ApiResult<OffsetDateTime> {
    OffsetDateTime::parse(v, &Rfc3339)
        .map_err(|_| bad_param(name, "datetime", "must be an RFC 3339 time"))
}

#[utoipa::path(get, path = "/audit-events", tag = "audit",
    params(
        ("actor_id" = Option<Uuid>, Query), ("action" = Option<String>, Query, description = "e.g. user.create, login"),
        ("target_id" = Option<String>, Query), ("outcome" = Option<String>, Query, description = "success or failure"),
        ("since" = Option<String>, Query, description = "RFC 3339"), ("until" = Option<String>, Query, description = "RFC 3339"),
        ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query),
    ),
    responses((status = 200, body = AuditList), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn list_audit(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<axum::Json<AuditList>> {
    let mut q = AuditQuery::default();
    for (k, v) in params {
        match k.as_str() {
            "actor_id" => {
                q.actor_id = Some(
                    Uuid::parse_str(&v)
                        .map_err(|_| bad_param("actor_id", "uuid", "must be a UUID"))?,
                )
            }
            "action" => q.action = Some(v),
            "target_id" => q.target_id = Some(v),
            "outcome" => {
                q.outcome =
                    Some(Outcome::parse(&v).ok_or_else(|| {
                        bad_param("outcome", "one_of", "must be success or failure")
                    })?)
            }
            "since" => q.since = Some(time_param("since", &v)?),
            "until" => q.until = Some(time_param("until", &v)?),
            "limit" => {
                q.limit = v.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    bad_param("limit", "range", "must be an integer between 1 and 1000")
                })?
            }
            "cursor" => q.before_seq = Some(decode_cursor(&v)?),
            _ => {}
        }
    }
    let page = state.roster.list_audit(&ctx, q).await?;
    Ok(axum::Json(AuditList {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next.map(encode_cursor),
    }))
}
