-- One unique index serves both timeline reads (by message_id) and status dedupe; NULL dedupe keys
-- never conflict. Fewer index pages per event written.
DROP INDEX message_events_message;
DROP INDEX message_events_dedupe;
CREATE UNIQUE INDEX message_events_message_dedupe ON message_events(message_id, dedupe_key);
