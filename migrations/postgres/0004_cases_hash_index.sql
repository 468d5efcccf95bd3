-- The same as migrations/sqlite/0009_cases_hash_index.sql.
DROP INDEX cases_hash;
CREATE INDEX cases_hash ON cases(forum_id, content_hash, id);
