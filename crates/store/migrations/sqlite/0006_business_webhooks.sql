-- Webhooks to the business: registered endpoints, the events written in the same transaction as
-- the change that causes them (a transactional outbox), one delivery row per (endpoint, event)
-- and the log of every attempt. Times are unix milliseconds.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    url TEXT NOT NULL,
    -- '*' or a JSON array of event types; matched with LIKE '%"type"%'.
    events TEXT NOT NULL,
    -- The signing secret, sealed by the application; opaque here.
    secret TEXT NOT NULL,
    secret_hint TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_workspace ON webhook_endpoints(workspace_id);

CREATE TABLE webhook_events (
    -- evt_ + a time-ordered UUID: stable across retries and replays.
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    type TEXT NOT NULL,
    -- The event's `data` object (JSON text).
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX webhook_events_workspace ON webhook_events(workspace_id, created_at);

CREATE TABLE webhook_deliveries (
    endpoint_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    -- pending, delivered or dead.
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_latency_ms INTEGER,
    last_error TEXT,
    delivered_at INTEGER,
    -- When this delivery (or its replay) was queued: the retry window counts from here.
    created_at INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt_at);

CREATE TABLE webhook_attempts (
    endpoint_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    at INTEGER NOT NULL,
    -- The HTTP status, or NULL when no answer came (timeout, refused connection).
    status INTEGER,
    latency_ms INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts(endpoint_id, event_id, attempt);
