-- Revocations: every session revocation, appended in the transaction that
-- revokes, so that every instance (and every backend that subscribes)
-- learns of it by reading the rows past the last id it saw. A row can go
-- once its session's tokens have all expired (expires_at). AUTOINCREMENT
-- so that an id is never handed out twice, even after the newest rows
-- were pruned: a follower's position must stay meaningful.

-- +goose Up
CREATE TABLE revocations (
    id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    session_id TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL
) STRICT;

CREATE INDEX revocations_expires_at ON revocations (expires_at);

-- +goose Down
DROP TABLE revocations;
