-- Chasqui's first schema (SQLite). Times are unix milliseconds.
CREATE TABLE workspaces (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE channels (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    provider TEXT NOT NULL,
    phone_number_id TEXT NOT NULL,
    display_phone_number TEXT NOT NULL,
    waba_id TEXT,
    base_url TEXT,
    api_version TEXT NOT NULL,
    access_token TEXT,
    app_secret TEXT,
    verify_token TEXT,
    rate_per_sec INTEGER NOT NULL,
    pair_interval_ms INTEGER NOT NULL,
    pair_burst INTEGER NOT NULL,
    is_default INTEGER NOT NULL,
    dispatch_owner TEXT,
    dispatch_lease_until INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX channels_phone_number_id ON channels(phone_number_id);

CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    workspace_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    wamid TEXT,
    error_code INTEGER,
    error_title TEXT,
    error_details TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX messages_workspace_seq ON messages(workspace_id, seq);
CREATE INDEX messages_workspace_recipient ON messages(workspace_id, recipient, seq);
CREATE UNIQUE INDEX messages_wamid ON messages(wamid) WHERE wamid IS NOT NULL;

-- Work still to do for a message; the row goes away once the provider has answered for good.
-- state: ready (due at due_at), leased (a worker is sending it), unknown (outcome of a call not
-- known; waiting for a status webhook until due_at).
CREATE TABLE outbox (
    message_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    channel_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    state TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_channel_state ON outbox(channel_id, state, seq);
CREATE INDEX outbox_channel_recipient ON outbox(channel_id, recipient, seq);

CREATE TABLE message_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    status TEXT NOT NULL,
    at INTEGER NOT NULL,
    source TEXT NOT NULL,
    wamid TEXT,
    error_code INTEGER,
    error_title TEXT,
    error_details TEXT,
    detail TEXT,
    data TEXT,
    dedupe_key TEXT
);
CREATE INDEX message_events_message ON message_events(message_id, id);
CREATE UNIQUE INDEX message_events_dedupe ON message_events(message_id, dedupe_key) WHERE dedupe_key IS NOT NULL;

CREATE TABLE idempotency_keys (
    api_key_id TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    message_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (api_key_id, key)
);
