-- Devices that have logged in to an account: the client keeps a device
-- token (the id and a secret, of which only the SHA-256 is stored) and
-- presents it at login, so that its failures are counted apart from
-- strangers'. Sessions and login challenges remember the device they
-- came from.

-- +goose Up
CREATE TABLE devices (
    id                   CHAR(32)    NOT NULL,
    account_id           CHAR(32)    NOT NULL,
    secret_hash          BINARY(32)  NOT NULL,
    created_at           DATETIME(6) NOT NULL,
    last_login_at        DATETIME(6) NOT NULL,
    failed_logins        INT         NOT NULL DEFAULT 0,
    last_failed_login_at DATETIME(6) NULL,
    PRIMARY KEY (id),
    KEY devices_account_last_login (account_id, last_login_at),
    CONSTRAINT devices_account FOREIGN KEY (account_id)
        REFERENCES accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

ALTER TABLE sessions ADD COLUMN device_id VARCHAR(32) NOT NULL DEFAULT '';
ALTER TABLE login_challenges ADD COLUMN device_id VARCHAR(32) NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE login_challenges DROP COLUMN device_id;
ALTER TABLE sessions DROP COLUMN device_id;
DROP TABLE devices;
