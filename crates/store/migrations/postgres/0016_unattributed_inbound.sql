-- Inbound messages whose sender Meta did not name (no `from`, no `from_user_id`, and not
-- exactly one contact in the change): kept with their raw payload, never dropped, never
-- given to a guessed contact.
CREATE TABLE unattributed_inbound (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    workspace_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    meta_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    content TEXT NOT NULL,
    raw TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    UNIQUE (channel_id, meta_id)
);
CREATE INDEX unattributed_inbound_workspace ON unattributed_inbound(workspace_id, seq);

-- `POST /v1/messages/{id}/read` finds a customer's message by its wamid.
CREATE INDEX inbound_messages_meta_id ON inbound_messages(meta_id);
