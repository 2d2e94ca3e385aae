-- Service keys: application backends that authenticate their connection
-- (service_auth). The secret is stored as its SHA-256 only.

-- +goose Up
CREATE TABLE service_keys (
    id          CHAR(32)     NOT NULL,
    name        VARCHAR(32)  NOT NULL,
    secret_hash BINARY(32)   NOT NULL,
    scopes      VARCHAR(255) NOT NULL DEFAULT '',
    created_at  DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY service_keys_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE service_keys;
