-- Stable integer numbers for contacts and channels: vendor dialects (respond.io's `contactId`
-- and `channelId`) name them by integer, while Chasqui's own ids are strings. Messages already
-- have their integer `seq`. Adding a BIGSERIAL column numbers the existing rows; sequences never
-- hand a number out twice, so a deleted contact's number never comes to name somebody else.
ALTER TABLE contacts ADD COLUMN num BIGSERIAL;
CREATE UNIQUE INDEX contacts_num ON contacts(num);

ALTER TABLE channels ADD COLUMN num BIGSERIAL;
CREATE UNIQUE INDEX channels_num ON channels(num);

-- The message object exactly as a vendor dialect's client sent it (respond.io keeps the
-- template text the request carried, though WhatsApp delivers the approved text).
ALTER TABLE messages ADD COLUMN client_message TEXT;
