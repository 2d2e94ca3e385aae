-- A second factor: an account's TOTP secret (sealed under the master key),
-- its recovery codes (SHA-256 only), the challenges between a login's
-- password and its code, and how each session was authenticated.

-- +goose Up
CREATE TABLE second_factors (
    account_id    TEXT    NOT NULL PRIMARY KEY
        REFERENCES accounts (id) ON DELETE CASCADE,
    sealed_secret BLOB    NOT NULL,
    enabled       INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    last_step     INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE recovery_codes (
    account_id TEXT    NOT NULL
        REFERENCES accounts (id) ON DELETE CASCADE,
    code_hash  BLOB    NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (account_id, code_hash)
) STRICT;

CREATE TABLE login_challenges (
    id         TEXT    NOT NULL PRIMARY KEY,
    account_id TEXT    NOT NULL
        REFERENCES accounts (id) ON DELETE CASCADE,
    binding    TEXT    NOT NULL DEFAULT '',
    client     TEXT    NOT NULL DEFAULT '',
    ip         TEXT    NOT NULL DEFAULT '',
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

CREATE INDEX login_challenges_expires_at ON login_challenges (expires_at);

ALTER TABLE accounts ADD COLUMN second_factor INTEGER NOT NULL DEFAULT 0 CHECK (second_factor IN (0, 1));

ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';

-- +goose Down
ALTER TABLE sessions DROP COLUMN amr;
ALTER TABLE accounts DROP COLUMN second_factor;
DROP INDEX login_challenges_expires_at;
DROP TABLE login_challenges;
DROP TABLE recovery_codes;
DROP TABLE second_factors;
