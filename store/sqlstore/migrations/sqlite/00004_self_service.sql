-- Self-service: what a session list shows (last use, the client's own
-- description and address at login), a pending email beside the current
-- one, and an index for pruning sessions past their absolute end.

-- +goose Up
ALTER TABLE sessions ADD COLUMN last_used_at INTEGER;
ALTER TABLE sessions ADD COLUMN client TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN ip TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_expires_at ON sessions (expires_at);

ALTER TABLE accounts ADD COLUMN pending_email TEXT;

-- +goose Down
ALTER TABLE accounts DROP COLUMN pending_email;
DROP INDEX sessions_expires_at;
ALTER TABLE sessions DROP COLUMN ip;
ALTER TABLE sessions DROP COLUMN client;
ALTER TABLE sessions DROP COLUMN last_used_at;
