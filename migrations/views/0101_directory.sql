-- Directory: agencies and practitioners with their contact details (for the
-- involvement index and caseloads). Roles and teams are space-separated codes.
CREATE TABLE IF NOT EXISTS dir_agencies (
    agency_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    sector TEXT NOT NULL,
    local_authority_area TEXT NOT NULL,
    phone TEXT NOT NULL,
    email TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dir_practitioners (
    practitioner_id TEXT PRIMARY KEY,
    agency_id TEXT NOT NULL,
    profession TEXT NOT NULL,
    name TEXT NOT NULL,
    roles TEXT NOT NULL,
    teams TEXT NOT NULL,
    phone TEXT NOT NULL,
    email TEXT NOT NULL,
    active INTEGER NOT NULL
);
