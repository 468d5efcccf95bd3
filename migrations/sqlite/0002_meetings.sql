-- Meetings of each forum's series, materialised ahead from the schedule so that agendas,
-- invitations and reminders can refer to them. One row per occurrence of the rule, keyed by
-- the local date the rule generated (kept when the meeting is moved).
CREATE TABLE meetings (
    id          INTEGER NOT NULL PRIMARY KEY,
    forum_id    TEXT    NOT NULL,
    occurrence  TEXT    NOT NULL,                     -- local date YYYY-MM-DD from the rule
    kind        TEXT    NOT NULL,                     -- samverkansmote, avstamningsmote
    starts_at   TEXT    NOT NULL,
    ends_at     TEXT    NOT NULL,
    place       TEXT    NOT NULL DEFAULT '',
    status      TEXT    NOT NULL DEFAULT 'scheduled', -- scheduled, cancelled
    sequence    INTEGER NOT NULL DEFAULT 0,           -- iCalendar SEQUENCE
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    UNIQUE (forum_id, occurrence)
) STRICT;
CREATE INDEX meetings_start ON meetings(forum_id, starts_at);

-- The meeting a complete case is on (NULL while incomplete, withdrawn, or without a schedule).
ALTER TABLE cases ADD COLUMN meeting_id INTEGER REFERENCES meetings(id);
ALTER TABLE cases ADD COLUMN urgent INTEGER NOT NULL DEFAULT 0;
CREATE INDEX cases_meeting ON cases(meeting_id);
CREATE INDEX outbox_recipient ON outbox(kind, created_at);
