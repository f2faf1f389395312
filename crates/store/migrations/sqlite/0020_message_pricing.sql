-- What Meta charges for a message, from its status webhooks' `pricing` (the latest one wins),
-- typed so usage can be counted by category and type. NULL until a status carries it.
ALTER TABLE messages ADD COLUMN pricing_model TEXT;
ALTER TABLE messages ADD COLUMN pricing_category TEXT;
ALTER TABLE messages ADD COLUMN pricing_type TEXT;
ALTER TABLE messages ADD COLUMN billable INTEGER;
