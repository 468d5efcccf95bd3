-- The same as migrations/sqlite/0011_intake_batches.sql (on PostgreSQL every commit is durable;
-- one schema for both engines).
ALTER TABLE mailbox_state ADD COLUMN batches BIGINT NOT NULL DEFAULT 0;
