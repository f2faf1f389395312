-- Listing a workspace's messages by status (`GET /v1/messages?status=failed`) reads this index
-- instead of walking every message of the workspace, newest first, until a page is full.
CREATE INDEX messages_workspace_status ON messages(workspace_id, status, seq);
