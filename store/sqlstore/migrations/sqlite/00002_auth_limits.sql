-- Failed-login counters on accounts and the auth_events audit log.
--
-- auth_events has no foreign key to accounts: the audit trail outlives the
-- account it is about. Rows are pruned by age (auth_events_at).

-- +goose Up
ALTER TABLE accounts ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0);
ALTER TABLE accounts ADD COLUMN last_failed_login_at INTEGER;

CREATE TABLE auth_events (
    id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    type       TEXT    NOT NULL,
    reason     TEXT    NOT NULL DEFAULT '',
    ip         TEXT    NOT NULL DEFAULT '',
    account_id TEXT,
    session_id TEXT
) STRICT;

CREATE INDEX auth_events_at ON auth_events (at);
CREATE INDEX auth_events_account_at ON auth_events (account_id, at);

-- +goose Down
DROP INDEX auth_events_account_at;
DROP INDEX auth_events_at;
DROP TABLE auth_events;
ALTER TABLE accounts DROP COLUMN last_failed_login_at;
ALTER TABLE accounts DROP COLUMN failed_logins;
