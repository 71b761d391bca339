-- Audience views: one row per (client, audience) holding the entry numbers the audience
-- may see (sorted unsigned 32-bit little-endian integers), instead of one row per entry.
-- The views are rebuilt from the log: their tables are emptied and the projection's
-- tracking position reset, so the next worker run re-projects them.
DROP TABLE IF EXISTS av_visible;
CREATE TABLE av_visible (
    client_no INTEGER NOT NULL,
    audience_id INTEGER NOT NULL,
    entries BLOB NOT NULL,
    PRIMARY KEY (client_no, audience_id)
) WITHOUT ROWID;
DELETE FROM av_feed;
DELETE FROM av_entries;
DELETE FROM av_relationships;
DELETE FROM av_client_audiences;
DELETE FROM av_clients;
DELETE FROM av_audiences;
DELETE FROM av_state;
DELETE FROM projection_tracking WHERE name = 'audience_views';
