-- Webhooks: where change events are delivered. The secret signs each
-- delivery (HMAC), so it is kept as given; no API returns it after the
-- webhook's creation. `cursor_seq` is the last audit seq whose events were
-- queued for this webhook: the audit chain is the outbox.
CREATE TABLE webhooks (
    id BLOB PRIMARY KEY,
    url TEXT NOT NULL,
    event_types TEXT NOT NULL,
    secret TEXT NOT NULL,
    active INTEGER NOT NULL,
    cursor_seq INTEGER NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One event queued for one webhook, and its attempts. A delivery waits
-- while an earlier pending one with the same order key (its user) does;
-- `lease_until` keeps a delivery being sent from being taken again.
CREATE TABLE webhook_deliveries (
    id BLOB PRIMARY KEY,
    webhook_id BLOB NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_seq INTEGER NOT NULL,
    event_id BLOB NOT NULL,
    event_type TEXT NOT NULL,
    order_key TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_error TEXT,
    next_attempt_at INTEGER NOT NULL,
    lease_until INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    delivered_at INTEGER,
    UNIQUE (webhook_id, event_seq)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, order_key, event_seq);
-- Housekeeping drops finished deliveries after a while.
CREATE INDEX webhook_deliveries_done ON webhook_deliveries (updated_at) WHERE status <> 'pending';
