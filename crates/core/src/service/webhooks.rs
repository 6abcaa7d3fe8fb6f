//! Webhooks (registration, the delivery log, re-delivery), the pull feed of
//! change events, and the delivery loop. Everything here needs
//! `webhooks.manage` over everything: it decides where data leaves roster.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Ctx, Roster, from_store};
use crate::Secret;
use crate::authz::{self, Privilege, Target};
use crate::error::{CoreError, CoreResult};
use crate::store::{Store, StoreError};
use crate::user::Page;
use crate::webhook::{
    self, Attempt, Delivery, DeliveryStatus, Event, NewDelivery, Sender, Webhook, WebhookSettings,
};

/// A webhook to register.
#[derive(Debug, Clone)]
pub struct WebhookInput {
    pub url: String,
    pub event_types: Vec<String>,
    /// Generated when absent.
    pub secret: Option<String>,
    pub active: Option<bool>,
}

/// Changes to a webhook; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct WebhookChange {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    /// A new secret (the old one stops signing at once).
    pub secret: Option<String>,
    pub active: Option<bool>,
}

/// A page of the pull feed: the events after the cursor, and the cursor to
/// pass next (the last audit `seq` looked at, so a page of changes that
/// are no events still moves the consumer on).
#[derive(Debug, Clone)]
pub struct EventPage {
    pub items: Vec<Event>,
    pub next: i64,
}

/// Finished deliveries stay in the log this long (housekeeping).
pub const DELIVERY_LOG_DAYS: i64 = 30;

/// Audit records read per step of the pull feed and of queuing.
const SCAN_PAGE: u32 = 500;
/// Deliveries in flight at once per node: a slow receiver holds its own
/// deliveries up, not everyone's.
const IN_FLIGHT: usize = 32;
/// Longest error text kept in the delivery log.
const ERROR_MAX: usize = 500;

fn authorize(ctx: &Ctx) -> CoreResult<()> {
    authz::authorize(&ctx.who, Privilege::WebhooksManage, Target::Global)
}

/// What the audit trail says of a webhook: never its secret.
fn described(w: &Webhook) -> serde_json::Value {
    json!({ "url": w.url, "event_types": w.event_types, "active": w.active })
}

impl Roster {
    pub fn webhook_settings(&self) -> WebhookSettings {
        self.webhooks
    }

