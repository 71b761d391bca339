"""Read models built from the care record's events, and the reads over them.

Subpackages, lowest first (each imports only the ones below it; import-linter
checks this, see ``[tool.importlinter]`` in pyproject.toml):

- ``engine``: the machinery every view shares (the runner, tracking, rows, readers'
  base, heartbeats, settings, the access records reads write);
- ``audience``: the per-audience curated views and the feed they append to;
- ``lists``: the indexes and lists (directory, involvement, caseload, referrals,
  concerns) and what a read of a client returns;
- ``audit``: the governance views over the access log and the event log, and the
  services and commands that read them;
- ``feed``: the agency feed read over the audience views.

On top sit the composition modules: ``registry`` (which views exist),
``rebuild``, ``repository`` (the only way to read the views as a caller) and
``cli``.
"""
