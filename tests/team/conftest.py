"""The real PostgreSQL server fixtures (tests/pgserver.py) for every test of the team pool.

The folder is a package (`team.conftest`), like tests/faults, so that this conftest and the
one in `tests/` do not shadow each other.
"""

from __future__ import annotations

from pgserver import pg_server, pg_url  # noqa: F401 - fixtures, found by pytest by name
