-- What a business webhook event is about (a message's id for its status events). Events of one
-- subject reach an endpoint in the order they were written: a delivery is not claimed while an
-- earlier event of its subject is still pending for the same endpoint. NULL: no order kept.
ALTER TABLE webhook_events ADD COLUMN subject TEXT;
CREATE INDEX webhook_events_subject ON webhook_events(subject, id);
-- Events still waiting to be delivered keep their order from now on; delivered ones need none.
UPDATE webhook_events SET subject = data::jsonb ->> 'id'
WHERE type IN ('message.queued', 'message.sent', 'message.delivered', 'message.read', 'message.failed')
  AND id IN (SELECT event_id FROM webhook_deliveries WHERE state = 'pending');
