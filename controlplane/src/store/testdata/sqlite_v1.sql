-- The SQLite schema as the hand-rolled migrations before rusqlite_migration
-- made it (version 1), frozen: tests open such databases with today's code.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    revision INTEGER NOT NULL DEFAULT 0,
    live_revision INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    status_message TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_activity_at INTEGER NOT NULL,
    UNIQUE (user_id, name)
);
CREATE TABLE revisions (
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    files TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, number)
);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX api_tokens_by_user ON api_tokens(user_id);
