-- Devices that have logged in to an account: the client keeps a device
-- token (the id and a secret, of which only the SHA-256 is stored) and
-- presents it at login, so that its failures are counted apart from
-- strangers'. Sessions and login challenges remember the device they
-- came from.

-- +goose Up
CREATE TABLE devices (
    id                   TEXT    NOT NULL PRIMARY KEY,
    account_id           TEXT    NOT NULL
        REFERENCES accounts (id) ON DELETE CASCADE,
    secret_hash          BLOB    NOT NULL,
    created_at           INTEGER NOT NULL,
    last_login_at        INTEGER NOT NULL,
    failed_logins        INTEGER NOT NULL DEFAULT 0,
    last_failed_login_at INTEGER
) STRICT;

CREATE INDEX devices_account_last_login ON devices (account_id, last_login_at);

ALTER TABLE sessions ADD COLUMN device_id TEXT NOT NULL DEFAULT '';
ALTER TABLE login_challenges ADD COLUMN device_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE login_challenges DROP COLUMN device_id;
ALTER TABLE sessions DROP COLUMN device_id;
DROP INDEX devices_account_last_login;
DROP TABLE devices;
