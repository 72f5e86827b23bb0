"""`agent-tracker log`: the latest captured events, newest first.

Two sources, each read without changing anything:

- **pending**: every event in the journal that no flush has applied yet (tool calls,
  commands, session events, commits, grades), as captured;
- **flushed**: what the database keeps of an event once applied. Commits and grades are
  facts with their time, setup and project, and are listed one by one; tool calls, commands
  and session events are only counted, per day, setup and project (`usage:` facts), so they
  are not listed once flushed (`LogResult.counted_only` says so; `report` shows the counts).

The newest `limit` of each source are kept while streaming (a heap), so memory follows the
limit, not the size of the journal or the database.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from agent_tracker import events, models
from agent_tracker.config import Settings
from agent_tracker.journal import Journal

#: What an entry shows beyond its setup and project, per type.
_DETAIL = {
    "tool": ("name", "ok"),
    "command": ("name", "ok"),
    "session": ("name",),
    "commit": ("hash", "subject", "source", "files", "insertions", "deletions"),
    "grade": ("hash", "by", "grade", "note"),
}
DEFAULT_LIMIT = 20


@dataclass
class Entry:
    ts: float
    state: str  # "pending" or "flushed"
    type: str  # tool, command, session, commit, grade
    harness: str
    agent: str
    model: str
    project: str
    session: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "state": self.state,
            "type": self.type,
            "harness": self.harness,
            "agent": self.agent,
            "model": self.model,
            "project": self.project,
            "session": self.session,
            **self.detail,
        }


@dataclass
class LogResult:
    entries: list[Entry]
    pending_only: bool
    #: Whether the database exists (flushed entries can be shown).
    database: bool
    #: Flushed tool calls, commands and session events are kept as counts only.
    counted_only: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "pending_only": self.pending_only,
            "database": self.database,
            "events": [entry.as_dict() for entry in self.entries],
        }


def _entry(record: dict[str, Any], state: str, kind: str) -> Entry:
    detail = {key: record[key] for key in _DETAIL.get(kind, ()) if record.get(key) is not None}
    return Entry(
        ts=float(record["ts"]),
        state=state,
        type=kind,
        harness=str(record.get("harness", events.UNKNOWN)),
        agent=str(record.get("agent", events.UNKNOWN)),
        model=models.normalise(record.get("model")) or events.UNKNOWN,
        project=str(record.get("project", "")),
        session=record.get("session") if isinstance(record.get("session"), str) else None,
        detail=detail,
    )


def _newest(entries: Iterable[Entry], limit: int) -> list[Entry]:
    # A counter breaks ties, so that entries are never compared with each other.
    counter = itertools.count()
    keyed = ((entry.ts, next(counter), entry) for entry in entries)
    return [entry for _, _, entry in heapq.nlargest(limit, keyed)]


def _pending(journal: Journal, applied: Any, commits: dict[str, Entry]) -> Iterator[Entry]:
    """The pending events; the pending commits are also noted in `commits` by hash."""
    for event in journal.pending_events(applied):
        entry = _entry(event, "pending", event["type"])
        if entry.type == "commit":
            commits[str(entry.detail.get("hash"))] = entry
        yield entry


def _grades_for_their_commits(entries: list[Entry], commits: dict[str, Entry], db: Any) -> None:
    """A pending grade counts for the setup of the commit it grades, which the flush looks
    up: show that setup (from a pending commit, else the stored one), as the flush will."""
    from agent_tracker.keys import commit_key

    for entry in entries:
        if entry.type != "grade" or entry.state != "pending":
            continue
        commit_hash = str(entry.detail.get("hash"))
        made: Any = commits.get(commit_hash)
        if made is None and db is not None:
            stored = db.get(commit_key(events.project_id(entry.project), commit_hash))
            made = _entry(stored, "flushed", "commit") if isinstance(stored, dict) else None
        if made is not None:
            entry.harness, entry.agent, entry.model = made.harness, made.agent, made.model


def _flushed(db: Any) -> Iterator[Entry]:
    for _, fact in db.scan("commit:"):
        yield _entry(fact, "flushed", "commit")
    for _, fact in db.scan("communication:"):
        yield _entry(fact, "flushed", "grade")


def latest(settings: Settings, limit: int = DEFAULT_LIMIT, pending_only: bool = False) -> LogResult:
    """The newest `limit` events, pending and (unless `pending_only`) flushed."""
    from agent_tracker.store import LMDBDatabase

    journal = Journal(settings.journal_dir)
    commits: dict[str, Entry] = {}
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    if db is None:
        found = _newest(_pending(journal, None, commits), limit)
        _grades_for_their_commits(found, commits, None)
        return LogResult(found, pending_only, database=False)
    with db:
        found = _newest(_pending(journal, db.is_applied, commits), limit)
        _grades_for_their_commits(found, commits, db)
        if not pending_only:
            found = _newest([*found, *_newest(_flushed(db), limit)], limit)
    return LogResult(found, pending_only, database=True)
