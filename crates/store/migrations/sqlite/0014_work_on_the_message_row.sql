-- The hot path writes one row per step: a message's pending work (its former outbox row) and its
-- timeline (its former message_events rows) now live on the message row itself.
--   state: ready (due at due_at), leased (a worker is sending it), unknown (the outcome of a call
--   is not known; waiting for a status webhook until due_at), NULL (nothing left to do).
--   timeline: one JSON object per line, appended as things happen, oldest first; the `queued`
--   entry is still derived from created_at.
ALTER TABLE messages ADD COLUMN state TEXT;
ALTER TABLE messages ADD COLUMN due_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN lease_owner TEXT;
ALTER TABLE messages ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN timeline TEXT NOT NULL DEFAULT '';

UPDATE messages SET state = o.state, due_at = o.due_at, lease_owner = o.lease_owner,
    lease_until = o.lease_until
FROM outbox o WHERE o.message_id = messages.id;

UPDATE messages SET timeline = t.lines
FROM (
    SELECT message_id, group_concat(json_object(
        'status', status, 'at', at, 'source', source, 'wamid', wamid,
        'error', CASE WHEN error_code IS NULL THEN NULL
                 ELSE json_object('code', error_code, 'title', error_title,
                                  'details', error_details) END,
        'detail', detail, 'data', json(data), 'dedupe_key', dedupe_key) || char(10), ''
        ORDER BY id) AS lines
    FROM message_events GROUP BY message_id
) t WHERE t.message_id = messages.id;

DROP TABLE outbox;
DROP TABLE message_events;

-- Only messages with work left are in these, so they stay as small as the queue.
CREATE INDEX messages_work ON messages(channel_id, state, seq) WHERE state IS NOT NULL;
CREATE INDEX messages_work_recipient ON messages(channel_id, recipient, seq)
    WHERE state IS NOT NULL;
