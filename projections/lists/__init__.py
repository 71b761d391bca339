"""The indexes and lists: directory, involvement, caseloads, referrals, concerns.

The projections (one module each), their readers (``readers``), the list reads a
caller makes (``reads``) and what they return (``results``, ``record`` for a read
of one client, ``overview``). The reads filter audience views, so this package
imports ``audience``; it never imports ``feed`` or ``audit``.
"""
