-- Indexes that every case's rows paid for and only a few rows need (issue 20). Each index is a
-- b-tree that every insert of its table writes, and a page that every commit of a burst writes
-- again: intake commits about once per receipt sent. These four now hold only the rows their
-- readers look for, so a plain submission's receipt and intake record no longer enter them.
--
-- The quarantine (status, report, `quarantine` commands): quarantined intake records, in the
-- order they are listed.
DROP INDEX intake_destination;
CREATE INDEX intake_quarantined ON intake(received_at, uid) WHERE destination = 'quarantine';
-- `samverkan status` counts failed mail (pending mail has outbox_due; counting sent mail reads
-- the table, as reading the index of every status did).
DROP INDEX outbox_status;
CREATE INDEX outbox_failed ON outbox(id) WHERE status = 'failed';
-- The daily cap on rejection answers to one sender (store::sql::REJECTIONS_TO_SINCE).
DROP INDEX outbox_recipient;
CREATE INDEX outbox_rejections ON outbox(created_at) WHERE kind IN ('incomplete', 'no_parts');
-- Meeting mail only (a receipt has no meeting).
DROP INDEX outbox_meeting;
CREATE INDEX outbox_meeting ON outbox(meeting_id) WHERE meeting_id IS NOT NULL;
