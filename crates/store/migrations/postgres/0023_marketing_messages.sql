-- A channel may send its MARKETING templates through Meta's Marketing Messages API
-- (`POST /{phone-number-id}/marketing_messages`) instead of `/messages`. Off by default: the
-- WhatsApp Business Account must have accepted Meta's terms for it first.
ALTER TABLE channels ADD COLUMN marketing_messages BOOLEAN NOT NULL DEFAULT FALSE;
