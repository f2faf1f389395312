-- Tenancy: workspaces can be disabled and carry a daily quota and a time zone; API keys carry
-- scopes, an expiry, limits and their last use; channels can be disabled and carry Meta's
-- messaging limit. Keys made before scopes existed could do everything, so they keep every scope.
ALTER TABLE workspaces ADD COLUMN disabled_at BIGINT;
ALTER TABLE workspaces ADD COLUMN daily_quota BIGINT;
ALTER TABLE workspaces ADD COLUMN timezone TEXT;

ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'send read contacts templates webhooks admin';
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
ALTER TABLE api_keys ADD COLUMN daily_quota BIGINT;
ALTER TABLE api_keys ADD COLUMN max_concurrent BIGINT;
ALTER TABLE api_keys ADD COLUMN rate_per_minute BIGINT;
CREATE INDEX api_keys_workspace ON api_keys(workspace_id, created_at);

ALTER TABLE channels ADD COLUMN enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE channels ADD COLUMN messaging_limit BIGINT;
CREATE INDEX channels_workspace ON channels(workspace_id, created_at);
