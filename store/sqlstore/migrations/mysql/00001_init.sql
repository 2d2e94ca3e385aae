-- Initial schema for MariaDB/MySQL.
--
-- Every string column uses utf8mb4_bin: comparisons are exact, as in SQLite.
-- Callers store usernames and emails in lowercase (see package store).
-- Times are DATETIME(6) in UTC; the driver is opened with parseTime=true and
-- loc=UTC. The unique key names are matched by sqlstore to report which field
-- a duplicate collided on: keep them in sync with mysqlUniqueKeys.

-- +goose Up
CREATE TABLE accounts (
    id            CHAR(32)     NOT NULL,
    username      VARCHAR(64)  NOT NULL,
    email         VARCHAR(254) NULL,
    password_hash VARCHAR(512) NOT NULL,
    disabled      BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at    DATETIME(6)  NOT NULL,
    updated_at    DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY accounts_username (username),
    UNIQUE KEY accounts_email (email)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE sessions (
    id         CHAR(32)    NOT NULL,
    account_id CHAR(32)    NOT NULL,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    revoked_at DATETIME(6) NULL,
    PRIMARY KEY (id),
    KEY sessions_account_id (account_id),
    CONSTRAINT sessions_account_fk FOREIGN KEY (account_id)
        REFERENCES accounts (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE signing_keys (
    id                 VARCHAR(64) NOT NULL,
    algorithm          VARCHAR(16) NOT NULL,
    public_key         BLOB        NOT NULL,
    sealed_private_key BLOB        NOT NULL,
    created_at         DATETIME(6) NOT NULL,
    active_at          DATETIME(6) NOT NULL,
    retire_at          DATETIME(6) NULL,
    expires_at         DATETIME(6) NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE signing_keys;
DROP TABLE sessions;
DROP TABLE accounts;
