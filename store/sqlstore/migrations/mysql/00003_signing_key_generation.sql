-- Signing-key generations: every rotation writes the next generation
-- number, and the unique key lets only one of several instances that rotate
-- at the same moment write it. Keys from before this migration have none
-- (NULL, which the unique key allows many times). Keep the key name in sync
-- with mysqlUniqueKeys.

-- +goose Up
ALTER TABLE signing_keys ADD COLUMN generation BIGINT NULL;
CREATE UNIQUE INDEX signing_keys_generation ON signing_keys (generation);

-- +goose Down
DROP INDEX signing_keys_generation ON signing_keys;
ALTER TABLE signing_keys DROP COLUMN generation;
