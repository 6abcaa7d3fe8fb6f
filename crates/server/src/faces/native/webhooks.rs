//! `/api/v1/webhooks` (registration, the delivery log, re-delivery) and
//! `/api/v1/events` (the pull feed). The secret of a webhook is in the
//! answer to its creation and nowhere else.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use roster_core::service::{WebhookChange, WebhookInput};
use roster_core::webhook::{Delivery, EventBody, Webhook};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::access::{Items, Tagged};
use super::problem::{ApiResult, Problem};
use super::users::{bad_param, decode_cursor, encode_cursor, parse_uuid};
use crate::extract::{Caller, JsonBody, Path, if_match};
use crate::state::AppState;

const PROBLEM: &str = "application/problem+json";

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookOut {
    pub id: Uuid,
    pub url: String,
    /// Event types delivered (`*`: all).
    pub event_types: Vec<String>,
    pub active: bool,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<Webhook> for WebhookOut {
    fn from(w: Webhook) -> Self {
        Self {
            id: w.id,
            url: w.url,
            event_types: w.event_types,
            active: w.active,
            version: w.version,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

fn tagged(w: Webhook) -> Tagged<WebhookOut> {
    Tagged::new(w.version, w.into())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookOut,
    /// Signs every delivery (`Roster-Signature`). Shown this once.
    pub secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.example.com/roster", "event_types": ["user.created", "user.disabled"]}))]
pub struct WebhookIn {
    /// `https://` only, to a public address (unless the server allows private ones).
    pub url: String,
    /// Event types to deliver, or `["*"]` for all.
    pub event_types: Vec<String>,
    /// 16-256 characters; generated when absent.
    pub secret: Option<String>,
    /// Default true.
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    /// A new secret; the old one stops signing at once.
    pub secret: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryOut {
    pub id: Uuid,
    pub event_id: Uuid,
    /// The event's place in the feed (`/events?after=`).
    pub event_seq: i64,
    pub event_type: String,
    /// `pending`, `delivered` or `failed` (given up).
    pub status: &'static str,
    pub attempts: i64,
    /// The receiver's status code at the last attempt.
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    /// When a pending delivery is tried next.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub delivered_at: Option<OffsetDateTime>,
}

impl From<Delivery> for DeliveryOut {
    fn from(d: Delivery) -> Self {
        let pending = d.status == roster_core::webhook::DeliveryStatus::Pending;
        Self {
            id: d.id,
            event_id: d.event_id,
            event_seq: d.event_seq,
            event_type: d.event_type,
            status: d.status.as_str(),
            attempts: d.attempts,
            last_status_code: d.last_status,
            last_error: d.last_error,
            next_attempt_at: pending.then_some(d.next_attempt_at),
            created_at: d.created_at,
            updated_at: d.updated_at,
            delivered_at: d.delivered_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    /// Newest event first.
    pub items: Vec<DeliveryOut>,
    pub next_cursor: Option<String>,
}

/// A change event, as webhooks receive it and the feed lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventOut {
    /// The audit event's id: the same in every delivery of it.
    pub id: Uuid,
    /// E.g. `user.created`, `user.disabled`, `role.assigned`, `group.member_added`.
    #[serde(rename = "type")]
    pub event_type: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: OffsetDateTime,
    pub actor: EventActorOut,
    pub target: EventTargetOut,
    /// The container of the changed object, when it has one.
    pub container: Option<Uuid>,
    /// What the audit trail records of the change (never a secret).
    #[schema(value_type = Object)]
    pub data: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventActorOut {
    pub id: Option<Uuid>,
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventTargetOut {
    /// `user`, `group`, `role`, `assignment`, `container`, `api_key` or `webhook`.
    pub kind: Option<String>,
    pub id: Option<String>,
}

impl From<EventBody> for EventOut {
    fn from(b: EventBody) -> Self {
        Self {
            id: b.id,
            event_type: b.event_type,
            occurred_at: b.occurred_at,
            actor: EventActorOut {
                id: b.actor.id,
                name: b.actor.name,
            },
            target: EventTargetOut {
                kind: b.target.kind,
                id: b.target.id,
            },
            container: b.container,
            data: b.data,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    /// In order.
    pub items: Vec<EventOut>,
    /// Pass as `after` for the events that follow (also when this page is
    /// empty: it may have moved past changes that are no events).
    pub next: String,
}

fn limit_param(v: &str) -> ApiResult<u32> {
    v.parse()
        .ok()
        .filter(|n| (1..=1000).contains(n))
        .ok_or_else(|| bad_param("limit", "range", "must be an integer between 1 and 1000"))
}

#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = WebhookIn,
    responses((status = 201, body = CreatedWebhook, headers(("ETag" = String))),
        (status = 400, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn create_webhook(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    JsonBody(body): JsonBody<WebhookIn>,
) -> ApiResult<(StatusCode, Tagged<CreatedWebhook>)> {
    let input = WebhookInput {
        url: body.url,
        event_types: body.event_types,
        secret: body.secret,
        active: body.active,
    };
    let (w, secret) = state.roster.create_webhook(&ctx, input).await?;
    Ok((
        StatusCode::CREATED,
        Tagged::new(
            w.version,
            CreatedWebhook {
                webhook: w.into(),
                secret: secret.expose().to_string(),
            },
        ),
    ))
}

#[utoipa::path(get, path = "/webhooks", tag = "webhooks",
    responses((status = 200, body = Items<WebhookOut>), (status = 403, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn list_webhooks(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
) -> ApiResult<axum::Json<Items<WebhookOut>>> {
    let hooks = state.roster.list_webhooks(&ctx).await?;
    Ok(axum::Json(Items {
        items: hooks.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks", params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookOut, headers(("ETag" = String))),
        (status = 403, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn get_webhook(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<Tagged<WebhookOut>> {
    let id = parse_uuid(&id, "webhook")?;
    Ok(tagged(state.roster.get_webhook(&ctx, id).await?))
}

#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks", params(("id" = Uuid, Path)),
    request_body = WebhookPatch,
    responses((status = 200, body = WebhookOut, headers(("ETag" = String))),
        (status = 400, body = Problem, content_type = PROBLEM), (status = 403, body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM), (status = 412, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn patch_webhook(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<WebhookPatch>,
) -> ApiResult<Tagged<WebhookOut>> {
    let id = parse_uuid(&id, "webhook")?;
    let change = WebhookChange {
        url: body.url,
        event_types: body.event_types,
        secret: body.secret,
        active: body.active,
    };
    Ok(tagged(
        state
            .roster
            .update_webhook(&ctx, id, change, if_match(&headers)?)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted, with its delivery log"),
        (status = 403, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn delete_webhook(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, "webhook")?;
    state.roster.delete_webhook(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = Uuid, Path), ("limit" = Option<u32>, Query, description = "1-1000 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, body = DeliveryList), (status = 400, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn list_deliveries(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<axum::Json<DeliveryList>> {
    let id = parse_uuid(&id, "webhook")?;
    let (mut before, mut limit) = (None, 0);
    for (k, v) in params {
        match k.as_str() {
            "limit" => limit = limit_param(&v)?,
            "cursor" => before = Some(decode_cursor(&v)?),
            _ => {}
        }
    }
    let page = state
        .roster
        .webhook_deliveries(&ctx, id, before, limit)
        .await?;
    Ok(axum::Json(DeliveryList {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next.map(encode_cursor),
    }))
}

#[utoipa::path(post, path = "/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    params(("id" = Uuid, Path), ("delivery_id" = Uuid, Path)),
    responses((status = 202, body = DeliveryOut, description = "Queued again"),
        (status = 403, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn redeliver(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path((id, delivery)): Path<(String, String)>,
) -> ApiResult<(StatusCode, axum::Json<DeliveryOut>)> {
    let id = parse_uuid(&id, "webhook")?;
    let delivery = parse_uuid(&delivery, "delivery")?;
    let d = state.roster.redeliver(&ctx, id, delivery).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(d.into())))
}

#[utoipa::path(get, path = "/events", tag = "webhooks",
    params(("after" = Option<String>, Query, description = "`next` of the previous page; absent: from the start"),
        ("limit" = Option<u32>, Query, description = "1-1000 (default 50)")),
    responses((status = 200, body = EventList), (status = 400, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM)),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn list_events(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<axum::Json<EventList>> {
    let (mut after, mut limit) = (0, 0);
    for (k, v) in params {
        match k.as_str() {
            "limit" => limit = limit_param(&v)?,
            "after" => {
                after = v.parse().ok().filter(|n| *n >= 0).ok_or_else(|| {
                    bad_param("after", "cursor", "must be a `next` this server returned")
                })?
            }
            _ => {}
        }
    }
    let page = state.roster.events(&ctx, after, limit).await?;
    Ok(axum::Json(EventList {
        items: page.items.iter().map(|e| e.body().into()).collect(),
        next: page.next.to_string(),
    }))
}
