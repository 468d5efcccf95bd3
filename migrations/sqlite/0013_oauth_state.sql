-- OAuth2 state per [oauth2] provider block (migrations/postgres/0008_oauth_state.sql is the same
-- schema): the device flow's refresh token, replaced in one statement whenever the server
-- rotates it, and the "admin action needed" state that `samverkan status` shows.
CREATE TABLE oauth_state (
    provider      TEXT NOT NULL PRIMARY KEY,  -- oauth2.provider
    refresh_token TEXT NOT NULL DEFAULT '',   -- device flow only; never logged
    admin_action  TEXT NOT NULL DEFAULT '',   -- what an administrator must fix; '' when fine
    admin_since   TEXT NOT NULL DEFAULT '',
    updated_at    TEXT NOT NULL DEFAULT ''
) STRICT;
