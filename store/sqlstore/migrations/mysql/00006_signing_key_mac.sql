-- Signing-key MACs: an HMAC under a key derived from the master key over
-- every field a verifier trusts, so that a row written with database
-- access alone is never used. Keys from before this migration have none
-- (NULL) until a server holding the master key checks and MACs them.

-- +goose Up
ALTER TABLE signing_keys ADD COLUMN mac VARBINARY(64) NULL;

-- +goose Down
ALTER TABLE signing_keys DROP COLUMN mac;
