-- Email: an address is verified before it counts. accounts.email holds
-- verified addresses only, so the addresses stored so far, never checked,
-- wait in pending_email until their owners verify them. One live code per
-- account and purpose (a keyed hash, never the code), and the queue of
-- mail waiting to be sent.

-- +goose Up
UPDATE accounts SET pending_email = email, email = NULL WHERE email IS NOT NULL;

CREATE TABLE email_codes (
    account_id   TEXT    NOT NULL
        REFERENCES accounts (id) ON DELETE CASCADE,
    purpose      TEXT    NOT NULL,
    email        TEXT    NOT NULL,
    code_hash    BLOB    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    expires_at   INTEGER NOT NULL,
    issued       INTEGER NOT NULL DEFAULT 0,
    window_start INTEGER NOT NULL,
    PRIMARY KEY (account_id, purpose)
) STRICT;

CREATE TABLE mail_queue (
    id         TEXT    NOT NULL PRIMARY KEY,
    kind       TEXT    NOT NULL,
    account_id TEXT    NOT NULL DEFAULT '',
    address    TEXT    NOT NULL DEFAULT '',
    username   TEXT    NOT NULL DEFAULT '',
    login      TEXT    NOT NULL DEFAULT '',
    notice     TEXT    NOT NULL DEFAULT '',
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    next_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX mail_queue_next_at ON mail_queue (next_at);

-- +goose Down
DROP INDEX mail_queue_next_at;
DROP TABLE mail_queue;
DROP TABLE email_codes;
UPDATE accounts SET email = pending_email, pending_email = NULL
 WHERE email IS NULL AND pending_email IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM accounts b WHERE b.email = accounts.pending_email);
