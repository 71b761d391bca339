-- Referrals between agencies: one row per referral, with its status, due date and
-- response time. ``open``: not declined or closed; ``awaiting``: sent or
-- acknowledged (no answer yet). Times are UTC ISO-8601 text (sortable).
CREATE TABLE IF NOT EXISTS rf_referrals (
    referral_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    from_agency TEXT NOT NULL,
    to_agency TEXT NOT NULL,
    category TEXT NOT NULL,
    urgency TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    sent_by TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    due_by TEXT NOT NULL,
    acknowledged_at TEXT,
    responded_at TEXT,
    closed_at TEXT,
    response_seconds DOUBLE PRECISION,
    open INTEGER NOT NULL,
    awaiting INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS rf_incoming_idx ON rf_referrals (to_agency, open, due_by, referral_id);
CREATE INDEX IF NOT EXISTS rf_outgoing_idx ON rf_referrals (from_agency, open, due_by, referral_id);
CREATE INDEX IF NOT EXISTS rf_awaiting_idx ON rf_referrals (to_agency, awaiting, due_by, referral_id);
