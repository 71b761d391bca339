-- Signed checkpoints of the access log's hash chain: each pins the chain's head (position, hash)
-- at a time with an Ed25519 signature (carerecord/audit/checkpoints.py). Append-only;
-- `carerecord audit verify` checks every signature and that the chain passes through
-- every checkpointed head.
CREATE TABLE IF NOT EXISTS access_log_checkpoints (
    checkpoint_id TEXT PRIMARY KEY,
    log TEXT NOT NULL,
    position BIGINT NOT NULL,
    head_hash BYTEA NOT NULL,
    signed_at TEXT NOT NULL,
    key_id TEXT NOT NULL,
    public_key BYTEA NOT NULL,
    signature BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS access_log_checkpoints_position_idx ON access_log_checkpoints (position);
