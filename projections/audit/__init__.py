"""Governance: views over the access log and the event log, and who may read them.

The access audit index (``index``), break-glass reviews (``break_glass``), usage
figures (``usage``), a client's own access history (``client``), the runner
wiring over the access log (``registry``, ``settings``), the services that check
an auditor's role before reading (``governance``) and the operator's commands
(``cli``). Independent of the audience views and the feed.
"""