    /// Registers a webhook; returns it with its secret, which is shown
    /// this once.
    pub async fn create_webhook(
        &self,
        ctx: &Ctx,
        input: WebhookInput,
    ) -> CoreResult<(Webhook, Secret)> {
        authorize(ctx)?;
        let mut errors = Vec::new();
        let url = webhook::check_url(&input.url, self.webhooks.allow_private)
            .map_err(|e| errors.push(e))
            .ok();
        let types = webhook::check_event_types(&input.event_types)
            .map_err(|e| errors.push(e))
            .ok();
        let secret = webhook::secret_or_generated(input.secret)
            .map_err(|e| errors.push(e))
            .ok();
        let (Some(url), Some(event_types), Some(secret)) = (url, types, secret) else {
            return Err(CoreError::Invalid(errors));
        };
        let now = OffsetDateTime::now_utc();
        let w = Webhook {
            id: Uuid::now_v7(),
            url: url.to_string(),
            event_types,
            secret: secret.clone(),
            active: input.active.unwrap_or(true),
            cursor: 0,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let event = ctx
            .event("webhook.create")
            .target("webhook", w.id, None)
            .details(described(&w));
        let stored = self
            .store
            .insert_webhook(w, event)
            .await
            .map_err(from_store("webhook"))?;
        Ok((stored, secret))
    }

    pub async fn list_webhooks(&self, ctx: &Ctx) -> CoreResult<Vec<Webhook>> {
        authorize(ctx)?;
        self.store
            .list_webhooks()
            .await
            .map_err(from_store("webhook"))
    }

    pub async fn get_webhook(&self, ctx: &Ctx, id: Uuid) -> CoreResult<Webhook> {
        authorize(ctx)?;
        self.store
            .webhook(id)
            .await
            .map_err(from_store("webhook"))?
            .ok_or(CoreError::NotFound("webhook"))
    }

    /// Changes a webhook; with `if_match`, only that version of it.
    pub async fn update_webhook(
        &self,
        ctx: &Ctx,
        id: Uuid,
        change: WebhookChange,
        if_match: Option<i64>,
    ) -> CoreResult<Webhook> {
        let mut w = self.get_webhook(ctx, id).await?;
        if if_match.is_some_and(|v| v != w.version) {
            return Err(CoreError::PreconditionFailed);
        }
        let mut errors = Vec::new();
        let mut fields = Vec::new();
        if let Some(url) = change.url {
            fields.push("url");
            match webhook::check_url(&url, self.webhooks.allow_private) {
                Ok(u) => w.url = u.to_string(),
                Err(e) => errors.push(e),
            }
        }
        if let Some(types) = change.event_types {
            fields.push("event_types");
            match webhook::check_event_types(&types) {
                Ok(t) => w.event_types = t,
                Err(e) => errors.push(e),
            }
        }
        if let Some(secret) = change.secret {
            fields.push("secret");
            match webhook::secret_or_generated(Some(secret)) {
                Ok(s) => w.secret = s,
                Err(e) => errors.push(e),
            }
        }
        if let Some(active) = change.active {
            fields.push("active");
            w.active = active;
        }
        if !errors.is_empty() {
            return Err(CoreError::Invalid(errors));
        }
        w.updated_at = OffsetDateTime::now_utc();
        let mut details = described(&w);
        details["fields"] = json!(fields);
        let event = ctx
            .event("webhook.update")
            .target("webhook", id, None)
            .details(details);
        self.store
            .update_webhook(w, event)
            .await
            .map_err(from_store("webhook"))
    }

    pub async fn delete_webhook(&self, ctx: &Ctx, id: Uuid) -> CoreResult<()> {
        let w = self.get_webhook(ctx, id).await?;
        let event = ctx
            .event("webhook.delete")
            .target("webhook", id, None)
            .details(described(&w));
        self.store
            .delete_webhook(id, event)
            .await
            .map_err(from_store("webhook"))
    }

    /// A webhook's delivery log, newest event first; `before` is the
    /// previous page's cursor.
    pub async fn webhook_deliveries(
        &self,
        ctx: &Ctx,
        id: Uuid,
        before: Option<i64>,
        limit: u32,
    ) -> CoreResult<Page<Delivery>> {
        self.get_webhook(ctx, id).await?;
        let limit = page_limit(limit)?;
        let items = self
            .store
            .deliveries(id, before, limit + 1)
            .await
            .map_err(from_store("delivery"))?;
        Ok(Page::from_overfetch(items, limit as usize, |d| d.event_seq))
    }

    /// Sends a delivery again (whatever became of it), as soon as the
    /// events queued before it for the same user have gone.
    pub async fn redeliver(&self, ctx: &Ctx, id: Uuid, delivery: Uuid) -> CoreResult<Delivery> {
        self.get_webhook(ctx, id).await?;
        let event = ctx
            .event("webhook.redeliver")
            .target("webhook", id, None)
            .details(json!({ "delivery_id": delivery }));
        self.store
            .redeliver(id, delivery, OffsetDateTime::now_utc(), event)
            .await
            .map_err(from_store("delivery"))
    }

    /// The pull feed: events after `after` (an audit `seq`), in order.
    /// Reads the chain page by page, never all of it.
    pub async fn events(&self, ctx: &Ctx, after: i64, limit: u32) -> CoreResult<EventPage> {
        authorize(ctx)?;
        let limit = page_limit(limit)? as usize;
        if after < 0 {
            return Err(CoreError::invalid("after", "range", "must not be negative"));
        }
        let mut items = Vec::new();
        let mut next = after;
        // Bounded work per request: a long run of non-events (logins)
        // is crossed over several pages.
        for _ in 0..8 {
            let page = self
                .store
                .audit_chain(next, SCAN_PAGE)
                .await
                .map_err(from_store("event"))?;
            let done = page.len() < SCAN_PAGE as usize;
            for r in page {
                if items.len() == limit {
                    return Ok(EventPage { items, next });
                }
                next = r.seq;
                if let Some(e) = Event::from_record(r) {
                    items.push(e);
                }
            }
            if done || items.len() == limit {
                break;
            }
        }
        Ok(EventPage { items, next })
    }

    /// One round of delivery: queue the new events of every webhook, then
    /// start sending the deliveries that are due, as many as `slots` has
    /// room for (each send holds a slot until its attempt is recorded; the
    /// round does not wait for them). Returns how much it did (0: idle).
    pub async fn pump_webhooks(
        &self,
        sender: &Arc<dyn Sender>,
        slots: &Arc<tokio::sync::Semaphore>,
    ) -> CoreResult<usize> {
        let hooks = self
            .store
            .list_webhooks()
            .await
            .map_err(from_store("webhook"))?;
        if hooks.is_empty() {
            return Ok(0);
        }
        let mut work = 0;
        for w in &hooks {
            work += self.queue_for(w).await?;
        }
        let free = u32::try_from(slots.available_permits()).unwrap_or(u32::MAX);
        if free == 0 {
            return Ok(work);
        }
        let now = OffsetDateTime::now_utc();
        let lease = now + self.webhooks.timeout + time::Duration::seconds(30);
        let claimed = self
            .store
            .claim_deliveries(now, lease, free)
            .await
            .map_err(from_store("delivery"))?;
        work += claimed.len();
        let mut by_id: HashMap<Uuid, Webhook> = hooks.into_iter().map(|w| (w.id, w)).collect();
        for d in claimed {
            if !by_id.contains_key(&d.webhook_id) {
                // Created (on another node) after the list was read.
                if let Some(w) = self
                    .store
                    .webhook(d.webhook_id)
                    .await
                    .map_err(from_store("webhook"))?
                {
                    by_id.insert(w.id, w);
                }
            }
            let Some(w) = by_id.get(&d.webhook_id) else {
                // Deleted meanwhile, and its deliveries with it.
                continue;
            };
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let (store, sender, settings) = (self.store.clone(), sender.clone(), self.webhooks);
            let (url, secret) = (w.url.clone(), w.secret.clone());
            tokio::spawn(async move {
                let attempt = attempt(
                    store.as_ref(),
                    sender.as_ref(),
                    &settings,
                    &d,
                    &url,
                    &secret,
                )
                .await;
                if let Err(e) = store.record_attempt(d.id, attempt).await {
                    tracing::warn!(delivery = %d.id, error = %e, "could not record a webhook attempt");
                }
                drop(slot);
            });
        }
        Ok(work)
    }

    /// Queues one webhook's deliveries for the events after its cursor.
    async fn queue_for(&self, w: &Webhook) -> CoreResult<usize> {
        let page = self
            .store
            .audit_chain(w.cursor, SCAN_PAGE)
            .await
            .map_err(from_store("event"))?;
        let Some(to) = page.last().map(|r| r.seq) else {
            return Ok(0);
        };
        let deliveries: Vec<NewDelivery> = page
            .iter()
            .filter_map(|r| {
                let t = webhook::event_type(r)?;
                // A webhook does not hear of its own creation (its cursor
                // may start just before it on PostgreSQL).
                if t == "webhook.created" && r.event.target_id == Some(w.id.to_string()) {
                    return None;
                }
                (w.active && w.wants(t)).then(|| NewDelivery {
                    id: Uuid::now_v7(),
                    event_seq: r.seq,
                    event_id: r.event.id,
                    event_type: t.to_string(),
                    order_key: webhook::order_key(r),
                })
            })
            .collect();
        match self
            .store
            .queue_deliveries(w.id, w.cursor, to, deliveries, OffsetDateTime::now_utc())
            .await
        {
            // Another node (or the webhook's deletion) came first.
            Err(StoreError::VersionMismatch | StoreError::NotFound) => Ok(0),
            Err(e) => Err(from_store("webhook")(e)),
            Ok(()) => Ok(page.len()),
        }
    }

    /// Drops finished deliveries older than [`DELIVERY_LOG_DAYS`] (part of
    /// the housekeeping); returns how many went.
    pub async fn purge_delivery_log(&self) -> CoreResult<u64> {
        let before = OffsetDateTime::now_utc() - time::Duration::days(DELIVERY_LOG_DAYS);
        let mut purged = 0;
        loop {
            let n = self
                .store
                .purge_deliveries(before, 1000)
                .await
                .map_err(from_store("delivery"))?;
            purged += n;
            if n < 1000 {
                return Ok(purged);
            }
        }
    }

    /// Delivers until the process ends: a round, then a short pause when
    /// there was nothing to do.
    pub async fn run_webhooks(self: Arc<Self>, sender: Arc<dyn Sender>, idle: std::time::Duration) {
        let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        loop {
            match self.pump_webhooks(&sender, &slots).await {
                Ok(0) => tokio::time::sleep(idle).await,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "webhook delivery round failed");
                    tokio::time::sleep(idle).await;
                }
            }
        }
    }
}

