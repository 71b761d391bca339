"""Audit and governance: prove the logs are intact, and replay what anyone was shown.

- ``chains``: streaming verification of the hash-chained event log and access log,
  reporting the first broken link precisely (``verify.verify_logs`` runs it with the
  signed checkpoints);
- ``checkpoints``: Ed25519-signed checkpoints of each log's head (``checkpoint_if_due``
  is what long-running processes call periodically);
- ``reconstruct``: time travel - a client's record as of a past time, and the exact
  replay of a recorded read, compared by hash with what the access log recorded;
- ``cli``: ``carerecord audit verify | checkpoint | reconstruct | as-of``.

Nothing here prints or logs clinical text: reports carry positions, ids, versions,
categories and hashes only.
"""
