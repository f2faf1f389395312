-- The console's inbox: how many of a conversation's inbound messages nobody has read yet (set
-- by `record_inbound`, cleared by marking the conversation read; conversations that existed
-- before start at 0), and the index its newest-activity-first pages are read from, with the id
-- breaking ties so that a page ends at one exact (last_message_at, id) to continue after.
ALTER TABLE conversations ADD COLUMN unread INTEGER NOT NULL DEFAULT 0;
CREATE INDEX conversations_inbox ON conversations(workspace_id, last_message_at DESC, id DESC);
