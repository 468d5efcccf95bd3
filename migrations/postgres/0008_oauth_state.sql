-- The same as migrations/sqlite/0013_oauth_state.sql.
CREATE TABLE oauth_state (
    provider      TEXT NOT NULL PRIMARY KEY,
    refresh_token TEXT NOT NULL DEFAULT '',
    admin_action  TEXT NOT NULL DEFAULT '',
    admin_since   TEXT NOT NULL DEFAULT '',
    updated_at    TEXT NOT NULL DEFAULT ''
);
