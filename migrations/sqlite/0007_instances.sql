-- Several daemons may share one database (PostgreSQL); on SQLite there is one, and the same
-- rows say so. migrations/postgres/0002_instances.sql is the same schema.

-- Each daemon, renewed while it runs.
CREATE TABLE instances (
    name        TEXT    NOT NULL PRIMARY KEY,  -- database.instance (default: the host name)
    started_at  TEXT    NOT NULL,
    alive_until TEXT    NOT NULL,              -- renewed every lease/3; past it, the instance is gone
    version     TEXT    NOT NULL DEFAULT '',
    pid         INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Who does what only one instance may do at a time: reading a mailbox, running the planner.
CREATE TABLE leases (
    name        TEXT    NOT NULL PRIMARY KEY,  -- e.g. 'intake:user@host/INBOX', 'scheduler'
    holder      TEXT    NOT NULL,              -- instances.name
    acquired_at TEXT    NOT NULL,              -- since when this holder has it
    expires_at  TEXT    NOT NULL               -- another instance may take it after this
) STRICT;

-- The instance sending an outbox row; cleared when the attempt's outcome is recorded. A row
-- claimed by an instance that is gone (alive_until past) is due again.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
