-- samverkan schema, version 1. Migrations are append-only: never edit a released file,
-- never change what a column means. All times are UTC, text, 'YYYY-MM-DDTHH:MM:SS.mmmZ'
-- (fixed width, so they compare and sort as text).

-- One row per IMAP folder the daemon reads: where intake stands.
CREATE TABLE mailbox_state (
    mailbox       TEXT    NOT NULL PRIMARY KEY,
    uidvalidity   INTEGER NOT NULL DEFAULT 0,
    last_uid      INTEGER NOT NULL DEFAULT 0,
    last_sync_at  TEXT    NOT NULL DEFAULT ''
) STRICT;

-- One row per message read. Written in the same transaction as the message's effects;
-- the mail is moved on the server only after that commit.
CREATE TABLE intake (
    id            INTEGER NOT NULL PRIMARY KEY,
    mailbox       TEXT    NOT NULL,
    uidvalidity   INTEGER NOT NULL,
    uid           INTEGER NOT NULL,
    message_id    TEXT    NOT NULL,
    received_at   TEXT    NOT NULL,            -- the server's INTERNALDATE
    processed_at  TEXT    NOT NULL,
    kind          TEXT    NOT NULL,            -- submission, reply, auto_reply, bounce, other, unparseable, too_large
    outcome       TEXT    NOT NULL,            -- what the core decided, e.g. case_created, not_member, duplicate
    destination   TEXT    NOT NULL,            -- 'processed' or 'quarantine'
    moved_at      TEXT    NOT NULL DEFAULT '', -- set once the server confirmed the move
    case_id       INTEGER REFERENCES cases(id),
    UNIQUE (mailbox, uidvalidity, uid)
) STRICT;
CREATE INDEX intake_message_id ON intake(message_id);
CREATE INDEX intake_unmoved ON intake(mailbox, moved_at) WHERE moved_at = '';

-- Case numbers are per forum and year: 2026-0001, 2026-0002, ...
CREATE TABLE case_counter (
    forum_id      TEXT    NOT NULL,
    year          INTEGER NOT NULL,
    last_number   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (forum_id, year)
) STRICT;

CREATE TABLE cases (
    id             INTEGER NOT NULL PRIMARY KEY,
    forum_id       TEXT    NOT NULL,
    case_no        TEXT    NOT NULL,           -- e.g. 2026-0001
    status         TEXT    NOT NULL,           -- submitted, incomplete, withdrawn, closed, ...
    submitter      TEXT    NOT NULL,           -- member address (personal data)
    message_id     TEXT    NOT NULL,           -- the submission's Message-ID
    content_hash   TEXT    NOT NULL,           -- sender + normalised content, for resend detection
    sections_json  TEXT    NOT NULL DEFAULT '{}', -- the submission's parts (personal data)
    received_at    TEXT    NOT NULL,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL,
    UNIQUE (forum_id, case_no)
) STRICT;
CREATE INDEX cases_message_id ON cases(message_id);
CREATE INDEX cases_hash ON cases(forum_id, content_hash);

-- Every outgoing mail. Written in the same transaction as the state change that caused it.
CREATE TABLE outbox (
    id               INTEGER NOT NULL PRIMARY KEY,
    message_id       TEXT    NOT NULL UNIQUE,  -- deterministic: the same cause gives the same id
    kind             TEXT    NOT NULL,         -- receipt, ...
    forum_id         TEXT    NOT NULL,
    case_id          INTEGER REFERENCES cases(id),
    env_from         TEXT    NOT NULL,
    env_to           TEXT    NOT NULL,         -- JSON array of addresses
    mime             BLOB    NOT NULL,         -- the final bytes, as sent
    status           TEXT    NOT NULL DEFAULT 'pending', -- pending, sent, failed
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT    NOT NULL,
    last_error       TEXT    NOT NULL DEFAULT '',
    created_at       TEXT    NOT NULL,
    sent_at          TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE status = 'pending';
