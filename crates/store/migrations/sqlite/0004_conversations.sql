-- Two-way messaging: Meta webhook deliveries kept before they are processed, contacts,
-- conversations (one per contact and channel) and inbound messages. Times are unix milliseconds.

-- Every verified POST /webhooks/meta body, stored before the 200 and processed afterwards, so a
-- crash between answering Meta and applying the delivery loses nothing.
CREATE TABLE webhook_inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    -- JSON array of [phone_number_id, channel_id] pairs whose app secret verified the signature.
    channels TEXT NOT NULL,
    body TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    processed_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    lease_owner TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webhook_inbox_pending ON webhook_inbox(seq) WHERE processed_at IS NULL;

CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    wa_id TEXT,
    user_id TEXT,
    phone TEXT,
    -- Set by the business; `profile_name` is what WhatsApp last reported.
    name TEXT,
    profile_name TEXT,
    email TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    custom_fields TEXT NOT NULL DEFAULT '{}',
    opted_out INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX contacts_workspace_wa_id ON contacts(workspace_id, wa_id) WHERE wa_id IS NOT NULL;
CREATE UNIQUE INDEX contacts_workspace_user_id ON contacts(workspace_id, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX contacts_workspace_id ON contacts(workspace_id, id);

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    -- The last inbound user message that opens the 24-hour customer service window.
    last_inbound_at INTEGER,
    last_message_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (channel_id, contact_id)
);
CREATE INDEX conversations_workspace ON conversations(workspace_id, id);

CREATE TABLE inbound_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    workspace_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    -- Meta's message id (wamid): Meta retries deliveries for days.
    meta_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    content TEXT NOT NULL,
    raw TEXT NOT NULL,
    context_id TEXT,
    sent_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    UNIQUE (channel_id, meta_id)
);
CREATE INDEX inbound_messages_conversation ON inbound_messages(conversation_id, seq);

ALTER TABLE channels ADD COLUMN window_policy TEXT NOT NULL DEFAULT 'enforce';
