"""The central database as text keys and JSON values, whatever its on-disk format.

Tests compare and filter records by their text keys (`b"day:"`, `b"commit:"`); format 3
stores commits and grades packed (see `agent_tracker.keys`), so a raw cursor no longer shows
them that way. `db_entries` reads every record through the store's codec instead.
"""

from __future__ import annotations

from agent_tracker import config


def db_entries(settings: config.Settings) -> dict[bytes, bytes]:
    """Every key and value of the central database, read-only, as text key and JSON."""
    from agent_tracker.store import LMDBDatabase

    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    assert db is not None
    with db:
        return {key.encode(): raw for key, raw in db.entries()}
