"""The central LMDB database: keys, records, batch writes and derived totals.

One unnamed LMDB database. Above `batch`, every record has a UTF-8 text key and a JSON
value (a decoded dict); how they lie on disk is known only to `keys` (key bytes) and
`records.Codec` (value bytes):

| key | kind | value |
|---|---|---|
| `meta:format`, `meta:scoring`, `meta:derived` | meta | versions of format, scoring, summaries |
| `meta:dbid`, `meta:origin` | meta | this database's random id, and the host and path it is for |
| `meta:segment:<id>` | meta | a journal segment applied here (exactly-once marker) |
| `meta:migrated:<source>` | meta | a source database merged (or found unreadable), its stamp |
| `commit:<project>:<hash>` | fact, packed | the commit, its setup and how the setup was decided |
| `communication:<project>:<hash>:<party>` | fact, packed | a party's (agent/user) grade of it |
| `usage:<dbid>:<project>:<setup>:<day>[:<ctx>]` | fact | usage counted by `dbid` (see `facts`) |
| `replaced:<project>:<hash>` | fact | a commit replaced by its amendment |
| `agent:<setup>` | derived | per-setup totals: XP, commits, communication score, grade mix |
| `project:<project>` | derived | project identity, name, language mix, commit count |
| `day:<day>:<setup>:<project>:<ifp>` | derived | one day's usage, commits, graded commits |
| `reverts:<project>:<hash>` | derived | the counted commits that revert this commit |
| `\x03<setup id>`, `\x04<project id>` (bytes) | names | the names behind packed facts' ids |

On disk (format 3) every record is its text key and JSON, except the *packed* ones (below)
and the names records, which have binary keys and are never seen above `batch`.

`<project>` and `<setup>` are 16-hex-digit hashes (`events.project_id`, `events.setup_id`),
`<ctx>` hashes the session and instructions fingerprint a usage counter is for, and `<ifp>` is
the instructions fingerprint (`-` when unknown; see `keys`), so no key comes near LMDB's
511-byte limit whatever the names. Fact keys are unique across databases and machines, so
merging databases key by key is a lossless union, and the derived records can always be
recomputed from the facts (`rebuild_totals`).

Packed facts (format 3; see `keys` and `records`): commits and grades, nearly all of the
data, are stored under `\x01` + the project id + the hash as bytes + a tag (the commit, or the
grading party), so a commit's grades sort right after it; their value is the setup id (and
the event id) as bytes + an orjson array of the other fields in a fixed order; the project's
and the setup's names are stored once. A commit takes ~136 bytes of key and value instead of
~418, a grade ~74 instead of ~320. A fact that cannot be packed (an odd-length hash) keeps
its format-2 text key and JSON value, which format 3 reads as well.

Format history: format 1 had no `<ctx>` and no `<ifp>` and counted only tool calls and
commands. Format 2 stored every record under its text key as JSON. A database of format 1
or 2 opened for writing is brought forward (`_upgrade`): its facts packed, its derived
records rebuilt from the facts when they are older (format 1), and `meta:format` set to 3.
It goes in steps of `UPGRADE_STEP` facts, one transaction each, so that the pages a step
frees are reused by the next: the file grows by little more than the packed facts (a third
of the old ones), where one transaction needed about 1.6 times the file. Every step leaves
each fact once, under its text or its packed key, which format 3 reads alike; a crash in
between leaves `meta:upgrading`, and the next write goes on. Until the first write,
read-only commands read an older database as it is (`records.packed_form` tells the two
layouts apart). LMDB files never shrink. An older agent-tracker refuses a newer format
with a clear message instead of misreading it.

Scoring history: scoring 2 (derived version 3) adds per-party grade aggregates and revert
counts to setup and day records (see `totals`). A database of scoring 1 or derived version 2
opened for writing is rebuilt from its facts, once, in one transaction, which also marks it
with the new versions; until then a reader finds the new fields missing and counts them 0.

Writes happen in one transaction per flush through `WriteBatch`: values are read once, changed
in memory, and written with one `put` per distinct key by `put_batch`, in key order, each
value encoded just before its put (memory follows the keys touched, not their bytes).

Faults (see `lmdbfile`, `writelock`, `records`): a truncated data file is refused before
LMDB maps it; stale reader slots of killed processes are cleared on every open; a write
waits a bounded time for another process's write transaction, then says "database busy";
a full database or disk (ENOSPC, EIO) is one clear message with nothing written; a value
that is not JSON or not of its key's shape is skipped and counted by readers, and set aside
under `damaged:<key>` by a write transaction, which then rebuilds the derived records.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import lmdb
import orjson

from agent_tracker import keys, lmdbfile, recompute, records, writelock
from agent_tracker.batch import Codec, WriteBatch, dump, iter_txn, txn_get, unreadable
from agent_tracker.errors import DatabaseFullError, FormatError, TrackerError
from agent_tracker.keys import agent_key, commit_key, communication_key, segment_key
from agent_tracker.paths import make_private_dir
from agent_tracker.records import DAMAGED

__all__ = ["DB_FORMAT", "Database", "LMDBDatabase", "WriteBatch", "rebuild"]

#: 3: packed commit and grade records (see `keys` and `records`).
DB_FORMAT = 3
#: Facts converted per step of an upgrade to format 3 (bounds its memory).
UPGRADE_STEP = 2000
#: 2: per-party grade aggregates and reverts; the newest grade of a party wins everywhere.
SCORING_VERSION = 2
#: Version of the derived records' layout. A database whose derived records are older (or
#: missing) is rebuilt from its facts when next opened for writing. 2: day records per
#: instructions fingerprint, and failures, tokens and cost in every derived record. 3:
#: per-party grade aggregates, `reverted`, and the `reverts:` index (scoring 2). 4: project
#: records count their commits per root commit (`roots`), so the report can join clones.
DERIVED_VERSION = 4
FACT_PREFIXES = ("commit:", "communication:", "usage:", "replaced:")
DERIVED_PREFIXES = ("agent:", "project:", "day:", "reverts:")


class Database(Protocol):
    """The storage interface named in the spec (get/put per record kind, plus put_batch)."""

    def get_agent(self, sid: str) -> dict[str, Any] | None: ...
    def put_agent(self, sid: str, record: dict[str, Any]) -> None: ...
    def get_commit(self, pid: str, commit_hash: str) -> dict[str, Any] | None: ...
    def put_commit(self, pid: str, commit_hash: str, record: dict[str, Any]) -> None: ...
    def get_communication(
        self, pid: str, commit_hash: str, party: str
    ) -> dict[str, Any] | None: ...
    def put_communication(
        self, pid: str, commit_hash: str, party: str, record: dict[str, Any]
    ) -> None: ...
    def put_batch(self, items: dict[str, Any]) -> int: ...  # None deletes


class LMDBDatabase:
    """The central database. Open it with `LMDBDatabase.open_write` or `open_read`."""

    def __init__(
        self, env: lmdb.Environment, path: Path, map_size: int, wait: float | None = None
    ) -> None:
        self.env = env
        self.path = path
        self.map_size = map_size
        #: Seconds a write waits for another process's write transaction (`writelock`).
        self.wait = writelock.write_wait() if wait is None else wait
        #: Statistics of this handle, for tests and `flush` summaries.
        self.puts = 0
        self.write_transactions = 0
        #: Reader slots of dead processes cleared when the database was opened.
        self.stale_readers = 0
        #: Damaged records met by this handle's reads (key -> raw value); see `records`.
        self.damaged: dict[str, bytes] = {}
        #: Damaged records set aside by this handle's write transactions.
        self.set_aside: list[str] = []
        self._dbid: str | None = None
        self._writer: writelock.Writer | None = None

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open_write(cls, path: Path, map_size: int, wait: float | None = None) -> LMDBDatabase:
        make_private_dir(path)
        writelock.settle(path, writelock.write_wait() if wait is None else wait)
        try:
            env, cleared = lmdbfile.open_env(path, map_size=map_size, metasync=True, sync=True)
        except lmdb.Error as exc:
            raise TrackerError(f"cannot open database {path}: {exc}") from None
        db = cls(env, path, map_size, wait)
        db.stale_readers = cleared
        try:
            db._initialise()
        except BaseException:
            db.close()
            raise
        return db

    @classmethod
    def open_read(cls, path: Path, map_size: int) -> LMDBDatabase | None:
        """A read-only handle, or None when the database does not exist yet."""
        if not (path / "data.mdb").exists():
            return None
        writelock.settle(path, writelock.write_wait())
        try:
            env, cleared = lmdbfile.open_env(path, map_size=map_size, readonly=True)
        except lmdb.Error as exc:
            raise TrackerError(f"cannot open database {path}: {exc}") from None
        db = cls(env, path, map_size)
        db.stale_readers = cleared
        try:
            db._check_format()
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        writer = self._writer
        if writer is not None and writer.abandoned and writer.close_env_when_done():
            return  # the writer, still blocked in LMDB, closes the environment when freed
        self.env.close()

    def __enter__(self) -> LMDBDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self) -> lmdb.Transaction:
        """A read transaction (abort it when done); a clear error when none can be had."""
        try:
            return self.env.begin()
        except lmdb.ReadersFullError:
            raise TrackerError(
                f"database {self.path}: every reader slot is taken by running processes; "
                "close some agent-tracker commands and try again"
            ) from None
        except lmdb.Error as exc:
            raise unreadable(exc) from None

    def _meta(self, *names: str) -> list[Any]:
        """Meta values by name (None when absent or not JSON)."""
        txn = self.read()
        try:
            raws = [txn_get(txn, f"meta:{name}".encode()) for name in names]
        finally:
            txn.abort()
        return [None if raw is None else _loads(raw) for raw in raws]

    def _check_format(self) -> None:
        found_format, found_scoring = self._meta("format", "scoring")
        for what, found, known in (
            ("format", found_format, DB_FORMAT),
            ("scoring version", found_scoring, SCORING_VERSION),
        ):
            if type(found) is int and found > known:
                raise FormatError(
                    f"database {self.path} has {what} {found}; this agent-tracker understands "
                    f"{what} {known} or older: upgrade agent-tracker"
                )

    def _initialise(self) -> None:
        self._check_format()
        txn = self.read()
        try:
            present = txn.get(b"meta:format") is not None
        finally:
            txn.abort()
        found, origin, dbid = self._meta("format", "origin", "dbid")
        if present:
            # Not newer (refused above); not a number at all is damage: brought forward too.
            # `meta:upgrading`: an upgrade a crash cut short goes on.
            if found != DB_FORMAT or self._meta("upgrading")[0] is not None:
                self._upgrade(found)
            elif self.derived_outdated():
                self.rebuild_totals()
            if origin != self._origin() or not _is_dbid(dbid):
                self._new_identity(keep_id=origin is None and _is_dbid(dbid))
            return
        with self._write() as wtxn:
            wtxn.put(b"meta:format", dump(DB_FORMAT), overwrite=False)
            wtxn.put(b"meta:scoring", dump(SCORING_VERSION), overwrite=False)
            wtxn.put(b"meta:dbid", dump(os.urandom(8).hex()), overwrite=False)
            wtxn.put(b"meta:derived", dump(DERIVED_VERSION), overwrite=False)
            wtxn.put(b"meta:origin", dump(self._origin()), overwrite=False)

    def _upgrade(self, found: object) -> None:
        """Bring a database of an older format forward: its facts packed (format 3), its
        derived records rebuilt from them when their layout is older (format 1, or older
        summaries).

        In steps of `UPGRADE_STEP` facts, one transaction each: pages a step frees are
        reused by the next, where one transaction would hold the old and the new copy of
        every page at once (about 1.6 times the file, more than a database near its size
        limit has). The first step sets `meta:format` (an older agent-tracker refuses the
        database from then on) and `meta:upgrading` (the format found); every step leaves
        each fact once, under its text key or its packed key, which format 3 reads alike; the
        last one rebuilds what needs it and removes `meta:upgrading`. A crash in between
        leaves a database that reads correctly, and the next write goes on (`_initialise`).
        """
        with self._write() as txn:
            if txn_get(txn, b"meta:upgrading") is None:
                txn.put(b"meta:upgrading", dump(found))
            txn.put(b"meta:format", dump(DB_FORMAT))
        damaged: dict[str, bytes] = {}
        for prefix in keys.PACKED:
            start: bytes | None = prefix.encode()
            while start is not None:
                with self._write() as txn:
                    codec = Codec(txn, packed=True)
                    start = _pack_facts(
                        txn, Codec(txn, packed=False), codec, prefix.encode(), start, damaged
                    )
                    self.write_transactions += 1
        with self._write() as txn:
            raw = txn_get(txn, b"meta:upgrading")
            original = None if raw is None else _loads(raw)
            batch = WriteBatch(txn, Codec(txn, packed=True))
            batch.damaged.update(damaged)
            if original != 2 or self.derived_outdated():
                rebuild(batch)
            txn.delete(b"meta:upgrading")
            self._finish(batch, txn)

    def _origin(self) -> dict[str, str]:
        # os.uname, not socket.gethostname: the same name, without importing socket on
        # every open for writing (a measurable share of a small flush).
        return {"host": os.uname().nodename, "path": os.path.realpath(self.path)}

    def _new_identity(self, *, keep_id: bool) -> None:
        """A database found on another machine or path (a copy, a restore) counts from now
        on under a new id: usage counters are keyed by the id of the database that counted,
        so the copy's counts and the original's add up when they are merged again, instead
        of one overwriting the other. (A damaged id is replaced the same way.)"""
        with self._write() as txn:
            if not keep_id:
                txn.put(b"meta:dbid", dump(os.urandom(8).hex()))
            txn.put(b"meta:origin", dump(self._origin()))

    def derived_outdated(self) -> bool:
        """True when derived records predate DERIVED_VERSION or SCORING_VERSION (they are
        rebuilt on write); also when either version is missing or damaged."""
        derived, scoring = self._meta("derived", "scoring")
        for found, known in ((derived, DERIVED_VERSION), (scoring, SCORING_VERSION)):
            if type(found) is not int or found < known:
                return True
        return False

    def is_applied(self, segment_id: str) -> bool:
        """Whether a flush already applied this journal segment (exactly-once marker)."""
        txn = self.read()
        try:
            return txn_get(txn, segment_key(segment_id).encode()) is not None
        finally:
            txn.abort()

    @property
    def dbid(self) -> str:
        if self._dbid is None:
            (found,) = self._meta("dbid")
            if not _is_dbid(found):
                raise TrackerError(f"database {self.path} has no valid id (meta:dbid)")
            self._dbid = str(found)
        return self._dbid

    # -- writing ---------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[lmdb.Transaction]:
        """One write transaction, waiting at most `self.wait` s for the writer lock
        (`writelock`); committed when the block ends normally, else aborted. A full
        database or disk is one clear message, nothing written."""
        writer = writelock.Writer(self.env, self.path)
        self._writer = writer
        try:
            txn = writer.begin(self.wait)
            ok = False
            try:
                yield txn
                ok = True
            finally:
                writer.end(commit=ok)
        except lmdb.MapFullError:
            raise DatabaseFullError(
                f"database {self.path} is full at max_database_size {self.map_size} bytes; "
                "nothing was written and every pending event is kept. Raise the limit, e.g. "
                "`agent-tracker config set max_database_size 1GiB`, then run the command again"
            ) from None
        except lmdb.Error as exc:  # ENOSPC, EIO, ... while writing or committing
            raise TrackerError(
                f"cannot write database {self.path}: {_reason(exc)}; nothing was written and "
                "every pending event is kept. Free some disk space (or fix the disk), then "
                "run the command again"
            ) from None

    @contextmanager
    def batch(self) -> Iterator[WriteBatch]:
        """One write transaction: changes made on the batch are written when the block ends.

        Damaged records met on the way are set aside and the derived records rebuilt from
        the facts, in the same transaction (see `records`)."""
        with self._write() as txn:
            batch = WriteBatch(txn)
            yield batch
            self._finish(batch, txn)

    def _finish(self, batch: WriteBatch, txn: lmdb.Transaction) -> None:
        self.put_batch(batch.changes(), txn, batch.codec)
        if batch.damaged:
            self._repair(batch.damaged, txn, batch.codec)
        self.write_transactions += 1

    def _repair(self, damaged: dict[str, bytes], txn: lmdb.Transaction, codec: Codec) -> None:
        _set_aside(damaged, txn, codec)
        again = WriteBatch(txn, codec)
        rebuild(again)  # meets any other damaged record on its way: those too
        self.put_batch(again.changes(), txn, codec)
        _set_aside(again.damaged, txn, codec)
        self.set_aside += sorted({*damaged, *again.damaged})

    def put_batch(
        self,
        items: dict[str, Any],
        txn: lmdb.Transaction | None = None,
        codec: Codec | None = None,
    ) -> int:
        """Write several records atomically; a `None` value deletes its key.

        Within `txn` when given (how `batch` and so `flush` write), else in a transaction of
        its own. Returns the number of keys written or deleted.
        """
        if txn is None:
            with self.batch() as batch:
                for key, value in items.items():
                    batch.set(key, value)
            return len(items)
        # One key at a time, in key order (LMDB fills pages in order): the encoded values
        # are never all held at once, so memory follows the keys touched, not their bytes.
        codec = Codec(txn) if codec is None else codec
        with txn.cursor() as cursor:
            for key in sorted(items):
                value = items[key]
                raw_key = codec.key(key)
                if value is None:
                    txn.delete(raw_key)
                elif not cursor.put(raw_key, codec.encode(raw_key, value)):
                    raise TrackerError(f"database {self.path}: could not write {key}")
        self.puts += len(items)
        return len(items)

    # -- single records (the spec's Database interface) --------------------------------------

    def get(self, key: str) -> Any:
        """The value under `key` (any JSON: this is the spec's generic interface); None when
        absent or not JSON (noted in `damaged`)."""
        txn = self.read()
        try:
            codec = Codec(txn)
            raw_key = codec.key(key)
            raw = txn_get(txn, raw_key)
            value = None if raw is None else codec.decode(key, raw_key, raw, shape=False)
        finally:
            txn.abort()
        if raw is None:
            return None
        if value is DAMAGED:
            self.damaged[key] = raw
            return None
        return value

    def get_agent(self, sid: str) -> dict[str, Any] | None:
        value: dict[str, Any] | None = self.get(agent_key(sid))
        return value

    def put_agent(self, sid: str, record: dict[str, Any]) -> None:
        self.put_batch({agent_key(sid): record})

    def get_commit(self, pid: str, commit_hash: str) -> dict[str, Any] | None:
        value: dict[str, Any] | None = self.get(commit_key(pid, commit_hash))
        return value

    def put_commit(self, pid: str, commit_hash: str, record: dict[str, Any]) -> None:
        self.put_batch({commit_key(pid, commit_hash): record})

    def get_communication(self, pid: str, commit_hash: str, party: str) -> dict[str, Any] | None:
        value: dict[str, Any] | None = self.get(communication_key(pid, commit_hash, party))
        return value

    def put_communication(
        self, pid: str, commit_hash: str, party: str, record: dict[str, Any]
    ) -> None:
        self.put_batch({communication_key(pid, commit_hash, party): record})

    # -- reading ---------------------------------------------------------------------------

    def scan(self, prefix: str) -> Iterator[tuple[str, Any]]:
        """Every (key, value) whose key starts with `prefix`, in key order; damaged values
        are skipped and noted in `damaged`."""
        txn = self.read()
        try:
            yield from iter_txn(Codec(txn), prefix, self.damaged)
        finally:
            txn.abort()

    def entries(self) -> Iterator[tuple[str, bytes]]:
        """Every record as (text key, JSON value), whatever the format: for tests, tools and
        comparisons across formats (a damaged value as it is stored; the physical layer's
        own records left out)."""
        txn = self.read()
        try:
            codec = Codec(txn)
            for raw_key, raw in txn.cursor():
                key = codec.logical(bytes(raw_key))
                if key is None:
                    continue
                value = codec.decode(key, bytes(raw_key), bytes(raw), shape=False)
                yield key, bytes(raw) if value is DAMAGED else dump(value)
        finally:
            txn.abort()

    def last_flush(self) -> float | None:
        """When a flush last applied events to this database (None: never).

        A flush records a marker per segment it applies (`applied_at`), and the markers of
        the last flush's segments stay until the next flush that applies any (see `flush`):
        the newest marker is the last flush, with no record of its own to keep up."""
        newest: float | None = None
        for _, marker in self.scan("meta:segment:"):
            at = marker.get("applied_at") if isinstance(marker, dict) else None
            if isinstance(at, int | float) and (newest is None or at > newest):
                newest = float(at)
        return newest

    def reader_slots(self) -> tuple[int, int]:
        """(reader slots in use, the most there can be) of the lock file's reader table."""
        lines = self.env.readers().splitlines()  # a header line, then one line per slot
        if not lines or lines[0].startswith("(no active readers"):
            return 0, self.env.max_readers()
        return sum(1 for line in lines[1:] if line.strip()), self.env.max_readers()

    def agents(self) -> list[dict[str, Any]]:
        return [value for _, value in self.scan("agent:")]

    def set_aside_count(self) -> int:
        """How many damaged records write transactions have set aside so far."""
        return sum(1 for _ in self.scan(records.DAMAGED_PREFIX))

    def stats(self) -> dict[str, int]:
        info = self.env.info()
        stat = self.env.stat()
        used = (info["last_pgno"] + 1) * stat["psize"]
        return {"entries": stat["entries"], "used_bytes": used, "map_size": info["map_size"]}

    # -- derived totals --------------------------------------------------------------------

    def rebuild_totals(self) -> int:
        """Recompute every derived record from the facts, in one transaction."""
        with self.batch() as batch:
            return rebuild(batch)


def rebuild(batch: WriteBatch) -> int:
    """Recompute every derived record from the facts stored in `batch`'s transaction.

    Returns the number of derived records. Derived records that no fact supports any more
    are deleted. Facts must already be stored (not only set on the batch).
    """
    derived = recompute.from_facts(*(batch.scan(prefix) for prefix in FACT_PREFIXES))
    for prefix in DERIVED_PREFIXES:
        for key, _ in list(batch.scan(prefix)):
            if key not in derived:
                batch.delete(key)
    for key, value in derived.items():
        if batch.get(key) != value:
            batch.set(key, value)
    batch.set("meta:derived", DERIVED_VERSION)
    batch.set("meta:scoring", SCORING_VERSION)
    return len(derived)


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _is_dbid(value: object) -> bool:
    return type(value) is str and len(value) == 16 and not value.strip("0123456789abcdef")


def _reason(exc: lmdb.Error) -> str:
    """LMDB's message without the name of the C function that failed."""
    return str(exc).split(": ", 1)[-1] or type(exc).__name__


def _set_aside(damaged: dict[str, bytes], txn: lmdb.Transaction, codec: Codec) -> None:
    """Keep each damaged value under `damaged:<key>`, and remove it from its key unless the
    transaction has already replaced it by a good value (a key of a packed kind may also be
    found in its text form: whichever holds the damaged bytes)."""
    for key, raw in damaged.items():
        aside = records.aside_key(key)
        txn.put(codec.key(aside), dump(records.aside_record(key, raw)))
        for raw_key in {codec.key(key), keys.physical(key, packed=False)}:
            if txn.get(raw_key) == raw:
                txn.delete(raw_key)


def _pack_facts(
    txn: lmdb.Transaction,
    legacy: Codec,
    codec: Codec,
    prefix: bytes,
    start: bytes,
    damaged: dict[str, bytes],
) -> bytes | None:
    """Move up to `UPGRADE_STEP` facts under the text `prefix`, from `start` on, to their
    packed keys; where the next step starts, or None when none is left. A damaged one is
    noted in `damaged` (set aside when the upgrade ends)."""
    cursor = txn.cursor()
    step: list[tuple[bytes, bytes]] = []
    if cursor.set_range(start):
        for raw_key, raw in cursor:
            if not bytes(raw_key).startswith(prefix) or len(step) == UPGRADE_STEP:
                break
            step.append((bytes(raw_key), bytes(raw)))
    if not step:
        return None
    for old_key, raw in step:
        key = old_key.decode("utf-8", "replace")
        new_key = codec.key(key)
        if new_key == old_key:
            continue  # cannot be packed: stays a text key, valid in format 3
        value = legacy.decode(key, old_key, raw)
        if value is DAMAGED:
            damaged[key] = raw
            continue
        txn.put(new_key, codec.encode(new_key, value))
        txn.delete(old_key)
    return step[-1][0] + b"\x00"
