-- The access log: one record per read that returned a client's data (who saw what,
-- when, why), hash-chained globally and per client. Append-only.
CREATE TABLE IF NOT EXISTS access_log (
    position INTEGER PRIMARY KEY,
    access_id TEXT NOT NULL UNIQUE,
    at TEXT NOT NULL,
    request_id TEXT NOT NULL,
    action TEXT NOT NULL,
    viewer_kind TEXT NOT NULL,
    practitioner_id TEXT,
    agency_id TEXT,
    profession TEXT,
    purpose TEXT NOT NULL,
    basis TEXT NOT NULL,
    client_id TEXT,
    client_seq INTEGER NOT NULL,
    response_hash TEXT NOT NULL,
    record BLOB NOT NULL,
    stream_prev_hash BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS access_log_client_idx ON access_log (client_id, client_seq);
CREATE INDEX IF NOT EXISTS access_log_practitioner_idx ON access_log (practitioner_id, position);
