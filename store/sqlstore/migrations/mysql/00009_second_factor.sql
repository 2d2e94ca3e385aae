-- A second factor: an account's TOTP secret (sealed under the master key),
-- its recovery codes (SHA-256 only), the challenges between a login's
-- password and its code, and how each session was authenticated.

-- +goose Up
CREATE TABLE second_factors (
    account_id    CHAR(32)      NOT NULL,
    sealed_secret VARBINARY(128) NOT NULL,
    enabled       BOOLEAN       NOT NULL DEFAULT FALSE,
    last_step     BIGINT        NOT NULL DEFAULT 0,
    created_at    DATETIME(6)   NOT NULL,
    updated_at    DATETIME(6)   NOT NULL,
    PRIMARY KEY (account_id),
    CONSTRAINT second_factors_account FOREIGN KEY (account_id)
        REFERENCES accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE recovery_codes (
    account_id CHAR(32)    NOT NULL,
    code_hash  BINARY(32)  NOT NULL,
    used_at    DATETIME(6) NULL,
    PRIMARY KEY (account_id, code_hash),
    CONSTRAINT recovery_codes_account FOREIGN KEY (account_id)
        REFERENCES accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE login_challenges (
    id         CHAR(64)    NOT NULL,
    account_id CHAR(32)    NOT NULL,
    binding    VARCHAR(64) NOT NULL DEFAULT '',
    client     VARCHAR(64) NOT NULL DEFAULT '',
    ip         VARCHAR(64) NOT NULL DEFAULT '',
    attempts   INT         NOT NULL DEFAULT 0,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    used_at    DATETIME(6) NULL,
    PRIMARY KEY (id),
    KEY login_challenges_expires_at (expires_at),
    CONSTRAINT login_challenges_account FOREIGN KEY (account_id)
        REFERENCES accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

ALTER TABLE accounts ADD COLUMN second_factor BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE sessions ADD COLUMN amr VARCHAR(32) NOT NULL DEFAULT 'pwd';

-- +goose Down
ALTER TABLE sessions DROP COLUMN amr;
ALTER TABLE accounts DROP COLUMN second_factor;
DROP TABLE login_challenges;
DROP TABLE recovery_codes;
DROP TABLE second_factors;
