"""Audit and governance: prove the logs are intact, and replay what anyone was shown.

- ``event_chain`` / ``access_chain`` (types in ``chains``): streaming verification of
  the hash-chained event log and access log, reporting the first broken link
  precisely (``verify.verify_logs`` runs them with the signed checkpoints);
- ``checkpoints``: Ed25519-signed checkpoints of each log's head (``checkpoint_if_due``
  is what long-running processes call periodically);
- ``reconstruct``: time travel - the exact replay of a recorded read, compared by hash
  with what the access log recorded, and a client's record as of a past time
  (``as_of``); both replay the log with ``replay``;
- ``cli``: ``carerecord audit verify | checkpoint | reconstruct | as-of``.

Nothing here prints or logs clinical text: reports carry positions, ids, versions,
categories and hashes only.
"""
