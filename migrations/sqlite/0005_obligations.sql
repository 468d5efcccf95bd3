-- After the meeting: decisions, handovers and follow-ups, all tracked as obligations:
-- someone must do something by a deadline, is reminded, and it escalates if not done; an
-- event (a reply, a decision) closes it.
CREATE TABLE obligations (
    id            INTEGER NOT NULL PRIMARY KEY,
    forum_id      TEXT    NOT NULL,
    kind          TEXT    NOT NULL,            -- decisions, handover_info, handover_confirm, escalation_ack, follow_up, age_transfer, notes
    case_id       INTEGER REFERENCES cases(id),
    meeting_id    INTEGER REFERENCES meetings(id),
    owners        TEXT    NOT NULL,            -- JSON list of member addresses who must act
    escalate_to   TEXT    NOT NULL DEFAULT '[]', -- JSON list of addresses told when it escalates
    remind_at     TEXT    NOT NULL DEFAULT '', -- '' = no reminder
    escalate_at   TEXT    NOT NULL DEFAULT '', -- '' = no escalation
    reminded_at   TEXT    NOT NULL DEFAULT '',
    escalated_at  TEXT    NOT NULL DEFAULT '',
    opened_at     TEXT    NOT NULL,
    closed_at     TEXT    NOT NULL DEFAULT '',
    closed_by     TEXT    NOT NULL DEFAULT '',
    data_json     TEXT    NOT NULL DEFAULT '{}', -- kind-specific: unit, date, case worker, ...
    request_message_id TEXT NOT NULL DEFAULT '' -- the mail whose thread answers it
) STRICT;
CREATE INDEX obligations_open ON obligations(closed_at, remind_at, escalate_at);
CREATE INDEX obligations_case ON obligations(case_id);
CREATE INDEX obligations_request ON obligations(request_message_id);

ALTER TABLE meetings ADD COLUMN decisions_requested_at TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN follow_up_on TEXT NOT NULL DEFAULT '';   -- UPPFÖLJNING date (local, YYYY-MM-DD)
ALTER TABLE cases ADD COLUMN handover_json TEXT NOT NULL DEFAULT '{}'; -- the handover information (personal data)
ALTER TABLE cases ADD COLUMN transfer_on TEXT NOT NULL DEFAULT '';    -- the date the person turns 19 (or 21)
ALTER TABLE cases ADD COLUMN closed_at TEXT NOT NULL DEFAULT '';
