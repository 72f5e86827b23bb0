"""What `agent-tracker status` reports: paths, pending events, database use vs its limit."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from agent_tracker import models, paths
from agent_tracker.config import Settings
from agent_tracker.journal import Journal
from agent_tracker.sessions import SessionStore
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
    #: Damaged records: set aside by earlier writes (`damaged:` keys), plus any met now.
    damaged_records: int = 0
    #: Per harness, the newest session its hooks reported: harness, session, agent, model,
    #: project and when it was last seen (Unix time).
    harnesses: list[dict[str, Any]] = field(default_factory=list)
    #: The team sync in one line (`team.sync.status_line`), None when no pool is set up.
    team_sync: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def collect(settings: Settings, folder: str | None = None) -> Status:
    """Read-only. With `folder`, also look for a per-project database left there."""
    journal = Journal(settings.journal_dir)
    used = entries = setups = damaged = 0
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    if db is None:
        pending = journal.pending_count()
    else:
        with db:
            stats = db.stats()
            used, entries = stats["used_bytes"], stats["entries"]
            setups = len(db.agents())
            pending = journal.pending_count(db.is_applied)
            damaged = db.set_aside_count() + len(db.damaged)
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
        per_project_database=_pending_source(settings, folder),
        damaged_records=damaged,
        harnesses=last_seen_per_harness(settings),
        team_sync=_team_line(settings),
    )


def _team_line(settings: Settings) -> str | None:
    from agent_tracker.team.sync import status_line

    return status_line(settings)


def last_seen_per_harness(settings: Settings) -> list[dict[str, Any]]:
    """The newest session each harness reported through `agent-tracker hook`, so a person
    can check that an integration works and records the model they expect."""
    newest: dict[str, dict[str, Any]] = {}
    for state in SessionStore(settings.journal_folder).all():
        harness, seen = state.get("harness"), state.get("seen")
        if not isinstance(harness, str) or not isinstance(seen, int | float):
            continue
        if harness not in newest or seen > newest[harness]["seen"]:
            newest[harness] = {
                "harness": harness,
                "session": state.get("session"),
                "agent": state.get("agent") or "unknown",
                "model": models.normalise(state.get("model")) or "unknown",
                "project": state.get("project"),
                "seen": seen,
            }
    return sorted(newest.values(), key=lambda item: item["harness"])


def _pending_source(settings: Settings, folder: str | None) -> str | None:
    """An older tool's per-project database waiting in `folder`; the merging code is loaded
    only when something sits where it would be."""
    if folder is None or not paths.may_hold_legacy_database(folder):
        return None
    from agent_tracker import migrate

    return migrate.pending_source(settings, folder)
