-- Service keys: application backends that authenticate their connection
-- (service_auth). The secret is stored as its SHA-256 only.

-- +goose Up
CREATE TABLE service_keys (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    secret_hash BLOB    NOT NULL,
    scopes      TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);

-- +goose Down
DROP TABLE service_keys;
