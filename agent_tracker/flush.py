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
from pathlib import Path
from typing import Any

from agent_tracker import events, migrate, totals
from agent_tracker.config import Settings
from agent_tracker.journal import SEGMENT_PREFIX, BadLine, Journal
from agent_tracker.keys import (
    agent_key,
    commit_key,
    communication_key,
    day_key,
    project_key,
    replaced_key,
    segment_key,
    usage_key,
)
from agent_tracker.migrate import SourceResult
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
    migrations: list[SourceResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = dict(vars(self))
        data["migrations"] = [m.as_dict() for m in self.migrations]
        return data


def flush(
    settings: Settings, folder: str | None = None, merge_limit: int | None = None
) -> FlushResult:
    """Apply every pending journal event to the database in one transaction.

    With `folder` (the CLI passes the working folder, which for the pre-push hook is the
    repository), a per-project database left there by an older tool is merged afterwards,
    even when nothing was pending; larger than `merge_limit` bytes, it is left for an
    explicit `migrate`. A failure to merge never undoes or stops the flush.
    """
    journal = Journal(settings.journal_dir)
    lock_fd = journal.try_lock_flush()
    if lock_fd is None:
        return FlushResult(busy=True)
    try:
        result = _flush_journal(settings, journal)
        if folder is not None:
            # After the journal: a slow or killed merge must not keep events pending.
            result.migrations = migrate.auto_merge(settings, folder, merge_limit)
        return result
    finally:
        os.close(lock_fd)


def _flush_journal(settings: Settings, journal: Journal) -> FlushResult:
    journal.rotate()
    segments = journal.segments()
    result = FlushResult(segments=len(segments))
    if segments:
        latest: dict[str, list[Any]] = {}
        with LMDBDatabase.open_write(settings.database_path, settings.max_database_size) as db:
            dbid = db.dbid
            with db.batch() as batch:
                _forget_deleted_segments(batch, journal)
                for segment in segments:
                    _apply_segment(batch, journal, segment, dbid, result, latest)
                drop_empty_days(batch)
            result.puts = db.puts
        for segment in segments:
            segment.unlink(missing_ok=True)
        journal.remember_setups(latest)
    return result


def _apply_segment(
    batch: WriteBatch,
    journal: Journal,
    segment: Path,
    dbid: str,
    result: FlushResult,
    latest: dict[str, list[Any]],
) -> None:
    sid = journal.segment_id(segment)
    if batch.has(segment_key(sid)):
        result.skipped_segments += 1  # applied by a flush that died before deleting it
        return
    # One segment in memory at a time; all of them in one transaction.
    bad: list[BadLine] = []
    applier = Applier(batch, dbid, latest)
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
            "journal": journal.folder,
            "events": applier.applied + applier.duplicates,
            "quarantined": len(bad),
        },
    )


def drop_empty_days(batch: WriteBatch) -> None:
    """Delete day records left with nothing in them (their grades or commit moved away), as
    a rebuild from the facts would not have them either."""
    for key, value in batch.changes().items():
        if key.startswith("day:") and value is not None and totals.is_empty_day(value):
            batch.delete(key)


def _forget_deleted_segments(batch: WriteBatch, journal: Journal) -> None:
    """Drop the markers of this journal's segments whose files are gone.

    A marker only guards a segment file that still exists (a flush died between its commit
    and the delete); once the file is gone, nothing can apply it again. Without this, the
    database would keep one key per flush forever.
    """
    for key, marker in batch.scan("meta:segment:"):
        name = f"{SEGMENT_PREFIX}{key.removeprefix('meta:segment:')}.jsonl"
        if marker.get("journal") == journal.folder and not (journal.dir / name).exists():
            batch.delete(key)


