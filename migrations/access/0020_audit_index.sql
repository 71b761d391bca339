-- The access audit index and the read-side usage figures: projections over the access
-- log (projections/audit_index.py, projections/audit_usage.py), rebuildable from it.
-- Times are UTC ISO-8601 text (sortable); months are 'YYYY-MM'.
--
-- The projections writing to this area keep their tracking positions here (on
-- PostgreSQL this is the same table as the views area's; names are unique).
CREATE TABLE IF NOT EXISTS projection_tracking (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    error TEXT,
    failed_at TEXT,
    updated_at TEXT
);
-- One row per access record: who, for which client, when, why (purpose, the record's
-- basis and the bases of the entries it returned), and whose entries it returned.
CREATE TABLE IF NOT EXISTS ai_accesses (
    position BIGINT PRIMARY KEY,
    access_id TEXT NOT NULL UNIQUE,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    viewer_kind TEXT NOT NULL,
    practitioner_id TEXT,
    agency_id TEXT,
    profession TEXT,
    roles TEXT NOT NULL,
    purpose TEXT NOT NULL,
    basis TEXT NOT NULL,
    client_id TEXT,
    grant_id TEXT,
    request_id TEXT NOT NULL,
    item_count INTEGER NOT NULL,
    entry_bases TEXT NOT NULL,
    source_agencies TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ai_client_idx ON ai_accesses (client_id, at, position);
CREATE INDEX IF NOT EXISTS ai_practitioner_idx ON ai_accesses (practitioner_id, at, position);
CREATE INDEX IF NOT EXISTS ai_agency_idx ON ai_accesses (agency_id, at, position);
CREATE INDEX IF NOT EXISTS ai_at_idx ON ai_accesses (at, position);
CREATE INDEX IF NOT EXISTS ai_grant_idx ON ai_accesses (grant_id, position);
-- Every basis an access rests on (the record's, and each returned entry's), for "by basis".
CREATE TABLE IF NOT EXISTS ai_bases (
    basis TEXT NOT NULL,
    at TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (basis, at, position)
);
-- Reads per month by the reader's agency, profession, kind and purpose (counts only).
CREATE TABLE IF NOT EXISTS ua_reads (
    month TEXT NOT NULL,
    agency_id TEXT NOT NULL,
    profession TEXT NOT NULL,
    viewer_kind TEXT NOT NULL,
    purpose TEXT NOT NULL,
    reads BIGINT NOT NULL,
    items BIGINT NOT NULL,
    PRIMARY KEY (month, agency_id, profession, viewer_kind, purpose)
);
-- Cross-agency flow: entries contributed by one agency returned to readers of another.
CREATE TABLE IF NOT EXISTS ua_flow (
    month TEXT NOT NULL,
    source_agency TEXT NOT NULL,
    reader_kind TEXT NOT NULL,
    reader_agency TEXT NOT NULL,
    reads BIGINT NOT NULL,
    items BIGINT NOT NULL,
    PRIMARY KEY (month, source_agency, reader_kind, reader_agency)
);
