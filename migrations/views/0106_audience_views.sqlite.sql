-- Audience views (curated slices) and the audience feed.
--
-- Entry content is stored once per client (av_entries); what each audience may
-- see is a row per (client, audience, entry) in av_visible, decided by the sharing
-- policy at projection time. Clients and entries have compact numbers (client_no:
-- in order of registration; entry_no: the stream version that created the entry).
-- av_state keeps the projection's own copy of what it decides with (directory,
-- protocol); it never reads the write model.
CREATE TABLE IF NOT EXISTS av_audiences (
    audience_id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    feed_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS av_clients (
    client_no INTEGER PRIMARY KEY,
    client_id TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    state BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS av_client_audiences (
    client_no INTEGER NOT NULL,
    audience_id INTEGER NOT NULL,
    PRIMARY KEY (client_no, audience_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS av_relationships (
    relationship_id TEXT PRIMARY KEY,
    client_no INTEGER NOT NULL,
    agency_id TEXT NOT NULL,
    practitioner_id TEXT,
    team_id TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS av_relationships_practitioner_idx
    ON av_relationships (practitioner_id, client_no);
CREATE INDEX IF NOT EXISTS av_relationships_team_idx
    ON av_relationships (agency_id, team_id, client_no);
CREATE TABLE IF NOT EXISTS av_entries (
    client_no INTEGER NOT NULL,
    entry_no INTEGER NOT NULL,
    entry_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL,
    agency_id TEXT NOT NULL,
    sector TEXT NOT NULL,
    author_id TEXT NOT NULL,
    profession TEXT NOT NULL,
    category TEXT NOT NULL,
    heading TEXT NOT NULL,
    sensitivity TEXT NOT NULL,
    lawful_basis TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    exemption TEXT,
    recorded_at TEXT NOT NULL,
    text TEXT NOT NULL,
    amended INTEGER NOT NULL,
    amended_at TEXT,
    in_error INTEGER NOT NULL,
    alert_kind TEXT,
    severity TEXT,
    resolved INTEGER NOT NULL,
    PRIMARY KEY (client_no, entry_no)
);
CREATE UNIQUE INDEX IF NOT EXISTS av_entries_id_idx ON av_entries (client_no, entry_id);
CREATE TABLE IF NOT EXISTS av_visible (
    client_no INTEGER NOT NULL,
    audience_id INTEGER NOT NULL,
    entry_no INTEGER NOT NULL,
    PRIMARY KEY (client_no, audience_id, entry_no)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS av_feed (
    audience_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    position INTEGER NOT NULL,
    client_no INTEGER NOT NULL,
    kind TEXT NOT NULL,
    entry_no INTEGER,
    subject TEXT,
    PRIMARY KEY (audience_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS av_state (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
