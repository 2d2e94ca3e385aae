-- Failed-login counters on accounts and the auth_events audit log.
--
-- auth_events has no foreign key to accounts: the audit trail outlives the
-- account it is about. Rows are pruned by age (auth_events_at).

-- +goose Up
ALTER TABLE accounts
    ADD COLUMN failed_logins        INT         NOT NULL DEFAULT 0,
    ADD COLUMN last_failed_login_at DATETIME(6) NULL;

CREATE TABLE auth_events (
    id         BIGINT       NOT NULL AUTO_INCREMENT,
    at         DATETIME(6)  NOT NULL,
    type       VARCHAR(32)  NOT NULL,
    reason     VARCHAR(64)  NOT NULL DEFAULT '',
    ip         VARCHAR(64)  NOT NULL DEFAULT '',
    account_id CHAR(32)     NULL,
    session_id CHAR(32)     NULL,
    PRIMARY KEY (id),
    KEY auth_events_at (at),
    KEY auth_events_account_at (account_id, at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE auth_events;
ALTER TABLE accounts
    DROP COLUMN last_failed_login_at,
    DROP COLUMN failed_logins;
