-- The claim (Store::claim_next_outbox) takes the first due row in (next_attempt_at, id) order
-- that no live instance holds. With the index on next_attempt_at alone, SQLite sorted every
-- pending row for the id tie-break and read each row's claimed_by, which is stored after the
-- MIME (walking its overflow pages: 158 KiB per invitation): every claim read the whole queue.
-- This index gives the order and the filter, so a claim reads one row.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox(next_attempt_at, id, claimed_by) WHERE status = 'pending';
