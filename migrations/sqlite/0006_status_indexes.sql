-- Indexes for `samverkan status` (and /metrics), which count cases per forum and status, outbox
-- rows per status and quarantined intake records. Without them each count read the whole table
-- (the outbox's past its MIME blobs): about 0.5 s at 100,000 cases, growing linearly.
CREATE INDEX cases_forum_status ON cases(forum_id, status);
CREATE INDEX outbox_status ON outbox(status);
CREATE INDEX intake_destination ON intake(destination);
