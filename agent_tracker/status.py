"""What `agent-tracker status` reports: paths, pending events, database use vs its limit."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from agent_tracker import migrate
from agent_tracker.config import Settings
from agent_tracker.journal import Journal
from agent_tracker.store import LMDBDatabase


@dataclass
class Status:
    config_path: str
    config_exists: bool
    database_path: str
    database_exists: bool
    journal_dir: str
    pending_events: int
    pending_segments: int
    quarantined_lines: int
    max_database_size: int
    used_bytes: int
    entries: int
    setups: int
    per_project_database: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def collect(settings: Settings, folder: str | None = None) -> Status:
    """Read-only. With `folder`, also look for a per-project database left there."""
    journal = Journal(settings.journal_dir)
    used = entries = setups = 0
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    if db is None:
        pending = journal.pending_count()
    else:
        with db:
            stats = db.stats()
            used, entries = stats["used_bytes"], stats["entries"]
            setups = len(db.agents())
            pending = journal.pending_count(db.is_applied)
    return Status(
        config_path=str(settings.config_path),
        config_exists=settings.config_path.exists(),
        database_path=str(settings.database_path),
        database_exists=db is not None,
        journal_dir=str(settings.journal_dir),
        pending_events=pending,
        pending_segments=len(journal.segments()),
        quarantined_lines=journal.quarantined_count(),
        max_database_size=settings.max_database_size,
        used_bytes=used,
        entries=entries,
        setups=setups,
        per_project_database=None if folder is None else migrate.pending_source(settings, folder),
    )
