"""Merging other databases into the central one: additive, idempotent, source untouched.

Older tools passed "~/.config/opencode/agent-tracker.lmdb" to LMDB without expanding `~`,
leaving a per-project database at `<project>/~/.config/opencode/agent-tracker.lmdb` (a
folder, or a single file). Every command that writes the central database (`flush`,
`migrate`, `import`, `rebuild`) merges the one in the current folder, if any:

- the source is opened read-only without a lock file, and never changed or deleted;
- every fact of the source whose key is absent from the central database is written;
  present keys are never overwritten (facts are written once, so equal keys hold equal
  facts); summaries (agent:, project:, day:) and meta records are not copied: the central
  database's summaries are rebuilt from the union of the facts, in the same transaction,
  after the facts of commits the other database saw amended are moved as a flush would
  have moved them (`recompute.canonicalise`);
- a source written by this or an earlier agent-tracker (database format 1, 2 or 3) is read
  as it is: its keys and values are read through `records.Codec` (packed facts unpacked),
  and a fact's key follows from the fact in every format; a newer format is refused;
- the source's path and content stamp (size and modification time of its data file) are
  remembered, so an unchanged source is not read again;
- a source this program cannot read (corrupt, or written in LMDB data format v2 by the
  npm `lmdb` package that the original TypeScript plugin used) is explained in one message,
  and the command goes on with its own job.
"""

from __future__ import annotations

import hashlib
import os
import struct
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import lmdb
import orjson

from agent_tracker import facts, fsio, lmdbfile, paths, recompute, recorded
from agent_tracker.config import Settings
from agent_tracker.errors import DatabaseBusyError
from agent_tracker.records import DAMAGED, Codec, dump
from agent_tracker.store import DB_FORMAT, SCORING_VERSION, LMDBDatabase, WriteBatch, rebuild

LEGACY_PARTS = paths.LEGACY_PARTS
LMDB_MAGIC = 0xBEEFC0DE
LOG_NAME = "migrate.log"
#: The largest per-project database merged from inside the pre-push hook.
HOOK_MERGE_LIMIT = 64 * 1024 * 1024

Progress = Callable[[int, int], None]


class SourceError(Exception):
    """A source database that cannot be read; the message says why and what to do."""


@dataclass
class SourceResult:
    path: str
    status: str  # merged | unchanged | would-merge | postponed | unreadable | missing | is-central
    facts_added: int = 0
    already_present: int = 0
    ignored: int = 0
    entries: int = 0
    message: str = ""
    #: False when it only repeats what the log already says (a source found unreadable).
    news: bool = True

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["news"]
        return data

    def summary(self) -> str:
        if self.status in ("merged", "would-merge"):
            verb = "merged" if self.status == "merged" else "would merge"
            text = (
                f"{self.path}: {verb} {self.facts_added} facts, {self.already_present} "
                f"already present, {self.ignored} other entries not copied"
            )
            return f"{text} ({self.message})" if self.message else text
        if self.status == "unchanged":
            return f"{self.path}: unchanged since it was merged; nothing to do"
        return f"{self.path}: {self.message}"


def per_project_source(folder: str) -> str | None:
    """The database an older tool left in `folder`, if there is one (a folder or a regular
    file: anything else, such as a named pipe, is not opened)."""
    path = os.path.join(folder, *LEGACY_PARTS)
    return path if os.path.isdir(path) or os.path.isfile(path) else None


def _data_file(path: str) -> tuple[str, bool]:
    """(the LMDB data file, whether the database is a folder) of a source path."""
    if os.path.isdir(path):
        return os.path.join(path, "data.mdb"), True
    return path, False


def _format_version(data_file: str) -> int | None:
    """The LMDB data format version in the first meta page, or None if not LMDB."""
    try:
        with open(data_file, "rb") as handle:
            head = handle.read(64)
    except OSError:
        return None
    # Released LMDB (0.9) has a 16-byte page header; the 1.0 development line used by the
    # npm package has 24 bytes. The meta page starts with the magic, then the version.
    for offset in (16, 24):
        if len(head) >= offset + 8:
            magic, version = struct.unpack_from("<II", head, offset)
            if magic == LMDB_MAGIC:
                return int(version)
    return None


