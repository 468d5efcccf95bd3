-- Invitations: one row per invitee of a meeting, with what they answered and which SEQUENCE
-- they were last sent.
ALTER TABLE meetings ADD COLUMN invited_at TEXT NOT NULL DEFAULT '';  -- the first invitations went out
ALTER TABLE meetings ADD COLUMN summoned_at TEXT NOT NULL DEFAULT ''; -- the summons (agenda) or the not-held notice went out
ALTER TABLE meetings ADD COLUMN note_taker TEXT NOT NULL DEFAULT '';  -- member address (dokumentationsansvarig)

CREATE TABLE invitations (
    id               INTEGER NOT NULL PRIMARY KEY,
    meeting_id       INTEGER NOT NULL REFERENCES meetings(id),
    address          TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    role             TEXT    NOT NULL,                       -- REQ-PARTICIPANT, OPT-PARTICIPANT
    partstat         TEXT    NOT NULL DEFAULT 'NEEDS-ACTION',
    partstat_at      TEXT    NOT NULL DEFAULT '',
    partstat_source  TEXT    NOT NULL DEFAULT '',            -- icalendar, subject, ...
    sequence_sent    INTEGER NOT NULL,
    active           INTEGER NOT NULL DEFAULT 1,             -- 0 once cancelled for this invitee
    created_at       TEXT    NOT NULL,
    UNIQUE (meeting_id, address)
) STRICT;

-- The units a case concerns (from its "Berörda enheter" field and members on Cc), as a JSON list.
ALTER TABLE cases ADD COLUMN units_json TEXT NOT NULL DEFAULT '[]';
