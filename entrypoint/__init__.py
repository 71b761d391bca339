"""The composition root: where the command line is put together from every layer.

``carerecord`` (the domain), ``projections`` (the read side) and ``api`` each
register their own commands; only this package may import all three, so none of
them has to reach up into a layer above it. ``[project.scripts] carerecord``
points at ``entrypoint.cli:main``.
"""
