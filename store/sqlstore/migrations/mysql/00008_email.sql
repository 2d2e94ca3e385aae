-- Email: an address is verified before it counts. accounts.email holds
-- verified addresses only, so the addresses stored so far, never checked,
-- wait in pending_email until their owners verify them. One live code per
-- account and purpose (a keyed hash, never the code), and the queue of
-- mail waiting to be sent.

-- +goose Up
UPDATE accounts SET pending_email = email, email = NULL WHERE email IS NOT NULL;

CREATE TABLE email_codes (
    account_id   CHAR(32)    NOT NULL,
    purpose      VARCHAR(16) NOT NULL,
    email        VARCHAR(254) NOT NULL,
    code_hash    BINARY(32)  NOT NULL,
    attempts     INT         NOT NULL DEFAULT 0,
    expires_at   DATETIME(6) NOT NULL,
    issued       INT         NOT NULL DEFAULT 0,
    window_start DATETIME(6) NOT NULL,
    PRIMARY KEY (account_id, purpose),
    CONSTRAINT email_codes_account_fk FOREIGN KEY (account_id)
        REFERENCES accounts (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE mail_queue (
    id         CHAR(32)     NOT NULL,
    kind       VARCHAR(16)  NOT NULL,
    account_id CHAR(32)     NOT NULL DEFAULT '',
    address    VARCHAR(254) NOT NULL DEFAULT '',
    username   VARCHAR(64)  NOT NULL DEFAULT '',
    login      VARCHAR(254) NOT NULL DEFAULT '',
    notice     VARCHAR(64)  NOT NULL DEFAULT '',
    attempts   INT          NOT NULL DEFAULT 0,
    created_at DATETIME(6)  NOT NULL,
    next_at    DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    KEY mail_queue_next_at (next_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE mail_queue;
DROP TABLE email_codes;
UPDATE accounts a SET email = pending_email, pending_email = NULL
 WHERE email IS NULL AND pending_email IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM (SELECT email FROM accounts) b WHERE b.email = a.pending_email);