def legacy_script() -> str:
    """Where export-legacy.mjs is: inside the installed package, or in a checkout."""
    from importlib import resources

    packaged = resources.files("agent_tracker").joinpath("export-legacy.mjs")
    if packaged.is_file():
        return str(packaged)
    return os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples", "export-legacy.mjs")


def v2_help() -> str:
    return (
        "it was written in LMDB data format v2, by the npm `lmdb` package that the original "
        "TypeScript plugin used; released LMDB (and so this program) cannot read that format. "
        "Nothing was changed. To bring its history over, export it with Node.js "
        f"(`npm install lmdb`, then `node {legacy_script()} PATH > legacy.jsonl`) and run "
        "`agent-tracker import legacy.jsonl`"
    )


def _stamp(data_file: str) -> list[int]:
    info = os.stat(data_file)
    return [info.st_size, info.st_mtime_ns]


def _source_id(path: str) -> str:
    return hashlib.sha256(os.path.realpath(path).encode()).hexdigest()[:16]


def read_source(path: str, progress: Progress | None = None) -> list[tuple[str, bytes]]:
    """Every (key, value) of the database at `path`, read without changing it."""
    data_file, subdir = _data_file(path)
    if not os.path.exists(data_file):
        raise SourceError(f"no database at {path}")
    if _format_version(data_file) == 2:
        raise SourceError(v2_help())
    problem = lmdbfile.truncation(path, data_file)  # reading it would kill us with SIGBUS
    if problem is not None:
        raise SourceError(f"is damaged: {problem}; nothing was changed")
    try:
        # lock=False: no lock file is created in (or next to) the source; readonly: no write.
        env = lmdb.open(path, readonly=True, lock=False, subdir=subdir, max_dbs=0)
    except lmdb.Error as exc:
        raise SourceError(
            f"cannot be read as an LMDB database ({exc}); nothing was changed"
        ) from None
    try:
        total = env.stat()["entries"]
        entries: list[tuple[str, bytes]] = []
        with env.begin() as txn:
            _refuse_newer(txn)
            codec = Codec(txn)  # format 3 packs facts; formats 1 and 2 are JSON throughout
            for raw_key, raw in txn.cursor():
                key = codec.logical(bytes(raw_key))
                if key is None:
                    continue  # the names behind packed ids: part of the facts read here
                value = codec.decode(key, bytes(raw_key), bytes(raw), shape=False)
                entries.append((key, bytes(raw) if value is DAMAGED else dump(value)))
                if progress is not None and len(entries) % 1000 == 0:
                    progress(len(entries), total)
        if progress is not None:
            progress(len(entries), total)
        return entries
    except lmdb.Error as exc:
        raise SourceError(f"is damaged and could not be read to the end ({exc})") from None
    finally:
        env.close()


def _refuse_newer(txn: lmdb.Transaction) -> None:
    for key, known in ((b"meta:format", DB_FORMAT), (b"meta:scoring", SCORING_VERSION)):
        raw = txn.get(key)
        try:
            found = None if raw is None else orjson.loads(raw)
        except orjson.JSONDecodeError:
            found = None
        if isinstance(found, int) and found > known:
            raise SourceError(
                f"was written by a newer agent-tracker ({key.decode()} {found}, this one knows "
                f"{known}); upgrade agent-tracker to merge it"
            )


def _facts_of(entries: list[tuple[str, bytes]]) -> tuple[list[tuple[str, bytes]], int]:
    """The entries that are valid facts of this program, and how many others there were."""
    found: list[tuple[str, bytes]] = []
    ignored = 0
    for key, raw in entries:
        kind = facts.kind_of_key(key)
        if kind is None:
            ignored += 1  # summaries and meta records: rebuilt, never copied
            continue
        try:
            fact = facts.check(kind, orjson.loads(raw))
            dbid = facts.dbid_of_usage_key(key) if kind == "usage" else None
            if facts.key_of(kind, fact, dbid) != key:
                raise facts.BadFact("key does not match its fact")
        except (ValueError, facts.BadFact):
            ignored += 1  # e.g. the TypeScript plugin's records: not our format
            continue
        found.append((key, raw))
    return found, ignored


