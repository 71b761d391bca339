"""Fixtures of the API tests: a migrated store per module and backend, the live server.

They live in ``api_stack`` with the helpers the tests import (``Stack``, ``gql_execute``...),
so test modules import them from a uniquely named module rather than from ``conftest``
(several directories have a ``conftest``; which one that name meant depended on how pytest
was invoked).
"""

from api_stack import stack, store

__all__ = ["stack", "store"]
