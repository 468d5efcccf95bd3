-- The same as migrations/sqlite/0007_instances.sql (read it for the comments).
CREATE TABLE instances (
    name        TEXT   NOT NULL PRIMARY KEY,
    started_at  TEXT   COLLATE "C" NOT NULL,
    alive_until TEXT   COLLATE "C" NOT NULL,
    version     TEXT   NOT NULL DEFAULT '',
    pid         BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE leases (
    name        TEXT   NOT NULL PRIMARY KEY,
    holder      TEXT   NOT NULL,
    acquired_at TEXT   COLLATE "C" NOT NULL,
    expires_at  TEXT   COLLATE "C" NOT NULL
);

ALTER TABLE outbox ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
