-- Tracking positions of the projections writing to this storage area: the log
-- position each has applied, written in the same transaction as its rows. ``error``
-- is set (in its own transaction) when a projection stops, for health checks.
CREATE TABLE IF NOT EXISTS projection_tracking (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    error TEXT,
    failed_at TEXT,
    updated_at TEXT
);
