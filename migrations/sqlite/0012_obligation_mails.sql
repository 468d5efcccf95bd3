-- Every mail the daemon sent about an obligation (its request, reminders, escalations,
-- confirmations, answers to comments): a reply in the thread of any of them belongs to that
-- obligation, never to the case's submission parts (issue 15). One mail can belong to more
-- than one obligation (the beslutsunderlag asks for the decisions and for the notes).
CREATE TABLE obligation_mails (
    message_id    TEXT    NOT NULL,
    obligation_id INTEGER NOT NULL REFERENCES obligations(id),
    PRIMARY KEY (message_id, obligation_id)
) STRICT;
INSERT INTO obligation_mails (message_id, obligation_id)
    SELECT request_message_id, id FROM obligations WHERE request_message_id <> '';
