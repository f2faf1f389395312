-- Marketing consent, apart from the general opt-out: whether the contact stopped marketing
-- messages, and when and why that last changed (source: webhook, keyword, meta_error, api).
ALTER TABLE contacts ADD COLUMN marketing_opted_out INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN marketing_changed_at INTEGER;
ALTER TABLE contacts ADD COLUMN marketing_source TEXT;
ALTER TABLE contacts ADD COLUMN marketing_detail TEXT;

-- Every change, in order. `event_key` names a report Meta may deliver again (a webhook, a
-- message's 131050), so applying it twice records it once.
CREATE TABLE contact_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    change TEXT NOT NULL,
    source TEXT NOT NULL,
    detail TEXT,
    event_key TEXT,
    at INTEGER NOT NULL
);
CREATE INDEX contact_history_contact ON contact_history(contact_id, seq);
CREATE UNIQUE INDEX contact_history_event ON contact_history(contact_id, event_key);

-- A workspace's stop and resume keywords (JSON `{stop?, resume?}`); NULL: the defaults.
ALTER TABLE workspaces ADD COLUMN marketing_keywords TEXT;
