-- Stable integer numbers for contacts and channels: vendor dialects (respond.io's `contactId`
-- and `channelId`) name them by integer, while Chasqui's own ids are strings. Messages already
-- have their integer `seq`. Numbers are unique across the database and never reused, so a
-- deleted contact's number can never come to name somebody else.
CREATE TABLE id_numbers (
    name TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);

ALTER TABLE contacts ADD COLUMN num INTEGER;
UPDATE contacts SET num = rowid;
CREATE UNIQUE INDEX contacts_num ON contacts(num);
INSERT INTO id_numbers (name, last) VALUES ('contacts', (SELECT COALESCE(MAX(num), 0) FROM contacts));

ALTER TABLE channels ADD COLUMN num INTEGER;
UPDATE channels SET num = rowid;
CREATE UNIQUE INDEX channels_num ON channels(num);
INSERT INTO id_numbers (name, last) VALUES ('channels', (SELECT COALESCE(MAX(num), 0) FROM channels));

-- Triggers number new rows inside the inserting (writer) transaction, so every insert path gets
-- a number without having to know about it.
CREATE TRIGGER contacts_number AFTER INSERT ON contacts WHEN NEW.num IS NULL
BEGIN
    UPDATE id_numbers SET last = last + 1 WHERE name = 'contacts';
    UPDATE contacts SET num = (SELECT last FROM id_numbers WHERE name = 'contacts')
        WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER channels_number AFTER INSERT ON channels WHEN NEW.num IS NULL
BEGIN
    UPDATE id_numbers SET last = last + 1 WHERE name = 'channels';
    UPDATE channels SET num = (SELECT last FROM id_numbers WHERE name = 'channels')
        WHERE rowid = NEW.rowid;
END;

-- The message object exactly as a vendor dialect's client sent it (respond.io keeps the
-- template text the request carried, though WhatsApp delivers the approved text).
ALTER TABLE messages ADD COLUMN client_message TEXT;
