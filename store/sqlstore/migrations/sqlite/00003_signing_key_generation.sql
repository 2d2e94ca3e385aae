-- Signing-key generations: every rotation writes the next generation
-- number, and the unique index lets only one of several writers that rotate
-- at the same moment write it. Keys from before this migration have none
-- (NULL, which the unique index allows many times).

-- +goose Up
ALTER TABLE signing_keys ADD COLUMN generation INTEGER;
CREATE UNIQUE INDEX signing_keys_generation ON signing_keys (generation);

-- +goose Down
DROP INDEX signing_keys_generation;
ALTER TABLE signing_keys DROP COLUMN generation;
