-- The timeline's `queued` entry is now derived from messages.created_at; drop the stored copies.
DELETE FROM message_events WHERE status = 'queued' AND source = 'api';
