-- The outbox is looked up, updated and deleted by message id several times per message: stored
-- in its primary key's b-tree (WITHOUT ROWID) that is one b-tree fewer to search and to write.
CREATE TABLE outbox_clustered (
    message_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    channel_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    state TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO outbox_clustered SELECT message_id, seq, channel_id, recipient, state, due_at,
    lease_owner, lease_until FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_clustered RENAME TO outbox;
CREATE INDEX outbox_channel_state ON outbox(channel_id, state, seq);
CREATE INDEX outbox_channel_recipient ON outbox(channel_id, recipient, seq);
