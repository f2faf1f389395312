-- The hot path writes one row per step: a message's pending work (its former outbox row) and its
-- timeline (its former message_events rows) now live on the message row itself.
--   state: ready (due at due_at), leased (a worker is sending it), unknown (the outcome of a call
--   is not known; waiting for a status webhook until due_at), NULL (nothing left to do).
--   timeline: one JSON object per line, appended as things happen, oldest first; the `queued`
--   entry is still derived from created_at.
ALTER TABLE messages
    ADD COLUMN state TEXT,
    ADD COLUMN due_at BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN lease_owner TEXT,
    ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN timeline TEXT NOT NULL DEFAULT '';

UPDATE messages m SET state = o.state, due_at = o.due_at, lease_owner = o.lease_owner,
    lease_until = o.lease_until
FROM outbox o WHERE o.message_id = m.id;

UPDATE messages m SET timeline = t.lines
FROM (
    SELECT message_id, string_agg(json_build_object(
        'status', status, 'at', at, 'source', source, 'wamid', wamid,
        'error', CASE WHEN error_code IS NULL THEN NULL
                 ELSE json_build_object('code', error_code, 'title', error_title,
                                        'details', error_details) END,
        'detail', detail, 'data', data::json, 'dedupe_key', dedupe_key)::text || E'\n', ''
        ORDER BY id) AS lines
    FROM message_events GROUP BY message_id
) t WHERE t.message_id = m.id;

DROP TABLE outbox;
DROP TABLE message_events;

-- Only messages with work left are in these, so they stay as small as the queue.
CREATE INDEX messages_work ON messages(channel_id, state, seq) WHERE state IS NOT NULL;
CREATE INDEX messages_work_recipient ON messages(channel_id, recipient, seq)
    WHERE state IS NOT NULL;
