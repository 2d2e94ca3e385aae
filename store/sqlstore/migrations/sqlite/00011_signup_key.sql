-- The SHA-256 of the idempotency key a signup carried, so that a retried
-- signup with the same key gets the first one's answer.

-- +goose Up
ALTER TABLE accounts ADD COLUMN signup_key BLOB;

-- +goose Down
ALTER TABLE accounts DROP COLUMN signup_key;
