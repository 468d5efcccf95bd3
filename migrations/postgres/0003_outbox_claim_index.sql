-- The same as migrations/sqlite/0008_outbox_claim_index.sql: the claim's order and filter from
-- the index.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox(next_attempt_at, id, claimed_by) WHERE status = 'pending';
