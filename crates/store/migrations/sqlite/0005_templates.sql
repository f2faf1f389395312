-- The template registry: each channel's message templates as its provider last reported them
-- (sync, submission, template webhooks). Times are unix milliseconds.
CREATE TABLE templates (
    workspace_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    -- Meta's template id (hsm_id); NULL until the provider has given one.
    meta_id TEXT,
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    category TEXT NOT NULL,
    status TEXT NOT NULL,
    -- GREEN, YELLOW, RED or UNKNOWN; NULL until Meta rates it.
    quality TEXT,
    parameter_format TEXT NOT NULL,
    -- The components in Meta's JSON shape.
    components TEXT NOT NULL,
    rejected_reason TEXT,
    -- When the stored status was learned: an older answer (a slow sync, a submission's answer)
    -- never overwrites a newer one (a status webhook).
    status_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (channel_id, name, language)
);
CREATE INDEX templates_workspace ON templates(workspace_id, name, language);
CREATE INDEX templates_meta_id ON templates(meta_id) WHERE meta_id IS NOT NULL;

-- What the person received for a template send (placeholders filled), for the message log.
ALTER TABLE messages ADD COLUMN rendered TEXT;
