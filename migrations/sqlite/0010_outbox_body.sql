-- A queued mail's bytes in their own table, written once when it is queued and read once per
-- attempt. The sender changes an outbox row twice per mail (the claim, the outcome) and both
-- change the record's size; SQLite rewrites a changed record whole, so with the MIME inline each
-- invitation (158 KiB with its agenda) and its overflow pages went to the WAL twice, and the
-- claim's scan walked the overflow chain to reach claimed_by (BENCHMARKS.md, fan-out).
CREATE TABLE outbox_body (
    outbox_id INTEGER NOT NULL PRIMARY KEY REFERENCES outbox(id) ON DELETE CASCADE,
    mime      BLOB    NOT NULL  -- the final bytes, as sent
) STRICT;
INSERT INTO outbox_body (outbox_id, mime) SELECT id, mime FROM outbox;
ALTER TABLE outbox DROP COLUMN mime;
