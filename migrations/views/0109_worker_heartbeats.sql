-- Heartbeats of the long-running projection runners (projections/heartbeat.py): one row
-- per runner (worker process or in-process thread), updated every few seconds even when
-- idle, so that /readyz can tell a live worker from a dead or stuck one while the views
-- are behind the log. Times are seconds since the epoch by the database's own clock
-- (PostgreSQL: the server's; SQLite: this host's), so hosts' clocks need not agree.
CREATE TABLE IF NOT EXISTS worker_heartbeats (
    worker_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    position BIGINT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    seen_at DOUBLE PRECISION NOT NULL,
    advanced_at DOUBLE PRECISION NOT NULL
);
