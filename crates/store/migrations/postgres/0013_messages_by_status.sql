-- no-transaction
-- Listing a workspace's messages by status (`GET /v1/messages?status=failed`) reads this index
-- instead of walking every message of the workspace, newest first, until a page is full.
-- Built CONCURRENTLY (outside a transaction, hence the first line) so that upgrading a large
-- database does not block sends while it builds. If the build fails, PostgreSQL keeps an invalid
-- index of this name and the next start stops on "already exists": drop it and start again.
CREATE INDEX CONCURRENTLY messages_workspace_status ON messages(workspace_id, status, seq);
