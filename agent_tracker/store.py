"""The central LMDB database: keys, records, batch writes and derived totals.

One unnamed LMDB database holds UTF-8 keys and JSON values:

| key | kind | value |
|---|---|---|
| `meta:format`, `meta:scoring`, `meta:derived` | meta | versions of format, scoring, summaries |
| `meta:dbid`, `meta:origin` | meta | this database's random id, and the host and path it is for |
| `meta:segment:<id>` | meta | a journal segment applied here (exactly-once marker) |
| `meta:migrated:<source>` | meta | a source database merged (or found unreadable), its stamp |
| `commit:<project>:<hash>` | fact | the commit, its setup and how the setup was decided |
| `communication:<project>:<hash>:<party>` | fact | a party's (agent/user) grade of it |
| `usage:<dbid>:<project>:<setup>:<day>[:<ctx>]` | fact | usage counted by `dbid` (see `facts`) |
| `replaced:<project>:<hash>` | fact | a commit replaced by its amendment |
| `agent:<setup>` | derived | per-setup totals: XP, commits, communication score, grade mix |
| `project:<project>` | derived | project identity, name, language mix, commit count |
| `day:<day>:<setup>:<project>:<ifp>` | derived | one day's usage, commits, graded commits |
| `reverts:<project>:<hash>` | derived | the counted commits that revert this commit |

`<project>` and `<setup>` are 16-hex-digit hashes (`events.project_id`, `events.setup_id`),
`<ctx>` hashes the session and instructions fingerprint a usage counter is for, and `<ifp>` is
the instructions fingerprint (`-` when unknown; see `keys`), so no key comes near LMDB's
511-byte limit whatever the names. Fact keys are unique across databases and machines, so
merging databases key by key is a lossless union, and the derived records can always be
recomputed from the facts (`rebuild_totals`).

Format history: format 1 had no `<ctx>` and no `<ifp>` and counted only tool calls and
commands. A format-1 database opened for writing is brought forward in place: its facts stay
as they are (a usage key without `<ctx>` is still the key of events without a session), its
derived records are rebuilt from them, then `meta:format` becomes 2. An older agent-tracker
refuses a format-2 database with a clear message instead of misreading it.

Scoring history: scoring 2 (derived version 3) adds per-party grade aggregates and revert
counts to setup and day records (see `totals`). A database of scoring 1 or derived version 2
opened for writing is rebuilt from its facts, once, in one transaction, which also marks it
with the new versions; until then a reader finds the new fields missing and counts them 0.

Writes happen in one transaction per flush through `WriteBatch`: values are read once, changed
in memory, and written with one `put` per distinct key by `put_batch`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import lmdb
import orjson

from agent_tracker import recompute
from agent_tracker.errors import DatabaseFullError, FormatError, TrackerError
from agent_tracker.keys import agent_key, commit_key, communication_key, segment_key
from agent_tracker.paths import make_private_dir

DB_FORMAT = 2
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


def _dump(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


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


class WriteBatch:
    """Reads and writes within one LMDB write transaction; writes land on `commit`.

    `get` returns decoded values (cached, including this batch's own changes); `set` only
    records the new value, so repeated updates of one key cost one put in the end.
    """

    def __init__(self, txn: lmdb.Transaction | None) -> None:
        # txn None: nothing stored yet (the report's overlay over a missing database).
        self.txn = txn
        self._cache: dict[str, Any] = {}
        self._dirty: set[str] = set()

    def get(self, key: str) -> Any:
        if key in self._cache:
            return self._cache[key]
        raw = None if self.txn is None else self.txn.get(key.encode())
        value = None if raw is None else orjson.loads(raw)
        self._cache[key] = value
        return value

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    def set(self, key: str, value: Any) -> None:
        self._cache[key] = value
        self._dirty.add(key)

    def delete(self, key: str) -> None:
        """Remove `key` when the batch is written (a `None` value in `changes`)."""
        self.set(key, None)

    def put_now(self, key: str, value: Any) -> None:
        """Store `value` under `key` at once (for merges: `rebuild` must see it)."""
        if self.txn is None:
            raise TrackerError("put_now needs a write transaction")
        self.txn.put(key.encode(), _dump(value))
        self._cache[key] = value

    def delete_now(self, key: str) -> None:
        """Remove `key` at once (for merges: `rebuild` must not see it)."""
        if self.txn is None:
            raise TrackerError("delete_now needs a write transaction")
        self.txn.delete(key.encode())
        self._cache[key] = None
        self._dirty.discard(key)

    def put_absent(self, key: str, raw: bytes) -> bool:
        """Store `raw` under `key` at once, unless the key exists; True when stored.

        For merging facts (migrate, import): written straight into the transaction, so that
        `rebuild` in the same transaction sees them; never overwrites.
        """
        if self.txn is None:
            raise TrackerError("put_absent needs a write transaction")
        if key in self._cache and self._cache[key] is not None:
            return False
        return bool(self.txn.put(key.encode(), raw, overwrite=False))

    def scan(self, prefix: str) -> Iterator[tuple[str, Any]]:
        """Stored (key, value) pairs under `prefix`, as committed before this batch."""
        if self.txn is None:
            return iter(())
        return _iter_txn(self.txn, prefix)

    def scan_range(self, low: str, high: str) -> Iterator[tuple[str, Any]]:
        """Stored (key, value) pairs with low <= key <= high, in key order."""
        if self.txn is None:
            return
        cursor = self.txn.cursor()
        if not cursor.set_range(low.encode()):
            return
        stop = high.encode()
        for key, value in cursor:
            if bytes(key) > stop:
                break
            yield bytes(key).decode(), orjson.loads(value)

    def changes(self) -> dict[str, Any]:
        return {key: self._cache[key] for key in self._dirty}


class LMDBDatabase:
    """The central database. Open it with `LMDBDatabase.open_write` or `open_read`."""

    def __init__(self, env: lmdb.Environment, path: Path, map_size: int) -> None:
        self.env = env
        self.path = path
        self.map_size = map_size
        #: Statistics of this handle, for tests and `flush` summaries.
        self.puts = 0
        self.write_transactions = 0
        self._dbid: str | None = None

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open_write(cls, path: Path, map_size: int) -> LMDBDatabase:
        make_private_dir(path)
        try:
            env = lmdb.open(
                str(path),
                map_size=map_size,
                subdir=True,
                mode=0o600,
                max_dbs=0,
                metasync=True,
                sync=True,
            )
        except lmdb.Error as exc:
            raise TrackerError(f"cannot open database {path}: {exc}") from None
        db = cls(env, path, map_size)
        try:
            db._initialise()
        except BaseException:
            env.close()
            raise
        return db

    @classmethod
    def open_read(cls, path: Path, map_size: int) -> LMDBDatabase | None:
        """A read-only handle, or None when the database does not exist yet."""
        if not (path / "data.mdb").exists():
            return None
        try:
            env = lmdb.open(str(path), map_size=map_size, subdir=True, readonly=True, max_dbs=0)
        except lmdb.Error as exc:
            raise TrackerError(f"cannot open database {path}: {exc}") from None
        db = cls(env, path, map_size)
        db._check_format()
        return db

    def close(self) -> None:
        self.env.close()

    def __enter__(self) -> LMDBDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_format(self) -> None:
        with self.env.begin() as txn:
            raw = txn.get(b"meta:format")
            scoring = txn.get(b"meta:scoring")
        for what, raw_value, known in (
            ("format", raw, DB_FORMAT),
            ("scoring version", scoring, SCORING_VERSION),
        ):
            found = None if raw_value is None else orjson.loads(raw_value)
            if isinstance(found, int) and found > known:
                raise FormatError(
                    f"database {self.path} has {what} {found}; this agent-tracker understands "
                    f"{what} {known} or older: upgrade agent-tracker"
                )

    def _initialise(self) -> None:
        self._check_format()
        with self.env.begin() as txn:
            found = txn.get(b"meta:format")
            origin = txn.get(b"meta:origin")
        if found is not None:
            older = orjson.loads(found) != DB_FORMAT  # not newer: _check_format refused that
            if older or self.derived_outdated():
                self.rebuild_totals()
            if older:  # brought forward by the rebuild; marked only once it is committed
                with self.env.begin(write=True) as txn:
                    txn.put(b"meta:format", _dump(DB_FORMAT))
            if origin is None or orjson.loads(origin) != self._origin():
                self._new_identity(keep_id=origin is None)
            return
        with self.env.begin(write=True) as txn:
            txn.put(b"meta:format", _dump(DB_FORMAT), overwrite=False)
            txn.put(b"meta:scoring", _dump(SCORING_VERSION), overwrite=False)
            txn.put(b"meta:dbid", _dump(os.urandom(8).hex()), overwrite=False)
            txn.put(b"meta:derived", _dump(DERIVED_VERSION), overwrite=False)
            txn.put(b"meta:origin", _dump(self._origin()), overwrite=False)

    def _origin(self) -> dict[str, str]:
        import socket

        return {"host": socket.gethostname(), "path": os.path.realpath(self.path)}

    def _new_identity(self, *, keep_id: bool) -> None:
        """A database found on another machine or path (a copy, a restore) counts from now
        on under a new id: usage counters are keyed by the id of the database that counted,
        so the copy's counts and the original's add up when they are merged again, instead
        of one overwriting the other."""
        with self.env.begin(write=True) as txn:
            if not keep_id:
                txn.put(b"meta:dbid", _dump(os.urandom(8).hex()))
            txn.put(b"meta:origin", _dump(self._origin()))

    def derived_outdated(self) -> bool:
        """True when derived records predate DERIVED_VERSION or SCORING_VERSION (they are
        rebuilt on write)."""
        with self.env.begin() as txn:
            derived, scoring = txn.get(b"meta:derived"), txn.get(b"meta:scoring")
        for raw, known in ((derived, DERIVED_VERSION), (scoring, SCORING_VERSION)):
            found = 0 if raw is None else orjson.loads(raw)
            if isinstance(found, int) and found < known:
                return True
        return False

    def is_applied(self, segment_id: str) -> bool:
        """Whether a flush already applied this journal segment (exactly-once marker)."""
        with self.env.begin() as txn:
            return txn.get(segment_key(segment_id).encode()) is not None

    @property
    def dbid(self) -> str:
        if self._dbid is None:
            with self.env.begin() as txn:
                raw = txn.get(b"meta:dbid")
            if raw is None:
                raise TrackerError(f"database {self.path} has no id (meta:dbid)")
            self._dbid = str(orjson.loads(raw))
        return self._dbid

    # -- writing ---------------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[WriteBatch]:
        """One write transaction: changes made on the batch are written when the block ends."""
        try:
            with self.env.begin(write=True) as txn:
                batch = WriteBatch(txn)
                yield batch
                self.put_batch(batch.changes(), txn)
                self.write_transactions += 1
        except lmdb.MapFullError:
            raise DatabaseFullError(
                f"database {self.path} is full at max_database_size {self.map_size} bytes; "
                "nothing was written and every pending event is kept. Raise the limit, e.g. "
                "`agent-tracker config set max_database_size 1GiB`, then flush again"
            ) from None

    def put_batch(self, items: dict[str, Any], txn: lmdb.Transaction | None = None) -> int:
        """Write several records atomically; a `None` value deletes its key.

        Within `txn` when given (how `batch` and so `flush` write), else in a transaction of
        its own. Returns the number of keys written or deleted.
        """
        if txn is None:
            with self.batch() as batch:
                for key, value in items.items():
                    batch.set(key, value)
            return len(items)
        puts = sorted((k.encode(), _dump(v)) for k, v in items.items() if v is not None)
        with txn.cursor() as cursor:
            _, added = cursor.putmulti(puts)
        if added != len(puts):
            raise TrackerError(f"database {self.path}: wrote {added} of {len(puts)} keys")
        for key, value in items.items():
            if value is None:
                txn.delete(key.encode())
        self.puts += len(items)
        return len(items)

    # -- single records (the spec's Database interface) --------------------------------------

    def get(self, key: str) -> Any:
        with self.env.begin() as txn:
            raw = txn.get(key.encode())
        return None if raw is None else orjson.loads(raw)

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
        """Every (key, value) whose key starts with `prefix`, in key order."""
        with self.env.begin() as txn:
            yield from _iter_txn(txn, prefix)

    def agents(self) -> list[dict[str, Any]]:
        return [value for _, value in self.scan("agent:")]

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


def _iter_txn(txn: lmdb.Transaction, prefix: str) -> Iterator[tuple[str, Any]]:
    raw_prefix = prefix.encode()
    cursor = txn.cursor()
    if not cursor.set_range(raw_prefix):
        return
    for key, value in cursor:
        if not bytes(key).startswith(raw_prefix):
            break
        yield bytes(key).decode(), orjson.loads(value)