def merge_facts(
    batch: WriteBatch, found: list[tuple[str, bytes]], *, reconcile: bool = False
) -> tuple[int, int, int]:
    """Write the facts whose keys are absent, then rebuild the summaries.

    With `reconcile` (import: pooling the same person's machines), a present key may also be
    updated where `facts.reconcile` says the incoming fact supersedes it (a grown usage
    counter, a newer grade). Returns (added, updated, left as they were).
    """
    added = updated = 0
    for key, raw in found:
        if batch.put_absent(key, raw):
            added += 1
            continue
        kind = facts.kind_of_key(key)
        if reconcile and kind is not None:
            better = facts.reconcile(kind, batch.get(key), orjson.loads(raw))
            if better is not None:
                batch.put_now(key, better)
                updated += 1
    if added or updated:
        recompute.canonicalise(batch)
        rebuild(batch)
    return added, updated, len(found) - added - updated


def merge(
    settings: Settings,
    sources: list[str],
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    max_bytes: int | None = None,
) -> list[SourceResult]:
    """Merge each source database into the central one (see the module docstring).

    A source larger than `max_bytes` is left for an explicit `agent-tracker migrate` (the
    pre-push hook must stay quick).
    """
    results = []
    for source in sources:
        path = os.path.abspath(source)
        if _is_central(settings, path):
            results.append(SourceResult(path, "is-central", message="is the central database"))
            continue
        if not (os.path.isdir(path) or os.path.isfile(path)):
            message = "does not exist" if not os.path.lexists(path) else "is not a database"
            results.append(SourceResult(path, "missing", message=message))
            continue
        results.append(_merge_one(settings, path, dry_run, progress, max_bytes))
    _log(settings, results)
    return results


def _is_central(settings: Settings, path: str) -> bool:
    """Whether `path` (a folder, its data file, or a link to either) is the central db."""
    central = os.path.realpath(settings.database_file)
    mine = {central, os.path.realpath(os.path.join(central, "data.mdb"))}
    data_file, _ = _data_file(path)
    return os.path.realpath(path) in mine or os.path.realpath(data_file) in mine


def _merge_one(
    settings: Settings,
    path: str,
    dry_run: bool,
    progress: Progress | None,
    max_bytes: int | None,
) -> SourceResult:
    result = SourceResult(path, "merged")
    marker = f"meta:migrated:{_source_id(path)}"
    try:
        data_file, _ = _data_file(path)
        if not os.path.isfile(data_file):
            raise SourceError(f"no database at {path}")
        stamp = _stamp(data_file)
        known = _recall(settings, marker)
        if known is not None and known.get("stamp") == stamp:
            if known.get("status") == "unreadable":
                message = f"still not merged: {known.get('message')}"
                return SourceResult(path, "unreadable", message=message, news=False)
            result.status = "unchanged"
            return result
        if max_bytes is not None and stamp[0] > max_bytes:
            result.status = "postponed"
            result.message = (
                f"not merged now: {stamp[0] // (1 << 20)} MiB is too much for a git hook; "
                "run `agent-tracker migrate` in this folder"
            )
            return result
        entries = read_source(path, progress)
    except (SourceError, OSError) as exc:
        result = SourceResult(path, "unreadable", message=f"not merged: {exc}")
        if not dry_run and os.path.isfile(_data_file(path)[0]):
            # Remembered, so that every later push does not explain it again.
            _remember(settings, marker, path, _stamp(_data_file(path)[0]), "unreadable", str(exc))
        return result
    found, result.ignored = _facts_of(entries)
    result.entries = len(entries)
    if result.ignored and not found:
        result.message = "none of its entries are agent-tracker facts"
    if dry_run:
        result.status = "would-merge"
        result.facts_added, result.already_present = _count_absent(settings, found)
        return result
    db = LMDBDatabase.open_write(settings.database_path, settings.max_database_size)
    with db, db.batch() as batch:
        result.facts_added, _, result.already_present = merge_facts(batch, found)
        batch.set(marker, _marker(path, stamp, "merged", ""))
    recorded.remember(settings.journal_folder, recorded.hashes_of_facts(found))
    return result


