-- The same as migrations/sqlite/0016_partial_indexes.sql.
DROP INDEX intake_destination;
CREATE INDEX intake_quarantined ON intake(received_at, uid) WHERE destination = 'quarantine';
DROP INDEX outbox_status;
CREATE INDEX outbox_failed ON outbox(id) WHERE status = 'failed';
DROP INDEX outbox_recipient;
CREATE INDEX outbox_rejections ON outbox(created_at) WHERE kind IN ('incomplete', 'no_parts');
DROP INDEX outbox_meeting;
CREATE INDEX outbox_meeting ON outbox(meeting_id) WHERE meeting_id IS NOT NULL;
