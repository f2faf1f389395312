-- Quotas and limits, kept in the database so they hold across restarts and across instances
-- sharing it. Times are unix milliseconds.

-- Counters per subject and period: daily message quotas (subject `key:<id>` or `ws:<id>`,
-- period = the local date in the configured time zone) and per-minute request windows
-- (subject `rate:<key id>`, period = the window's start). A row is useless once its period
-- has ended; `expires_at` lets a pruner drop it.
CREATE TABLE usage_counters (
    subject TEXT NOT NULL,
    period TEXT NOT NULL,
    count BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (subject, period)
);
CREATE INDEX usage_counters_expiry ON usage_counters(expires_at);

-- One row per request in flight (the concurrency limit). Rows expire so that the requests of an
-- instance that crashed stop counting.
CREATE TABLE inflight_requests (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX inflight_requests_subject ON inflight_requests(subject, expires_at);
CREATE INDEX inflight_requests_expiry ON inflight_requests(expires_at);

-- Meta's messaging limit: the distinct recipients of business-initiated messages per channel in
-- a rolling 24 hours. `counted_at` is when the recipient last took a slot; it holds it for 24 h.
CREATE TABLE channel_recipients (
    channel_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    counted_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, recipient)
);
CREATE INDEX channel_recipients_window ON channel_recipients(channel_id, counted_at);
