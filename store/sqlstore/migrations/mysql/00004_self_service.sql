-- Self-service: what a session list shows (last use, the client's own
-- description and address at login), a pending email beside the current
-- one, and an index for pruning sessions past their absolute end.

-- +goose Up
ALTER TABLE sessions
    ADD COLUMN last_used_at DATETIME(6)  NULL,
    ADD COLUMN client       VARCHAR(64)  NOT NULL DEFAULT '',
    ADD COLUMN ip           VARCHAR(64)  NOT NULL DEFAULT '',
    ADD KEY sessions_expires_at (expires_at);

ALTER TABLE accounts ADD COLUMN pending_email VARCHAR(254) NULL;

-- +goose Down
ALTER TABLE accounts DROP COLUMN pending_email;
ALTER TABLE sessions
    DROP KEY sessions_expires_at,
    DROP COLUMN ip,
    DROP COLUMN client,
    DROP COLUMN last_used_at;
