-- Deviations (avvikelser, seed 001 "Avvikelsehantering", seed 003): every broken rule of the
-- routine, recorded once by its natural key (the rule and what broke it: an obligation, a
-- meeting, an invitation), found by `core::deviation::scan` on the scheduler's pass. Numbers
-- and references only; the collector's "Ingen avvikelse: <reason>" is the only free text.
CREATE TABLE deviations (
    id             INTEGER NOT NULL PRIMARY KEY,
    forum_id       TEXT    NOT NULL,
    rule           TEXT    NOT NULL,            -- core::deviation::RULES id
    subject        TEXT    NOT NULL,            -- natural key: obligation:12, meeting:3, invitation:40
    case_id        INTEGER REFERENCES cases(id),
    meeting_id     INTEGER REFERENCES meetings(id),
    units_json     TEXT    NOT NULL DEFAULT '[]', -- the units concerned (unit names)
    due_at         TEXT    NOT NULL,            -- when the rule was broken (the deadline passed)
    detected_at    TEXT    NOT NULL,
    notified_at    TEXT    NOT NULL DEFAULT '', -- told to the collector as it happened
    digest_at      TEXT    NOT NULL DEFAULT '', -- in a monthly digest
    dismissed_at   TEXT    NOT NULL DEFAULT '', -- the collector answered "Ingen avvikelse"
    dismissed_by   TEXT    NOT NULL DEFAULT '', -- the collector's address (personal data)
    dismiss_reason TEXT    NOT NULL DEFAULT '', -- their reason (personal data)
    UNIQUE (rule, subject)
) STRICT;
CREATE INDEX deviations_forum ON deviations(forum_id, due_at);
