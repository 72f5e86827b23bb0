"""Applying the journal to the database, exactly once.

1. Take the flush lock without waiting; if another flush holds it, report "busy" (exit 0),
   so `git push` never hangs behind a flush. Another process holding the database's own
   writer lock is waited for a bounded time (`writelock`), then "database busy" too.
2. Rotate the live journal into a pending segment (appenders carry on into a fresh file).
3. In ONE write transaction: for each pending segment whose id is not yet recorded, apply its
   events and record its id; skip segments already recorded.
4. After the commit, delete the segments, and fsync the folder so that the deletions last:
   a later flush forgets the marker of a segment whose file is gone, and a segment that
   came back after a power loss without its marker would be applied twice. (A flush also
   fsyncs the folder before it forgets markers, for a flush killed before its own fsync.)

A kill before step 3 commits leaves the segments pending; a kill after it leaves segments
whose ids are recorded, which the next flush deletes without applying. Either way every event
is applied exactly once. Lines that cannot be applied go to the quarantine (written before
the commit, under a name derived from the segment, so a retry rewrites rather than repeats).
The markers of the last flush's segments stay until the next flush forgets them: `doctor`
reads the time of the last flush from them (`applied_at`).

Lines of a newer event format (a newer agent-tracker shares the journal) are set aside, never
guessed at: a segment holding nothing else stays pending as it is; otherwise the rest is
applied and, after the commit, those lines become a segment of their own
(`segment-<id>-newer.jsonl`, see `journal`) before the segment goes. Its marker records how
many lines were set aside, so a flush killed in between sets them aside from the segment
again, unless that segment was applied already (by a newer flush).

How events change facts and totals is `applier`'s business: within the transaction, events
are summed per (project, setup, day, session, instructions), and every record is read once and
written once (`store.WriteBatch`), so a thousand updates of one setup cost one put.

After the commit, the hashes of the commits applied are added to `recorded`'s file in the
journal folder (seeded with every stored commit the first time), so that `grade` can tell,
without opening the database, that the commit it grades was never recorded.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_tracker import fsio, migrate, recorded
from agent_tracker.applier import Applier, drop_empty_days
from agent_tracker.config import Settings
from agent_tracker.errors import DatabaseBusyError
from agent_tracker.journal import NEWER_SUFFIX, SEGMENT_PREFIX, BadLine, Journal
from agent_tracker.keys import segment_key
from agent_tracker.migrate import SourceResult
from agent_tracker.store import LMDBDatabase, WriteBatch
from agent_tracker.words import plural

__all__ = ["Applier", "FlushResult", "drop_empty_days", "flush"]


@dataclass
class FlushResult:
    busy: bool = False
    #: Why the flush was busy, when it was not another flush ("database busy: ...").
    message: str = ""
    segments: int = 0
    skipped_segments: int = 0
    applied: int = 0
    duplicates: int = 0
    quarantined: int = 0
    #: Lines of a newer event format, left pending for a newer agent-tracker.
    newer: int = 0
    #: The files that hold them (pending segments).
    newer_files: list[str] = field(default_factory=list)
    puts: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    migrations: list[SourceResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = dict(vars(self))
        data["migrations"] = [m.as_dict() for m in self.migrations]
        return data

    def summary_lines(self) -> list[str]:
        """What `flush` tells a person, line by line, as plain text (names unescaped: the
        printer escapes them for where they go)."""
        lines = [m.summary() for m in self.migrations if m.status != "unchanged"]
        if self.busy:
            lines.append(
                self.message or "busy: another flush is running; its events will be applied by it"
            )
            return lines
        if self.segments == 0:
            return [*lines, "nothing to flush"]
        kinds = ", ".join(plural(count, kind) for kind, count in sorted(self.by_type.items()))
        read = sum(self.by_type.values()) or self.applied  # the kinds count duplicates too
        lines.append(
            f"flushed {plural(read, 'event')} ({kinds or 'none'}) in one transaction, "
            f"{plural(self.puts, 'key')} written"
        )
        if self.duplicates:
            lines.append(f"  of which {self.duplicates} duplicate or superseded, ignored")
        if self.skipped_segments:
            lines.append(
                f"  {plural(self.skipped_segments, 'segment')} already applied (cleaned up)"
            )
        if self.quarantined:
            lines.append(
                f"  {plural(self.quarantined, 'bad journal line')} moved to the quarantine"
            )
        if self.newer:
            lines.append(
                f"  {plural(self.newer, 'line')} of a newer event format left pending for a newer "
                f"agent-tracker's flush (in {', '.join(self.newer_files)})"
            )
        return lines


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
        try:
            result = _flush_journal(settings, journal)
        except DatabaseBusyError as exc:  # every event stays pending for a later flush
            return FlushResult(busy=True, message=str(exc))
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
        commits: list[str] = []
        seed: list[str] = []
        keep: list[Path] = []  # segments of newer-format lines only: pending as they are
        aside: dict[str, list[BadLine]] = {}  # segment id -> newer lines to set aside
        with LMDBDatabase.open_write(settings.database_path, settings.max_database_size) as db:
            dbid = db.dbid
            with db.batch() as batch:
                _forget_deleted_segments(batch, journal)
                if not (journal.dir / recorded.FILE).exists():
                    seed = _recorded_commits(batch)
                for segment in segments:
                    state = _apply_segment(batch, journal, segment, dbid, result, latest, commits)
                    if state is None:
                        keep.append(segment)
                    elif state:
                        aside[journal.segment_id(segment)] = state
                drop_empty_days(batch)
            result.puts = db.puts
        # Before the segments go: a commit made in between must still find this activity.
        journal.remember_setups(latest)
        recorded.remember(journal.folder, commits, seed)
        for sid, lines in aside.items():
            journal.set_aside(sid, lines)
        for segment in segments:
            if segment not in keep:
                segment.unlink(missing_ok=True)
        fsio.sync_folder(journal.folder)
        for segment in keep:
            result.newer_files.append(str(segment))
    return result


def _apply_segment(
    batch: WriteBatch,
    journal: Journal,
    segment: Path,
    dbid: str,
    result: FlushResult,
    latest: dict[str, list[Any]],
    commits: list[str],
) -> list[BadLine] | None:
    """Apply one segment within the flush's transaction. Returns the newer-format lines to
    set aside once the transaction committed (empty: none), or None when the segment holds
    nothing but such lines and stays pending as it is."""
    sid = journal.segment_id(segment)
    marker = batch.get(segment_key(sid))
    if marker is not None:
        result.skipped_segments += 1  # applied by a flush that died before deleting it
        return _still_to_set_aside(batch, journal, segment, marker, result)
    # Streamed line by line, all segments in one transaction: memory grows with the keys
    # touched (and the lines set aside), never with the events.
    bad: list[BadLine] = []
    newer: list[BadLine] = []
    applier = Applier(batch, dbid, latest)
    applier.apply(
        journal.scan(segment, bad, newer, count=applier.count, count_line=applier.count_line)
    )
    if newer and not bad and not applier.applied and not applier.duplicates:
        result.newer += len(newer)
        return None
    commits += applier.commits
    result.applied += applier.applied
    result.duplicates += applier.duplicates
    for kind, count in applier.by_type.items():
        result.by_type[kind] = result.by_type.get(kind, 0) + count
    if bad:
        journal.write_quarantine(sid, bad)
        result.quarantined += len(bad)
    if newer:
        result.newer += len(newer)
        result.newer_files.append(str(journal.dir / f"{SEGMENT_PREFIX}{sid}{NEWER_SUFFIX}.jsonl"))
    batch.set(
        segment_key(sid),
        {
            "applied_at": round(time.time(), 3),
            "journal": journal.folder,
            "events": applier.applied + applier.duplicates,
            "quarantined": len(bad),
            "newer": len(newer),
        },
    )
    return newer


def _still_to_set_aside(
    batch: WriteBatch, journal: Journal, segment: Path, marker: Any, result: FlushResult
) -> list[BadLine]:
    """The newer-format lines of an applied segment that a killed flush may not have set
    aside yet: none when its marker counts none, or when their segment exists or was
    applied already."""
    if not isinstance(marker, dict) or not marker.get("newer"):
        return []
    sid = journal.segment_id(segment)
    newer_id = f"{sid}{NEWER_SUFFIX}"
    target = journal.dir / f"{SEGMENT_PREFIX}{newer_id}.jsonl"
    if target.exists() or batch.has(segment_key(newer_id)):
        return []
    newer: list[BadLine] = []
    for _ in journal.scan(segment, [], newer):
        pass
    if newer:
        result.newer += len(newer)
        result.newer_files.append(str(target))
    return newer


def _recorded_commits(batch: WriteBatch) -> list[str]:
    """The hashes of the stored commits, oldest first (to seed `recorded`'s file)."""
    found = sorted((fact["ts"], fact["hash"]) for _, fact in batch.scan("commit:"))
    return [commit_hash for _, commit_hash in found[-recorded.KEEP :]]


def _forget_deleted_segments(batch: WriteBatch, journal: Journal) -> None:
    """Drop the markers of this journal's segments whose files are gone.

    A marker only guards a segment file that still exists (a flush died between its commit
    and the delete); once the file is gone, nothing can apply it again. Without this, the
    database would keep one key per flush forever.
    """
    synced = False
    for key, marker in batch.scan("meta:segment:"):
        name = f"{SEGMENT_PREFIX}{key.removeprefix('meta:segment:')}.jsonl"
        if (
            isinstance(marker, dict)
            and marker.get("journal") == journal.folder
            and not (journal.dir / name).exists()
        ):
            if not synced:  # the deletion must last before its marker goes (see above)
                fsio.sync_folder(journal.folder)
                synced = True
            batch.delete(key)
