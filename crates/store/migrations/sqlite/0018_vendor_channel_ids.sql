-- The ids a vendor gave a channel, so its customers' code keeps naming it the same way:
-- Wolkvox's `connector_id` and respond.io's `channelId`.
ALTER TABLE channels ADD COLUMN wolkvox_connector_id TEXT;
ALTER TABLE channels ADD COLUMN respond_channel_id TEXT;
