-- The same as migrations/sqlite/0010_outbox_body.sql. (PostgreSQL's TOAST already keeps a large
-- value out of the row; one schema for both engines.)
CREATE TABLE outbox_body (
    outbox_id BIGINT PRIMARY KEY REFERENCES outbox(id) ON DELETE CASCADE,
    mime      BYTEA  NOT NULL
);
INSERT INTO outbox_body (outbox_id, mime) SELECT id, mime FROM outbox;
ALTER TABLE outbox DROP COLUMN mime;
