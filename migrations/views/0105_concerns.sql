-- Concern aggregation: alerts and safeguarding entries about a client, by agency,
-- and per client whether several agencies raised concerns within the window.
CREATE TABLE IF NOT EXISTS cc_concerns (
    client_id TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    agency_id TEXT NOT NULL,
    source TEXT NOT NULL,
    alert_kind TEXT,
    severity TEXT,
    occurred_at TEXT NOT NULL,
    resolved INTEGER NOT NULL,
    PRIMARY KEY (client_id, entry_id)
);
CREATE TABLE IF NOT EXISTS cc_clients (
    client_id TEXT PRIMARY KEY,
    flagged INTEGER NOT NULL,
    agencies TEXT NOT NULL,
    concern_count INTEGER NOT NULL,
    open_count INTEGER NOT NULL,
    first_at TEXT,
    last_at TEXT
);
CREATE INDEX IF NOT EXISTS cc_flagged_idx ON cc_clients (flagged, client_id);
