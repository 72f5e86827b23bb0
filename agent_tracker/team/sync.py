"""`team sync`, the local side: which facts to push, and the watermark that says what the
team server already has.

Invariants:

- The central LMDB database is only read (a read-only handle, never the writer lock), so a
  sync never stands in the way of capture, flush or git.
- The watermark (`team-sync.state` in the journal folder, written atomically) maps each
  pushed fact (by its stored key) to a short digest of its stored bytes, and names the
  server (host, port, database: never a password), the member and the sharing choice. A
  fact is pushed when its digest differs: new facts, grown usage counts, newer grades, and
  everything again after a change of server, member or `share_project_names`.
- The watermark advances only after `server.push` returned, that is after the server
  committed. A sync killed at any instant, or a server stopped in the middle, leaves the
  watermark behind the server at worst; the next sync pushes those facts again and the
  server's merge (the rules of `import`) makes that a no-op. Totals stay exact.
- Facts go in chunks of whole projects (the server recomputes a project's day cells once
  per push that touches it), so a long first sync keeps what it did if it is interrupted.
- One sync at a time per journal folder (`team-sync.lock`); a background sync finding it
  taken leaves at once.
- The outcome of the last attempt (`team-status.json`) is what `doctor` and `status` show:
  "team sync postponed: <why>; last synced <when>". Nothing is lost by a failed sync.

psycopg is imported by `team.server` only, and only when a sync or a team report runs.
"""

from __future__ import annotations

import getpass
import itertools
import operator
import os
import sys
import time
import zlib
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import orjson

from agent_tracker import detached, facts, fsio, paths
from agent_tracker.config import Settings
from agent_tracker.errors import TrackerError, UsageError
from agent_tracker.team.connection import server_identity
from agent_tracker.team.sharing import shared_form
from agent_tracker.words import plural

STATE_FILE = "team-sync.state"
STATUS_FILE = detached.TEAM_STATUS
LOCK_FILE = "team-sync.lock"
STATE_VERSION = 2
#: Facts per push (whole projects are never split, so a push may hold more).
CHUNK = 5000
#: How long `team sync` by hand waits for a sync that is running (seconds).
LOCK_WAIT = 60.0
NEEDS_DRIVER = "the team features need psycopg: pip install 'agent-tracker[team]'"
NOT_CONFIGURED = (
    "no team server configured: `agent-tracker config set team_database_url "
    "postgresql://USER@HOST/DATABASE` (the password goes in ~/.pgpass or PGPASSWORD)"
)


def require_driver() -> None:
    """Raise the install hint when psycopg is missing (checked before anything connects)."""
    try:
        import psycopg  # noqa: F401 - loaded by `server` next anyway
    except ImportError:
        raise TrackerError(NEEDS_DRIVER) from None


def team_url(settings: Settings) -> str:
    url = settings.team_database_url
    if url is None:
        raise UsageError(NOT_CONFIGURED)
    return url


