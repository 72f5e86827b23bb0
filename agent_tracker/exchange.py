"""Export and import of facts as JSON Lines: how one person pools several machines.

`export` writes every fact (optionally of a period or a project) in the format described in
`facts`; `import` merges such files additively: a fact whose key is already present is left
alone, so importing the same file twice changes nothing, and the summaries are rebuilt from
the union in the same transaction. Bad lines are reported by line number and skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from agent_tracker import facts, recorded, totals
from agent_tracker.config import Settings
from agent_tracker.errors import UsageError
from agent_tracker.migrate import merge_facts
from agent_tracker.store import LMDBDatabase

MAX_REPORTED_BAD = 20


def export_lines(
    settings: Settings,
    since: str | None = None,
    until: str | None = None,
    project: str | None = None,
    skipped: list[str] | None = None,
) -> Iterator[bytes]:
    """Each fact in the central database as one JSON line (with its newline).

    A damaged fact (see `records`) is not exported: its key is appended to `skipped`, and
    the export goes on, so that a backup never stops at one bad record.
    """
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    if db is None:
        return
    with db:
        yield from _export(db, since, until, project)
        if skipped is not None:
            skipped += sorted(db.damaged)


def _export(
    db: LMDBDatabase, since: str | None, until: str | None, project: str | None
) -> Iterator[bytes]:
    for prefix, kind in facts.PREFIX_KIND.items():
        for key, fact in db.scan(prefix):
            if since and facts.day_of(kind, fact) < since:
                continue
            if until and facts.day_of(kind, fact) > until:
                continue
            if project and not totals.project_matches(fact["project"], project):
                continue
            yield orjson.dumps(facts.to_line(kind, key, fact)) + b"\n"


@dataclass
class ImportResult:
    files: int = 0
    lines: int = 0
    added: int = 0
    updated: int = 0
    already_present: int = 0
    bad: list[tuple[str, int, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "lines": self.lines,
            "added": self.added,
            "updated": self.updated,
            "already_present": self.already_present,
            "bad_lines": [{"file": f, "line": n, "error": e} for f, n, e in self.bad],
        }


def import_files(settings: Settings, streams: list[tuple[str, IO[bytes]]]) -> ImportResult:
    """Merge export files (name, binary stream) into the central database."""
    result = ImportResult(files=len(streams))
    found: dict[str, bytes] = {}
    for name, stream in streams:
        for number, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            result.lines += 1
            try:
                key, fact = facts.from_line(orjson.loads(raw))
            except (ValueError, facts.BadFact) as exc:
                reason = str(exc) if isinstance(exc, facts.BadFact) else f"not JSON: {exc}"
                result.bad.append((name, number, reason))
                continue
            found.setdefault(key, orjson.dumps(fact, option=orjson.OPT_SORT_KEYS))
    if not found:
        return result
    db = LMDBDatabase.open_write(settings.database_path, settings.max_database_size)
    with db, db.batch() as batch:
        result.added, result.updated, present = merge_facts(
            batch, list(found.items()), reconcile=True
        )
    recorded.remember(settings.journal_folder, recorded.hashes_of_facts(found.items()))
    result.already_present = present + (result.lines - len(result.bad) - len(found))
    return result


def open_inputs(paths: list[str]) -> list[tuple[str, IO[bytes]]]:
    """Open the named files ("-" is standard input); a missing file is a usage error."""
    streams: list[tuple[str, IO[bytes]]] = []
    for path in paths:
        if path == "-":
            import sys

            streams.append(("<stdin>", sys.stdin.buffer))
            continue
        try:
            streams.append((path, open(path, "rb")))  # noqa: SIM115 - closed by the caller
        except OSError as exc:
            for _, stream in streams:
                stream.close()
            raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    return streams


def describe(result: ImportResult) -> list[str]:
    lines = [
        f"imported {result.added} facts from {result.lines} lines in {result.files} "
        f"file{'s' if result.files != 1 else ''}; {result.updated} updated (grown counts, "
        f"newer grades); {result.already_present} already present"
    ]
    for name, number, error in result.bad[:MAX_REPORTED_BAD]:
        lines.append(f"  {name}:{number}: skipped: {error}")
    if len(result.bad) > MAX_REPORTED_BAD:
        lines.append(f"  ... and {len(result.bad) - MAX_REPORTED_BAD} more bad lines")
    return lines
