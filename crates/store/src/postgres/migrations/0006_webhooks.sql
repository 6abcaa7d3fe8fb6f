-- Webhooks: where change events are delivered. The secret signs each
-- delivery (HMAC), so it is kept as given; no API returns it after the
-- webhook's creation. `cursor_seq` is the last audit seq whose events were
-- queued for this webhook: the audit chain is the outbox.
CREATE TABLE webhooks (
    id uuid PRIMARY KEY,
    url text NOT NULL,
    event_types jsonb NOT NULL,
    secret text NOT NULL,
    active boolean NOT NULL,
    cursor_seq bigint NOT NULL,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- One event queued for one webhook, and its attempts. A delivery waits
-- while an earlier pending one with the same order key (its user) does;
-- `lease_until` keeps a delivery being sent by one node from being taken
-- by another (claimed under FOR UPDATE SKIP LOCKED).
CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY,
    webhook_id uuid NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_seq bigint NOT NULL,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    order_key text NOT NULL,
    status text NOT NULL,
    attempts bigint NOT NULL DEFAULT 0,
    last_status bigint,
    last_error text,
    next_attempt_at timestamptz NOT NULL,
    lease_until timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    delivered_at timestamptz,
    UNIQUE (webhook_id, event_seq)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, order_key, event_seq);
-- Housekeeping drops finished deliveries after a while.
CREATE INDEX webhook_deliveries_done ON webhook_deliveries (updated_at) WHERE status <> 'pending';
