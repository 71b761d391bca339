-- Usage figures from the event log (projections/audit_usage.py): contributions per month
-- by agency and profession, and each enrolled practitioner's training date and last
-- contribution (for the share of trained practitioners who contribute). Counts only.
CREATE TABLE IF NOT EXISTS us_contributions (
    month TEXT NOT NULL,
    agency_id TEXT NOT NULL,
    profession TEXT NOT NULL,
    contributions BIGINT NOT NULL,
    PRIMARY KEY (month, agency_id, profession)
);
CREATE TABLE IF NOT EXISTS us_practitioners (
    practitioner_id TEXT PRIMARY KEY,
    agency_id TEXT NOT NULL,
    profession TEXT NOT NULL,
    trained_on TEXT,
    active INTEGER NOT NULL,
    last_contribution_at TEXT
);
CREATE INDEX IF NOT EXISTS us_practitioners_profession_idx ON us_practitioners (profession);
