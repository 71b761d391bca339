"""The domain's commands (``core``: migrate, ...; ``demo``), each with ``register(app)``.

The ``carerecord`` app itself is composed in ``entrypoint.cli``, which may import
every layer; this package imports only ``carerecord``.
"""
