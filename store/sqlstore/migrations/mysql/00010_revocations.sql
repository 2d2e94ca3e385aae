-- Revocations: every session revocation, appended in the transaction that
-- revokes, so that every instance (and every backend that subscribes)
-- learns of it by reading the rows past the last id it saw. A row can go
-- once its session's tokens have all expired (expires_at).

-- +goose Up
CREATE TABLE revocations (
    id         BIGINT      NOT NULL AUTO_INCREMENT,
    session_id CHAR(32)    NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    revoked_at DATETIME(6) NOT NULL,
    PRIMARY KEY (id),
    KEY revocations_expires_at (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE revocations;
