-- The audience feed in chunks: one row per (audience, run of consecutive items) holding
-- the items as a JSON array of [seq, position, client_no, kind, entry_no, subject],
-- instead of one row per item. A change reaches about five audiences, so one row per
-- item was five million rows for a million events (most of a rebuild's writes). Items
-- keep their per-audience sequence numbers (the consumers' cursors); a chunk holds at
-- most 256 of them and is found by its last one. The views are rebuilt from the log:
-- their tables are emptied and the projection's tracking position reset.
DROP TABLE IF EXISTS av_feed;
CREATE TABLE av_feed (
    audience_id INTEGER NOT NULL,
    last_seq BIGINT NOT NULL,
    first_seq BIGINT NOT NULL,
    items BLOB NOT NULL,
    PRIMARY KEY (audience_id, last_seq)
) WITHOUT ROWID;
DELETE FROM av_visible;
DELETE FROM av_entries;
DELETE FROM av_relationships;
DELETE FROM av_client_audiences;
DELETE FROM av_clients;
DELETE FROM av_audiences;
DELETE FROM av_state;
DELETE FROM projection_tracking WHERE name = 'audience_views';
