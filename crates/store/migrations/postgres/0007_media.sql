-- Media files: uploads (outbound) and files customers sent (inbound), downloaded from the
-- provider by a durable worker. Times are unix milliseconds.
CREATE TABLE media (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    -- inbound | outbound
    direction TEXT NOT NULL,
    -- The provider's media id (usable as image.id etc. in sends).
    provider_media_id TEXT NOT NULL,
    mime_type TEXT,
    size BIGINT,
    sha256 TEXT,
    filename TEXT,
    -- File name relative to the media directory; NULL until the file is stored.
    path TEXT,
    -- pending | stored | failed
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    -- The inbound message (Meta's id) that carried it.
    message_meta_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX media_provider_id ON media(workspace_id, provider_media_id);
CREATE INDEX media_due ON media(next_attempt_at) WHERE state = 'pending';
