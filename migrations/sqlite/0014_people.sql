-- The routines around one person (issue 18; seeds 003 and 000): a person followed by named
-- contact persons in the units, with meetings that fall due on a rhythm (start + months, then
-- at least every N months) or on the date agreed at the last meeting. Pseudonymous: the local
-- reference and initials only, never a name or a personal identity number. The meetings are
-- rows of `meetings` (kind 'person', occurrence 'person-ID-N'), so invitations and answers are
-- tracked like the forum's; the small deadlines are `obligations` (data_json.person_id).
CREATE TABLE people (
    id              INTEGER NOT NULL PRIMARY KEY,
    forum_id        TEXT    NOT NULL,
    routine_id      TEXT    NOT NULL,
    reference       TEXT    NOT NULL,              -- the local reference (pseudonymous)
    initials        TEXT    NOT NULL DEFAULT '',
    started_on      TEXT    NOT NULL,              -- local date YYYY-MM-DD the intervention started
    contacts_json   TEXT    NOT NULL DEFAULT '{}', -- {"side": "address"}: the contact person per unit side
    extra_json      TEXT    NOT NULL DEFAULT '[]', -- other invitees the registration named (representative, case worker)
    status          TEXT    NOT NULL DEFAULT 'active', -- active, left
    next_due_on     TEXT    NOT NULL DEFAULT '',   -- local date the next meeting falls due
    due_basis       TEXT    NOT NULL DEFAULT '',   -- first, yearly, agreed
    meetings_held   INTEGER NOT NULL DEFAULT 0,
    registered_by   TEXT    NOT NULL DEFAULT '',
    left_on         TEXT    NOT NULL DEFAULT '',
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    UNIQUE (forum_id, routine_id, reference)
) STRICT;
CREATE INDEX people_due ON people(status, next_due_on);
