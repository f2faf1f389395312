-- Tenancy: workspaces can be disabled and carry a daily quota and a time zone; API keys carry
-- scopes, an expiry, limits and their last use; channels can be disabled and carry Meta's
-- messaging limit. Keys made before scopes existed could do everything, so they keep every scope.
ALTER TABLE workspaces ADD COLUMN disabled_at INTEGER;
ALTER TABLE workspaces ADD COLUMN daily_quota INTEGER;
ALTER TABLE workspaces ADD COLUMN timezone TEXT;

ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'send read contacts templates webhooks admin';
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
ALTER TABLE api_keys ADD COLUMN daily_quota INTEGER;
ALTER TABLE api_keys ADD COLUMN max_concurrent INTEGER;
ALTER TABLE api_keys ADD COLUMN rate_per_minute INTEGER;
CREATE INDEX api_keys_workspace ON api_keys(workspace_id, created_at);

ALTER TABLE channels ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE channels ADD COLUMN messaging_limit INTEGER;
CREATE INDEX channels_workspace ON channels(workspace_id, created_at);