def _marker(path: str, stamp: list[int], status: str, message: str) -> dict[str, Any]:
    return {
        "path": path,
        "stamp": stamp,
        "status": status,
        "message": message,
        "at": round(time.time(), 3),
    }


def _remember(
    settings: Settings, marker: str, path: str, stamp: list[int], status: str, message: str
) -> None:
    db = LMDBDatabase.open_write(settings.database_path, settings.max_database_size)
    with db, db.batch() as batch:
        batch.set(marker, _marker(path, stamp, status, message))


def _recall(settings: Settings, marker: str) -> dict[str, Any] | None:
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    if db is None:
        return None
    with db:
        value = db.get(marker)
    return value if isinstance(value, dict) else None


def _count_absent(settings: Settings, found: list[tuple[str, bytes]]) -> tuple[int, int]:
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    if db is None:
        return len(found), 0
    with db, db.env.begin() as txn:
        codec = Codec(txn)
        present = sum(1 for key, _ in found if txn.get(codec.key(key)) is not None)
    return len(found) - present, present


def _log(settings: Settings, results: list[SourceResult]) -> None:
    """Append what happened to migrate.log in the journal folder (hooks discard output)."""
    lines = [r.summary() for r in results if r.status != "unchanged" and r.news]
    if not lines:
        return
    try:
        paths.make_private_dir(settings.journal_folder)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        target = os.path.join(settings.journal_folder, LOG_NAME)
        fd = fsio.open_private(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT)  # holds paths
        with os.fdopen(fd, "a", encoding="utf-8") as log:
            log.writelines(f"{stamp} {line}\n" for line in lines)
    except OSError:
        pass  # the log is a courtesy; the results are returned to the caller anyway


def pending_source(settings: Settings, folder: str) -> str | None:
    """For read-only commands: what to say of a per-project database in `folder`, if it is
    not merged as it is now (None when there is none, or nothing new in it)."""
    path = per_project_source(folder)
    if path is None or _is_central(settings, path):
        return None
    marker = _recall(settings, f"meta:migrated:{_source_id(path)}")
    try:
        stamp = _stamp(_data_file(path)[0])
    except OSError:
        stamp = None
    if marker is not None and marker.get("stamp") == stamp:
        if marker.get("status") == "unreadable":
            return f"{path} (cannot be read: {marker.get('message')})"
        return None
    return path


def rebuild_all(
    settings: Settings, folder: str | None = None
) -> tuple[int, list[SourceResult], list[str]]:
    """`agent-tracker rebuild`: merge the per-project database in `folder` (as every
    writing command does), then recompute every summary from the facts. Returns the number
    of summaries, the merges, and the keys of the damaged records set aside."""
    merged = auto_merge(settings, folder) if folder is not None else []
    with LMDBDatabase.open_write(settings.database_path, settings.max_database_size) as db:
        return db.rebuild_totals(), merged, db.set_aside


def default_source(folder: str) -> str:
    """Where `migrate` looks when no source is named: the per-project database in `folder`."""
    return os.path.join(folder, *LEGACY_PARTS)


def auto_merge(settings: Settings, folder: str, max_bytes: int | None = None) -> list[SourceResult]:
    """What writing commands do besides their job: merge the per-project database in
    `folder`, if any. Never raises: a failure is logged and reported, and the command goes
    on with its own job."""
    path = per_project_source(folder)
    if path is None:
        return []
    try:
        return merge(settings, [path], max_bytes=max_bytes)
    except DatabaseBusyError:
        message = "not merged now: the database is busy; a later flush or migrate merges it"
        return [SourceResult(path, "postponed", message=message)]
    except Exception as exc:  # noqa: BLE001 - the command's own job must go on
        result = SourceResult(path, "unreadable", message=f"not merged: {exc}")
        _log(settings, [result])
        return [result]