fn page_limit(limit: u32) -> CoreResult<u32> {
    match limit {
        0 => Ok(50),
        1..=1000 => Ok(limit),
        _ => Err(CoreError::invalid(
            "limit",
            "range",
            "must be between 1 and 1000",
        )),
    }
}

/// Sends one delivery and says what came of it.
async fn attempt(
    store: &dyn Store,
    sender: &dyn Sender,
    settings: &WebhookSettings,
    d: &Delivery,
    url: &str,
    secret: &Secret,
) -> Attempt {
    let outcome = match store.audit_chain(d.event_seq - 1, 1).await {
        Ok(page) => match page.into_iter().next().and_then(Event::from_record) {
            Some(event) => match serde_json::to_vec(&event.body()) {
                Err(e) => Err(format!("encoding the event: {e}")),
                Ok(body) => {
                    let t = OffsetDateTime::now_utc().unix_timestamp();
                    let headers = vec![
                        ("roster-signature", webhook::signature(secret, t, &body)),
                        ("roster-event-id", d.event_id.to_string()),
                        ("roster-event-type", d.event_type.clone()),
                    ];
                    sender.post(url, headers, body).await
                }
            },
            None => Err("the event is no longer in the audit chain".to_string()),
        },
        Err(e) => Err(format!("reading the event: {e}")),
    };
    let at = OffsetDateTime::now_utc();
    let attempts = u32::try_from(d.attempts + 1).unwrap_or(u32::MAX);
    let (status_code, error) = match outcome {
        Ok(code) if (200..300).contains(&code) => {
            return Attempt {
                at,
                status_code: Some(i64::from(code)),
                error: None,
                next: DeliveryStatus::Delivered,
                retry_at: at,
            };
        }
        Ok(code) => (Some(i64::from(code)), format!("HTTP {code}")),
        Err(e) => (None, e.chars().take(ERROR_MAX).collect()),
    };
    tracing::debug!(delivery = %d.id, webhook = %d.webhook_id, attempts, %error, "webhook attempt failed");
    let next = if attempts >= settings.max_attempts {
        tracing::warn!(delivery = %d.id, webhook = %d.webhook_id, attempts, %error, "webhook delivery given up");
        DeliveryStatus::Failed
    } else {
        DeliveryStatus::Pending
    };
    Attempt {
        at,
        status_code,
        error: Some(error),
        next,
        retry_at: at + settings.backoff(attempts),
    }
}