def member_name(settings: Settings) -> str:
    """The configured `team_member`, else `git config user.name`, else the login name."""
    if settings.team_member:
        return settings.team_member
    import subprocess

    try:
        name = subprocess.run(
            ["git", "config", "--get", "user.name"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        name = ""
    if not name:
        try:
            name = getpass.getuser()
        except (OSError, KeyError):
            name = "unknown"
    return name[:100]


# -- the watermark and the status file -------------------------------------------------------


def _path(settings: Settings, name: str) -> str:
    return os.path.join(settings.journal_folder, name)  # noqa: PTH118 - str paths, as fsio


def _read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as handle:
            data = orjson.loads(handle.read())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


#: A fact's identity in the watermark: (crc32, adler32) of its stored key; its mark: the
#: same of its stored bytes. 64 bits each, computed in C (collisions would need both sums at
#: once, and nothing here is adversarial: the machine's owner writes its facts).
Digest = tuple[int, int]


@dataclass
class Watermark:
    """What the server has of this machine's facts: a mark per block of stored records (a
    project's commits and grades; the usage counts; ...) and per record. The per-record
    marks are read only when a block changed (`marks`)."""

    blocks: dict[str, list[int]] = field(default_factory=dict)
    body: bytes = b""
    byteorder: str = sys.byteorder
    pool: str | None = None  # the server's pool id these marks are about (`server.pool_id`)
    _marks: dict[Digest, Digest] | None = None

    @property
    def marks(self) -> dict[Digest, Digest]:
        if self._marks is None:
            sums = array("I")
            sums.frombytes(self.body)
            if self.byteorder != sys.byteorder:
                sums.byteswap()
            n = len(sums) // 4
            ids = zip(sums[:n], sums[n : 2 * n], strict=True)
            self._marks = dict(
                zip(ids, zip(sums[2 * n : 3 * n], sums[3 * n :], strict=True), strict=True)
            )
        return self._marks


def load_state(settings: Settings, server: str, member: str, share: bool) -> Watermark:
    """What is already on `server` for `member`; empty when the watermark is missing,
    damaged, of another format or about another server, member or sharing choice."""
    try:
        with open(_path(settings, STATE_FILE), "rb") as handle:
            raw = handle.read()
    except OSError:
        return Watermark()
    header, _, body = raw.partition(b"\n")
    try:
        meta = orjson.loads(header)
    except orjson.JSONDecodeError:
        return Watermark()
    wanted = {"v": STATE_VERSION, "server": server, "member": member, "share": share}
    if not isinstance(meta, dict) or any(meta.get(k) != v for k, v in wanted.items()):
        return Watermark()
    blocks = meta.get("blocks")
    if len(body) % 16 or meta.get("byteorder") not in ("little", "big") or type(blocks) is not dict:
        return Watermark()
    pool = meta.get("pool")
    return Watermark(blocks, body, meta["byteorder"], pool if isinstance(pool, str) else None)


def save_state(
    settings: Settings,
    server: str,
    member: str,
    share: bool,
    marks: dict[Digest, Digest],
    blocks: dict[str, list[int]],
    pool: str | None = None,
) -> None:
    """Write the watermark atomically: a JSON line naming the server, member and sharing
    choice with the block marks, then the four sums of every record as columns of unsigned
    32-bit numbers (a year of heavy use, some 270,000 facts, is 4 MB)."""
    paths.make_private_dir(settings.journal_folder)
    meta = {"v": STATE_VERSION, "server": server, "member": member, "share": share}
    meta |= {"byteorder": sys.byteorder, "blocks": blocks, "pool": pool}
    first, second = itemgetter(0), itemgetter(1)
    sums = array("I", map(first, marks.keys()))
    sums.extend(map(second, marks.keys()))
    sums.extend(map(first, marks.values()))
    sums.extend(map(second, marks.values()))
    fsio.atomic_write(_path(settings, STATE_FILE), orjson.dumps(meta) + b"\n" + sums.tobytes())


def read_status(settings: Settings) -> dict[str, Any] | None:
    """The outcome of the last sync attempt (see `record_status`), None before the first."""
    return _read_json(_path(settings, STATUS_FILE))


def record_status(settings: Settings, error: str | None, result: SyncResult | None) -> None:
    """Remember the last attempt for `doctor` and `status`; never raises."""
    previous = read_status(settings) or {}
    now = time.time()
    status: dict[str, Any] = {
        "v": 1,
        "attempt_at": now,
        "ok": error is None,
        "error": error,
        "last_synced_at": now if error is None else previous.get("last_synced_at"),
        "server": result.server if result else previous.get("server"),
    }
    try:
        paths.make_private_dir(settings.journal_folder)
        fsio.atomic_write(_path(settings, STATUS_FILE), orjson.dumps(status), durable=False)
    except OSError:
        pass


def status_line(settings: Settings, now: float | None = None) -> str | None:
    """One line on the team sync for `doctor` and `status`; None when no pool is set up."""
    try:
        url = settings.team_database_url
    except UsageError as exc:
        return f"team sync: not possible: {exc}"
    if url is None:
        return None
    status = read_status(settings)
    last = _ago(status.get("last_synced_at") if status else None, now)
    if status is None:
        return f"team sync: never run yet to {server_identity(url)}"
    if not status.get("ok"):
        return f"team sync postponed: {status.get('error')}; last synced {last}"
    return f"team sync: last synced {last} to {status.get('server') or server_identity(url)}"


def _ago(when: object, now: float | None) -> str:
    if not isinstance(when, int | float):
        return "never"
    seconds = max(0, int((time.time() if now is None else now) - when))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


# -- choosing what to push -------------------------------------------------------------------


@dataclass
class Selection:
    machine: str | None
    #: (key, kind, shared body) of every fact whose digest differs, by project.
    by_project: dict[str, list[tuple[str, str, dict[str, Any]]]] = field(default_factory=dict)
    #: The marks of the records of every changed block now, by identity.
    digests: dict[Digest, Digest] = field(default_factory=dict)
    #: The identity and the block of each selected fact, by its text key.
    tags: dict[str, Digest] = field(default_factory=dict)
    block_of: dict[str, str] = field(default_factory=dict)
    #: The mark of every block now.
    blocks: dict[str, list[int]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(items) for items in self.by_project.values())


def select(settings: Settings, known: Watermark, share: bool) -> Selection:
    """The facts of the central database that the server does not have in this form.

    A sync runs after every flush, so this must cost little on a year of heavy use. The
    stored records of the fact ranges are read in blocks (one per project for commits and
    grades, whose stored keys start with the project; one per range for the others), each
    block's keys and values as lists made by the cursor in C, and a block is marked by
    checksums of its joined keys and joined values: an unchanged block (most of them) costs
    nothing more. In a changed block each record is marked the same way (a fact is written
    whole, so its bytes change exactly when it does), and only records whose mark differs
    from the watermark's are decoded and, when they are facts, given their shared form.
    """
    from agent_tracker.records import DAMAGED, Codec
    from agent_tracker.store import LMDBDatabase

    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    if db is None:
        return Selection(machine=None)
    with db:
        selection = Selection(machine=db.dbid)
        by_project, tags = selection.by_project, selection.tags
        txn = db.read()
        try:
            codec = Codec(txn)
            ranges = sorted({r for prefix in facts.PREFIX_KIND for r in codec.ranges(prefix)})
            cursor = txn.cursor()
            for start, stop in ranges:
                for block, keys, values in _blocks(cursor, start, stop):
                    joined = b"".join(values)
                    mark = [zlib.crc32(b"".join(keys)), zlib.crc32(joined)]
                    mark += [zlib.adler32(joined), len(keys)]
                    selection.blocks[block] = mark
                    if known.blocks.get(block) == mark:
                        continue
                    ids = list(zip(map(zlib.crc32, keys), map(zlib.adler32, keys), strict=True))
                    marks = list(
                        zip(map(zlib.crc32, values), map(zlib.adler32, values), strict=True)
                    )
                    selection.digests.update(zip(ids, marks, strict=True))
                    changed = map(operator.ne, map(known.marks.get, ids), marks)
                    for index in itertools.compress(range(len(ids)), changed):
                        key = codec.logical(keys[index])
                        kind = None if key is None else facts.kind_of_key(key)
                        if key is None or kind is None:
                            continue  # not a fact (names, indexes) in a shared range
                        fact = codec.decode(key, keys[index], values[index])
                        if fact is DAMAGED:
                            continue  # `rebuild` sets it aside; nothing to share
                        tags[key] = ids[index]
                        selection.block_of[key] = block
                        body = shared_form(kind, fact, share)
                        by_project.setdefault(body["project"], []).append((key, kind, body))
        finally:
            txn.abort()
    return selection


#: Stored commit and grade keys start with this many bytes naming their project.
_PROJECT_PREFIX = 9


def _blocks(
    cursor: Any, start: bytes, stop: bytes | None
) -> Iterator[tuple[str, list[bytes], list[bytes]]]:
    """(block name, keys, values) of the records in [start, stop): one block per project
    in the packed range of commits and grades, else one for the range."""
    from agent_tracker.keys import FACT

    position = start
    while cursor.set_range(position):
        first = cursor.key()
        if stop is not None and first >= stop:
            return
        if start != FACT:
            end = stop
        else:
            end = _after(first[:_PROJECT_PREFIX])
            end = end if stop is None or (end is not None and end < stop) else stop
        listed = cursor.iternext(keys=True, values=False)
        keys = list(itertools.takewhile(end.__gt__, listed) if end is not None else listed)
        cursor.set_range(first)
        values = list(itertools.islice(cursor.iternext(keys=False, values=True), len(keys)))
        yield (first[:_PROJECT_PREFIX] if start == FACT else start).hex(), keys, values
        if end is None or start != FACT:
            return
        position = end


def _after(prefix: bytes) -> bytes | None:
    """The first bytes after every key that starts with `prefix` (None: to the end)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def chunks(
    selection: Selection, size: int = CHUNK
) -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
    """The selected facts in pushes of whole projects, about `size` facts each."""
    batch: list[tuple[str, str, dict[str, Any]]] = []
    for project in sorted(selection.by_project):
        batch.extend(selection.by_project[project])
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- one sync ---------------------------------------------------------------------------------


@dataclass
class SyncResult:
    server: str
    member: str
    facts: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    projects: int = 0
    pushes: int = 0
    busy: bool = False
    seconds: float = 0.0

    def summary(self) -> str:
        if self.busy:
            return "busy: another team sync is running; it pushes what there is"
        if not self.facts:
            return f"nothing new to sync to {self.server} as member {self.member}"
        return (
            f"synced {plural(self.facts, 'fact')} ({self.added} added, {self.updated} updated) "
            f"to {self.server} as member {self.member}"
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def sync(
    settings: Settings,
    *,
    wait: float = LOCK_WAIT,
    connect: Callable[[str], Any] | None = None,
    check: bool = False,
    full: bool = False,
) -> SyncResult:
    """Push what the server lacks; raises TeamError (server.py) or TrackerError.

    With nothing new here the server is not contacted, unless `check` (a sync run by a
    person): then a server that is not the pool the watermark was made for (emptied and
    made again) gets everything again, as it does whenever a sync finds that. `full` sends
    everything whatever the watermark says (after restoring the server from a backup)."""
    url = team_url(settings)
    member = member_name(settings)
    share = settings.share_project_names
    server_id = server_identity(url)
    result = SyncResult(server=server_id, member=member)
    started = time.monotonic()
    paths.make_private_dir(settings.journal_folder)
    lock = fsio.open_private(_path(settings, LOCK_FILE), os.O_RDWR | os.O_CREAT)
    try:
        import fcntl

        if not fsio.flock_within(lock, fcntl.LOCK_EX, wait):
            result.busy = True
            return result
        _sync_locked(settings, url, member, share, result, connect, check=check, full=full)
    finally:
        os.close(lock)
    result.seconds = round(time.monotonic() - started, 3)
    return result


@dataclass
class _Plan:
    """The watermark to be: the old marks of every unchanged block, the new ones of changed
    blocks except for the facts still to push (their old mark, or none); and how many facts
    of each changed block are still to push."""

    done: dict[Digest, Digest]
    pending: dict[str, int]
    blocks: dict[str, list[int]]

    @classmethod
    def of(cls, known: Watermark, selection: Selection) -> _Plan:
        done = dict(known.marks)
        done.update(selection.digests)
        for tag in selection.tags.values():
            old = known.marks.get(tag)
            if old is None:
                done.pop(tag, None)
            else:
                done[tag] = old
        pending: dict[str, int] = {}
        for block in selection.block_of.values():
            pending[block] = pending.get(block, 0) + 1
        blocks = {b: m for b, m in selection.blocks.items() if b not in pending}
        for block in pending:
            if block in known.blocks:
                blocks[block] = known.blocks[block]
        return cls(done, pending, blocks)


def _sync_locked(
    settings: Settings,
    url: str,
    member: str,
    share: bool,
    result: SyncResult,
    connect: Callable[[str], Any] | None,
    *,
    check: bool = False,
    full: bool = False,
) -> None:
    known = Watermark() if full else load_state(settings, result.server, member, share)
    selection = select(settings, known, share)
    machine = selection.machine
    if machine is None:
        return  # no database yet: nothing to share
    if selection.blocks == known.blocks and not check:
        return  # nothing new: the server is not even contacted
    from agent_tracker.team import server

    conn = (connect or server.connect)(url)
    try:
        server.ensure_schema(conn)
        pool = server.pool_id(conn)
        if pool != known.pool and known.blocks:  # another pool behind this address
            known = Watermark()
            selection = select(settings, known, share)
        plan = _Plan.of(known, selection)
        if not selection.tags:  # records changed, no fact to push (set aside, names)
            if plan.blocks != known.blocks or pool != known.pool:
                save_state(settings, result.server, member, share, plan.done, plan.blocks, pool)
            return
        # The watermark advances once a push returned: it must be durable by then, even on a
        # server set for speed (synchronous_commit off loses commits in a crash).
        try:
            conn.execute("SET synchronous_commit = on")
        except Exception as exc:  # noqa: BLE001 - psycopg's errors, said as the server says them
            raise server.error_of(exc, server.describe(url)) from None
        done, pending, blocks = plan.done, plan.pending, plan.blocks
        for items in chunks(selection):
            pushed = server.push(conn, member, machine, items)
            for key, _, _ in items:
                tag = selection.tags[key]
                done[tag] = selection.digests[tag]
                block = selection.block_of[key]
                pending[block] -= 1
                if not pending[block]:
                    blocks[block] = selection.blocks[block]
            save_state(settings, result.server, member, share, done, blocks, pool)
            result.pushes += 1
            result.facts += len(items)
            result.added += int(getattr(pushed, "added", 0))
            result.updated += int(getattr(pushed, "updated", 0))
            result.unchanged += int(getattr(pushed, "unchanged", 0))
            result.projects += int(getattr(pushed, "projects", 0))
    finally:
        conn.close()
