-- The resend check (Store::case_with_hash) wants the oldest case with a content fingerprint.
-- On PostgreSQL an index on (forum_id, content_hash) alone let the planner walk the primary key
-- in id order instead, reading every case when no case matched (the common answer). With id in
-- the index the order comes with the lookup. (SQLite keeps the rowid in every index; the same
-- schema on both engines.)
DROP INDEX cases_hash;
CREATE INDEX cases_hash ON cases(forum_id, content_hash, id);
