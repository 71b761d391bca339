"""The audience views: each client's entries curated per audience, and the feed.

An audience is every caller with the same policy inputs (``keys``: the
``AudienceKey`` and which audiences a client has). The fold (``fold``, ``core``)
decides each entry once per audience at projection time; ``store`` persists it,
``views`` is the projection, ``reader`` reads it back. The heaviest fold, so it
lives apart from the other views and imports only the engine.
"""
