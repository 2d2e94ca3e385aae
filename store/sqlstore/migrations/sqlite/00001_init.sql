-- Initial schema for the embedded SQLite store.
--
-- STRICT tables, so a value of the wrong type is an error rather than a
-- silent conversion. Times are INTEGER microseconds since the Unix epoch
-- (UTC): exact, ordered, and immune to text-format and time-zone drift.
-- Optional times are NULL when unset. Booleans are INTEGER 0 or 1.

-- +goose Up
CREATE TABLE accounts (
    id            TEXT    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL,
    email         TEXT,
    password_hash TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    CONSTRAINT accounts_username UNIQUE (username),
    CONSTRAINT accounts_email UNIQUE (email)
) STRICT;

CREATE TABLE sessions (
    id         TEXT    NOT NULL PRIMARY KEY,
    account_id TEXT    NOT NULL
        REFERENCES accounts (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

CREATE INDEX sessions_account_id ON sessions (account_id);

CREATE TABLE signing_keys (
    id                 TEXT    NOT NULL PRIMARY KEY,
    algorithm          TEXT    NOT NULL,
    public_key         BLOB    NOT NULL,
    sealed_private_key BLOB    NOT NULL,
    created_at         INTEGER NOT NULL,
    active_at          INTEGER NOT NULL,
    retire_at          INTEGER,
    expires_at         INTEGER
) STRICT;

-- +goose Down
DROP TABLE signing_keys;
DROP INDEX sessions_account_id;
DROP TABLE sessions;
DROP TABLE accounts;
