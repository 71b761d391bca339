-- Refused attempts are evidence (issue 13): the access log records refused reads and
-- refused commands that name a client (outcome "refused" and the refusal code; see
-- carerecord/access_log.py). The index keeps the code (NULL: the read was shown - every
-- record written before this existed), and the usage figures count refused attempts per
-- month by caller and code. Counts and codes only.
ALTER TABLE ai_accesses ADD COLUMN refusal TEXT;
CREATE INDEX IF NOT EXISTS ai_refusal_idx ON ai_accesses (refusal, at, position);
CREATE TABLE IF NOT EXISTS ua_refusals (
    month TEXT NOT NULL,
    agency_id TEXT NOT NULL,
    profession TEXT NOT NULL,
    practitioner_id TEXT NOT NULL,
    viewer_kind TEXT NOT NULL,
    refusal TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    PRIMARY KEY (month, agency_id, profession, practitioner_id, viewer_kind, refusal)
);
