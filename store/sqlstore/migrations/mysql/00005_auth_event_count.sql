-- Aggregated audit events: a refusal tied to no account is written once
-- per client IP and interval, with how many refusals the row stands for.
-- NULL is one decision (every row before this migration).

-- +goose Up
ALTER TABLE auth_events ADD COLUMN count BIGINT NULL;

-- +goose Down
ALTER TABLE auth_events DROP COLUMN count;
