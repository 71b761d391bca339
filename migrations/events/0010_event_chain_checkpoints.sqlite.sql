-- Signed checkpoints of the event log's hash chain: each pins the chain's head (position, hash)
-- at a time with an Ed25519 signature (carerecord/audit/checkpoints.py). Append-only;
-- `carerecord audit verify` checks every signature and that the chain passes through
-- every checkpointed head.
CREATE TABLE IF NOT EXISTS event_chain_checkpoints (
    checkpoint_id TEXT PRIMARY KEY,
    log TEXT NOT NULL,
    position INTEGER NOT NULL,
    head_hash BLOB NOT NULL,
    signed_at TEXT NOT NULL,
    key_id TEXT NOT NULL,
    public_key BLOB NOT NULL,
    signature BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS event_chain_checkpoints_position_idx ON event_chain_checkpoints (position);
