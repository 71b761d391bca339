-- Involvement index: per client, the agencies and named workers currently involved
-- (active care relationships; open referrals, for the receiving agency). No content.
CREATE TABLE IF NOT EXISTS inv_involvements (
    ref_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    agency_id TEXT NOT NULL,
    practitioner_id TEXT,
    team_id TEXT,
    profession TEXT,
    since TEXT NOT NULL,
    from_agency TEXT,
    status TEXT,
    urgency TEXT,
    due_by TEXT
);
CREATE INDEX IF NOT EXISTS inv_client_idx ON inv_involvements (client_id);
CREATE INDEX IF NOT EXISTS inv_agency_idx ON inv_involvements (agency_id, client_id);
CREATE TABLE IF NOT EXISTS inv_clients (
    client_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
