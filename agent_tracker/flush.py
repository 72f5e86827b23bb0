"""Applying the journal to the database, exactly once.

1. Take the flush lock without waiting; if another flush holds it, report "busy" (exit 0),
   so `git push` never hangs behind a flush.
2. Rotate the live journal into a pending segment (appenders carry on into a fresh file).
3. In ONE write transaction: for each pending segment whose id is not yet recorded, apply its
   events and record its id; skip segments already recorded.
4. After the commit, delete the segments.

A kill before step 3 commits leaves the segments pending; a kill after it leaves segments
whose ids are recorded, which the next flush deletes without applying. Either way every event
is applied exactly once. Lines that cannot be applied go to the quarantine (written before
the commit, under a name derived from the segment, so a retry rewrites rather than repeats).

Within the transaction, tool calls and commands are first summed per (project, setup, day),
and every record is read once and written once (`store.WriteBatch`), so a thousand updates of
one setup cost one put.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agent_tracker import events, totals
from agent_tracker.config import Settings
from agent_tracker.journal import BadLine, Journal
from agent_tracker.keys import (
    agent_key,
    commit_key,
    communication_key,
    project_key,
    segment_key,
    usage_key,
)
from agent_tracker.store import LMDBDatabase, WriteBatch


@dataclass
class FlushResult:
    busy: bool = False
    segments: int = 0
    skipped_segments: int = 0
    applied: int = 0
    duplicates: int = 0
    quarantined: int = 0
    puts: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


def flush(settings: Settings) -> FlushResult:
    """Apply every pending journal event to the database in one transaction."""
    journal = Journal(settings.journal_dir)
    lock_fd = journal.try_lock_flush()
    if lock_fd is None:
        return FlushResult(busy=True)
    try:
        journal.rotate()
        segments = journal.segments()
        result = FlushResult(segments=len(segments))
        if not segments:
            return result
        with LMDBDatabase.open_write(settings.database_path, settings.max_database_size) as db:
            dbid = db.dbid
            with db.batch() as batch:
                for segment in segments:
                    sid = journal.segment_id(segment)
                    if batch.has(segment_key(sid)):
                        result.skipped_segments += 1
                        continue
                    # One segment in memory at a time; all of them in one transaction.
                    bad: list[BadLine] = []
                    applier = Applier(batch, dbid)
                    applier.apply(journal.scan(segment, bad))
                    result.applied += applier.applied
                    result.duplicates += applier.duplicates
                    for kind, count in applier.by_type.items():
                        result.by_type[kind] = result.by_type.get(kind, 0) + count
                    if bad:
                        journal.write_quarantine(sid, bad)
                        result.quarantined += len(bad)
                    batch.set(
                        segment_key(sid),
                        {
                            "applied_at": round(time.time(), 3),
                            "events": applier.applied + applier.duplicates,
                            "quarantined": len(bad),
                        },
                    )
            result.puts = db.puts
        for segment in segments:
            segment.unlink(missing_ok=True)
        return result
    finally:
        os.close(lock_fd)


class Applier:
    """Applies decoded events to a `WriteBatch`: facts and derived totals together."""

    def __init__(self, batch: WriteBatch, dbid: str) -> None:
        self.batch = batch
        self.dbid = dbid
        self.applied = 0
        self.duplicates = 0
        self.by_type: dict[str, int] = {}

    def apply(self, evts: Iterable[dict[str, Any]]) -> None:
        # Tool calls and commands (nearly all events) are only counted here, keyed by their
        # raw strings; ids, days and records are worked out once per distinct key below.
        counts: dict[tuple[str, str, str, str, int], list[int]] = {}
        for event in evts:
            kind = event["type"]
            if kind == "tool" or kind == "command":  # noqa: PLR1714 - faster than `in` here
                key = (
                    event["project"],
                    event["harness"],
                    event["agent"],
                    event["model"],
                    int(event["ts"] // 86400),
                )
                slot = counts.get(key)
                if slot is None:
                    slot = counts[key] = [0, 0]
                slot[kind == "command"] += 1
            elif kind == "commit":
                self._count("commit")
                self._commit(event)
            else:
                self._count("grade")
                self._grade(event)
        for (project, harness, agent, model, day_number), (tools, commands) in counts.items():
            usage = {
                "project": project,
                "harness": harness,
                "agent": agent,
                "model": model,
                "day": events.day_of(day_number * 86400),
                "tool_calls": tools,
                "commands": commands,
            }
            self._usage(usage)
            self.applied += tools + commands
            for kind, count in (("tool", tools), ("command", commands)):
                if count:
                    self._count(kind, count)

    def _count(self, kind: str, count: int = 1) -> None:
        self.by_type[kind] = self.by_type.get(kind, 0) + count

    # -- records ---------------------------------------------------------------------------

    def _setup(self, fact: dict[str, Any]) -> dict[str, Any]:
        key = agent_key(events.setup_id(fact["harness"], fact["agent"], fact["model"]))
        record = self.batch.get(key)
        if record is None:
            record = totals.setup_record(fact["harness"], fact["agent"], fact["model"])
        self.batch.set(key, record)
        return record  # type: ignore[no-any-return]

    def _project(self, project: str) -> dict[str, Any]:
        key = project_key(events.project_id(project))
        record = self.batch.get(key)
        if record is None:
            record = totals.project_record(project)
        self.batch.set(key, record)
        return record  # type: ignore[no-any-return]

    def _usage(self, slot: dict[str, Any]) -> None:
        pid = events.project_id(slot["project"])
        sid = events.setup_id(slot["harness"], slot["agent"], slot["model"])
        day = slot["day"]
        key = usage_key(self.dbid, pid, sid, day)
        fact = self.batch.get(key)
        if fact is None:
            fact = dict(slot, tool_calls=0, commands=0)
        fact["tool_calls"] += slot["tool_calls"]
        fact["commands"] += slot["commands"]
        self.batch.set(key, fact)
        totals.add_usage(self._setup(slot), slot["tool_calls"], slot["commands"], day)
        totals.add_project_usage(self._project(slot["project"]), day)

    def _commit(self, event: dict[str, Any]) -> None:
        key = commit_key(events.project_id(event["project"]), event["hash"])
        if self.batch.has(key):
            self.duplicates += 1  # the same commit recorded twice (hook and by hand)
            return
        fact = {
            k: event.get(k)
            for k in (
                "id",
                "ts",
                "project",
                "hash",
                "harness",
                "agent",
                "model",
                "source",
                "subject",
                "author_time",
                "files",
                "insertions",
                "deletions",
            )
        }
        exts: dict[str, int] = event["exts"] if isinstance(event.get("exts"), dict) else {}
        fact["exts"] = exts
        self.batch.set(key, fact)
        day = events.day_of(event["ts"])
        totals.add_commit(self._setup(fact), day)
        totals.add_project_commit(self._project(event["project"]), exts, day)
        self.applied += 1

    def _grade(self, event: dict[str, Any]) -> None:
        pid = events.project_id(event["project"])
        key = communication_key(pid, event["hash"], event["by"])
        old = self.batch.get(key)
        if old is not None and old["ts"] > event["ts"]:
            self.duplicates += 1  # an older grade arriving late never replaces a newer one
            return
        # The grade counts for the setup that made the commit, when the commit is known.
        made_by = self.batch.get(commit_key(pid, event["hash"])) or event
        fact = {
            "id": event["id"],
            "ts": event["ts"],
            "project": event["project"],
            "hash": event["hash"],
            "by": event["by"],
            "grade": event["grade"],
            "note": event.get("note"),
            "harness": made_by["harness"],
            "agent": made_by["agent"],
            "model": made_by["model"],
        }
        other_party = "user" if event["by"] == "agent" else "agent"
        other = self.batch.get(communication_key(pid, event["hash"], other_party))
        if old is not None:
            totals.change_grade(
                self._setup(old), old["grade"], -1, counts_commit=not _same_setup(other, old)
            )
        totals.change_grade(
            self._setup(fact), fact["grade"], +1, counts_commit=not _same_setup(other, fact)
        )
        self.batch.set(key, fact)
        self.applied += 1


def _same_setup(a: dict[str, Any] | None, b: dict[str, Any]) -> bool:
    return a is not None and all(a[k] == b[k] for k in ("harness", "agent", "model"))
