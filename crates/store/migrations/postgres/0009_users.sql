-- Users who log in with a username and password (the web UI, vendor APIs that log in with one),
-- their login sessions, and the failed-login throttle. Times are unix milliseconds.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    -- Stored lower-cased, so names are unique across workspaces regardless of case.
    username TEXT NOT NULL UNIQUE,
    -- A PHC string (argon2id); never the password.
    password_hash TEXT NOT NULL,
    -- Space-separated scopes.
    scopes TEXT NOT NULL,
    disabled_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_login_at BIGINT
);
CREATE INDEX users_workspace ON users(workspace_id, username);

-- A login: only the SHA-256 of its bearer token is kept.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_user ON sessions(user_id);

-- Failed logins per lower-cased username, whether or not such a user exists (so the answer
-- does not reveal which names exist).
CREATE TABLE login_throttle (
    username TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT NOT NULL DEFAULT 0
);
