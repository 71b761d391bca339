-- Caseloads: active care relationships by practitioner and by team, with the
-- client's name for the list (only ever shown to the practitioner or team member).
CREATE TABLE IF NOT EXISTS cl_clients (
    client_id TEXT PRIMARY KEY,
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    date_of_birth TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cl_relationships (
    relationship_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    agency_id TEXT NOT NULL,
    practitioner_id TEXT,
    team_id TEXT,
    since TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cl_practitioner_idx ON cl_relationships (practitioner_id, client_id);
CREATE INDEX IF NOT EXISTS cl_team_idx ON cl_relationships (agency_id, team_id, client_id);
CREATE INDEX IF NOT EXISTS cl_client_idx ON cl_relationships (client_id);
