-- Break-glass grants and their information-governance review (projections/audit_break_glass.py).
-- The queue of an agency's IG officers is its practitioners' grants with reviewed = 0;
-- a review is due a configurable period after the grant (decided at read time).
-- ``reason`` is the grantee's justification: shown to the reviewing officer only.
CREATE TABLE IF NOT EXISTS bg_grants (
    grant_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    practitioner_id TEXT NOT NULL,
    agency_id TEXT NOT NULL,
    profession TEXT NOT NULL,
    purpose TEXT NOT NULL,
    reason TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    reviewed INTEGER NOT NULL,
    outcome TEXT,
    reviewer_id TEXT,
    review_note TEXT,
    reviewed_at TEXT
);
CREATE INDEX IF NOT EXISTS bg_queue_idx ON bg_grants (agency_id, reviewed, granted_at, grant_id);
CREATE INDEX IF NOT EXISTS bg_client_idx ON bg_grants (client_id, granted_at);
