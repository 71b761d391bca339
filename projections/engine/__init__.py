"""The projection engine: what every view is built and read with.

The ``Projection`` protocol and tracking positions (``framework``), the batched
runner and its log sources (``runner``), the ``LISTEN`` waker, worker heartbeats,
row helpers and the readers' base classes, the read-side settings and errors, and
the access record a read writes (``access``). Nothing here knows a particular view,
so every other subpackage may import it and it imports none of them.
"""
