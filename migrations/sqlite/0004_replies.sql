-- Confirmation tracking: answers to invitations, reminders and digests.
ALTER TABLE meetings ADD COLUMN uid TEXT NOT NULL DEFAULT '';              -- the iCalendar UID
ALTER TABLE meetings ADD COLUMN digest_cutoff_at TEXT NOT NULL DEFAULT '';  -- convenor digest at the cutoff
ALTER TABLE meetings ADD COLUMN digest_morning_at TEXT NOT NULL DEFAULT ''; -- convenor digest on the meeting's morning
CREATE INDEX meetings_uid ON meetings(uid);

ALTER TABLE invitations ADD COLUMN partstat_sequence INTEGER NOT NULL DEFAULT -1; -- SEQUENCE the answer was to
ALTER TABLE invitations ADD COLUMN reminded_at TEXT NOT NULL DEFAULT '';          -- the one RSVP reminder
ALTER TABLE invitations ADD COLUMN undeliverable INTEGER NOT NULL DEFAULT 0;      -- a bounce came back
ALTER TABLE invitations ADD COLUMN delegate INTEGER NOT NULL DEFAULT 0;           -- invited as someone's delegate

-- Which meeting an outgoing mail belongs to (matching answers that carry no calendar data).
ALTER TABLE outbox ADD COLUMN meeting_id INTEGER REFERENCES meetings(id);
CREATE INDEX outbox_meeting ON outbox(meeting_id);