class Applier:
    """Applies decoded events to a `WriteBatch`: facts and derived totals together."""

    def __init__(
        self, batch: WriteBatch, dbid: str, latest: dict[str, list[Any]] | None = None
    ) -> None:
        self.batch = batch
        self.dbid = dbid
        #: project -> [ts, harness, agent, model] of its newest tool call or command
        self.latest: dict[str, list[Any]] = {} if latest is None else latest
        self.applied = 0
        self.duplicates = 0
        self.by_type: dict[str, int] = {}

    def apply(self, evts: Iterable[dict[str, Any]]) -> None:
        # Tool calls and commands (nearly all events) are only counted here, keyed by their
        # raw strings; ids, days and records are worked out once per distinct key below.
        counts: dict[tuple[str, str, str, str, int], list[Any]] = {}
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
                    slot = counts[key] = [0, 0, 0.0]
                slot[kind == "command"] += 1
                if event["ts"] > slot[2]:  # noqa: PLR1730 - cheaper than max() per event
                    slot[2] = event["ts"]
            elif kind == "commit":
                self._count("commit")
                self._commit(event)
            else:
                self._count("grade")
                self._grade(event)
        for (project, harness, agent, model, day_number), slot in counts.items():
            tools, commands, newest = slot
            seen = self.latest.get(project)
            if events.UNKNOWN not in (agent, model) and (seen is None or newest > seen[0]):
                self.latest[project] = [newest, harness, agent, model]
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

    def _day(self, fact: dict[str, Any], day: str) -> dict[str, Any]:
        sid = events.setup_id(fact["harness"], fact["agent"], fact["model"])
        key = day_key(day, sid, events.project_id(fact["project"]))
        cell = self.batch.get(key)
        if cell is None:
            made = (fact["harness"], fact["agent"], fact["model"], fact["project"], day)
            cell = totals.day_record(*made)
        self.batch.set(key, cell)
        return cell  # type: ignore[no-any-return]

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
        totals.add_day_usage(self._day(slot, day), slot["tool_calls"], slot["commands"])

    def _commit(self, event: dict[str, Any]) -> None:
        pid = events.project_id(event["project"])
        key = commit_key(pid, event["hash"])
        if self.batch.has(key) or self.batch.has(replaced_key(pid, event["hash"])):
            self.duplicates += 1  # recorded twice (hook and by hand), or amended since
            return
        fact = {k: event.get(k) for k in _COMMIT_FIELDS}
        exts: dict[str, int] = event.get("exts") or {}
        fact["exts"] = exts
        replaced = event.get("replaces")
        if replaced and self.batch.has(commit_key(pid, replaced)):
            self._drop_commit(pid, replaced, event["hash"])  # leaves its grades uncounted
        else:
            self._account_grades(pid, event["hash"], -1)
        self.batch.set(key, fact)
        day = events.day_of(event["ts"])
        totals.add_commit(self._setup(fact), day)
        totals.add_project_commit(self._project(event["project"]), exts, day)
        totals.add_day_commit(self._day(fact, day), fact["source"] or events.UNKNOWN)
        # Grades applied before their commit was known count for the setup that made it.
        for party in events.PARTIES:
            grade_key = communication_key(pid, event["hash"], party)
            grade = self.batch.get(grade_key)
            if grade is not None and not _same_setup(grade, fact):
                self.batch.set(grade_key, dict(grade, **{k: fact[k] for k in _SETUP_FIELDS}))
        self._account_grades(pid, event["hash"], +1)
        self.applied += 1

    def _drop_commit(self, pid: str, old_hash: str, new_hash: str) -> None:
        """An amended commit replaces the one it amends: one commit, grades carried over."""
        old_key = commit_key(pid, old_hash)
        old = self.batch.get(old_key)
        day = events.day_of(old["ts"])
        self._account_grades(pid, old_hash, -1)
        self._account_grades(pid, new_hash, -1)
        for party in events.PARTIES:
            grade_key = communication_key(pid, old_hash, party)
            grade = self.batch.get(grade_key)
            if grade is not None:
                self.batch.delete(grade_key)
                new_key = communication_key(pid, new_hash, party)
                if self.batch.get(new_key) is None:
                    self.batch.set(new_key, dict(grade, hash=new_hash))
        totals.add_commit(self._setup(old), day, sign=-1)
        exts = old.get("exts") or {}
        totals.add_project_commit(self._project(old["project"]), exts, day, sign=-1)
        source = old.get("source") or events.UNKNOWN
        totals.add_day_commit(self._day(old, day), source, sign=-1)
        self.batch.delete(old_key)
        # A fact of its own: exported and merged like the others, so that no older copy of
        # the amended commit (another database, an older export) can bring it back.
        self.batch.set(
            replaced_key(pid, old_hash),
            {
                "project": old["project"],
                "hash": old_hash,
                "by_hash": new_hash,
                "ts": old["ts"],
                "harness": old["harness"],
                "agent": old["agent"],
                "model": old["model"],
            },
        )

    def _grade(self, event: dict[str, Any]) -> None:
        pid = events.project_id(event["project"])
        key = communication_key(pid, event["hash"], event["by"])
        old = self.batch.get(key)
        if old is not None and old["ts"] > event["ts"]:
            self.duplicates += 1  # an older grade arriving late never replaces a newer one
            return
        # The grade counts for the setup that made the commit, when the commit is known.
        made_by = self.batch.get(commit_key(pid, event["hash"])) or event
        fact = {k: event.get(k) for k in _GRADE_FIELDS}
        fact.update({k: made_by[k] for k in _SETUP_FIELDS})
        self._account_grades(pid, event["hash"], -1)
        self.batch.set(key, fact)
        self._account_grades(pid, event["hash"], +1)
        self.applied += 1

    def _account_grades(self, pid: str, commit_hash: str, sign: int) -> None:
        """Add (+1) or remove (-1) all grades of one commit from the setups they count for.

        Called with -1 before a change to the commit or its grades and +1 after it, so the
        day and setup they counted on are always worked out from the same state.
        """
        grades = [
            grade
            for party in events.PARTIES
            if (grade := self.batch.get(communication_key(pid, commit_hash, party))) is not None
        ]
        if not grades:
            return
        commit = self.batch.get(commit_key(pid, commit_hash))
        on = totals.grade_day(commit, grades)
        by_setup: dict[tuple[str, str, str], list[int]] = {}
        for grade in grades:
            made_by = commit or grade  # the commit's setup when it is known, as in a rebuild
            setup = (made_by["harness"], made_by["agent"], made_by["model"])
            by_setup.setdefault(setup, []).append(grade["grade"])
        project = grades[0]["project"]
        for (harness, agent, model), values in by_setup.items():
            made = {"harness": harness, "agent": agent, "model": model, "project": project}
            totals.add_commit_grades(self._setup(made), values, sign)
            totals.add_day_grades(self._day(made, on), values, sign)


_SETUP_FIELDS = ("harness", "agent", "model")
_COMMIT_FIELDS = (
    "id",
    "ts",
    "project",
    "hash",
    *_SETUP_FIELDS,
    "source",
    "subject",
    "author_time",
    "files",
    "insertions",
    "deletions",
)
_GRADE_FIELDS = ("id", "ts", "project", "hash", "by", "grade", "note")


def _same_setup(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a[k] == b[k] for k in _SETUP_FIELDS)
