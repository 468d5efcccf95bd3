-- The same as migrations/sqlite/0012_obligation_mails.sql: every mail the daemon sent about an
-- obligation, so a reply in the thread of any of them belongs to that obligation.
CREATE TABLE obligation_mails (
    message_id    TEXT   NOT NULL,
    obligation_id BIGINT NOT NULL REFERENCES obligations(id),
    PRIMARY KEY (message_id, obligation_id)
);
INSERT INTO obligation_mails (message_id, obligation_id)
    SELECT request_message_id, id FROM obligations WHERE request_message_id <> '';
