-- Mark every inbound message read at once (off by default: with coexistence, a read receipt
-- marks the chat read on every agent's phone too).
ALTER TABLE channels ADD COLUMN auto_read BOOLEAN NOT NULL DEFAULT FALSE;
