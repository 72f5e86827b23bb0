"""Reading stored values, and telling a damaged record from a good one.

Every value in the database is JSON of a shape its key calls for (see `store`). A value
that is not JSON (a torn page restored from a bad copy, a hand edit, another program), or
whose shape is not the one its key calls for, is *damaged*: `decode` returns `DAMAGED` for
it instead of raising, so that no command dies on one bad record.

- Readers (`report`, `status`, `export`) skip damaged records and count them.
- A write transaction that meets one sets it aside (`set_aside`: its raw bytes are kept
  under `damaged:<key>` for inspection and never read as data again), then rebuilds every
  derived record from the facts, which a damaged fact or summary may have put out of step
  (see `store.LMDBDatabase.batch`).

What a shape check asks is what the code that reads a record relies on: a fact must pass
`facts.check` (the check an imported fact passes); a derived record must hold the fields
every version of it had, of the right types (newer fields are optional: a reader counts a
missing one as 0); a meta marker must be a JSON object.
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any, Final

import orjson

from agent_tracker import events, facts, keys, totals

if TYPE_CHECKING:
    import lmdb

#: Prefix of the records a write transaction set aside (see the module docstring).
DAMAGED_PREFIX = "damaged:"
#: What `decode` returns for a damaged value.
DAMAGED: Final = object()
_MAX_KEY = 511

_IDENTITY = ("harness", "agent", "model")
_HEX = "0123456789abcdef"
_SETUP_COUNTS = ("xp", "commits", "score", "grades", "graded_commits", "tool_calls", "commands")
_DAY_COUNTS = ("commits", "graded_commits", "score", "score_sq", "grades", "tool_calls", "commands")
_PROJECT_COUNTS = ("commits", "tool_calls", "commands")


def decode(key: str, raw: bytes, *, shape: bool = True) -> Any:
    """The value stored under `key`, or `DAMAGED` (see the module docstring). Without
    `shape`, any JSON is good (the spec's generic get/put interface)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return DAMAGED
    return value if not shape or fits(key, value) else DAMAGED


def fits(key: str, value: Any) -> bool:
    """Whether `value` has the shape that records under `key` have."""
    kind = facts.kind_of_key(key)
    if kind is not None:
        try:
            facts.check(kind, value)
        except facts.BadFact:
            return False
        return True
    if key.startswith("agent:"):
        return _has(value, _IDENTITY, _SETUP_COUNTS, ("mix",)) and _days(value)
    if key.startswith("day:"):
        return _has(value, (*_IDENTITY, "project", "day"), _DAY_COUNTS, ("mix", "sources"))
    if key.startswith("project:"):
        return _has(value, ("project", "name"), _PROJECT_COUNTS, ("exts",)) and _days(value)
    if key.startswith("reverts:"):
        by = value.get("by") if type(value) is dict else None
        return (
            _has(value, ("project", "hash"), (), ())
            and type(by) is list
            and all(type(item) is str for item in by)
        )
    if key.startswith(("meta:segment:", "meta:migrated:", DAMAGED_PREFIX)):
        return type(value) is dict
    return True


def _number(value: object) -> bool:
    return type(value) is int or type(value) is float


def _has(
    value: object, texts: tuple[str, ...], counts: tuple[str, ...], maps: tuple[str, ...]
) -> bool:
    """A JSON object with these text fields, number fields and maps of numbers, and no
    other field a number where a number is expected (newer optional counts)."""
    # Plain loops over precomputed tuples: a report checks every day record it reads, and
    # this was a third of its build time with generator expressions.
    if type(value) is not dict:
        return False
    get = value.get
    for name in texts:
        if type(get(name)) is not str:
            return False
    for name in counts:
        if type(get(name)) not in _NUMBER_TYPES:
            return False
    for name in maps:
        found = get(name)
        if type(found) is not dict:
            return False
        for n in found.values():
            if type(n) not in _NUMBER_TYPES:
                return False
    for name in _OPTIONAL:  # noqa: SIM110 - a loop, not all(): see above
        if name in value and type(value[name]) not in _NUMBER_TYPES:
            return False
    return True


def _days(value: dict[str, Any]) -> bool:
    return all(value.get(name) is None or type(value[name]) is str for name in _DAY_FIELDS)


_DAY_FIELDS = ("first_day", "last_day")
#: Counts added by later versions of the derived records (absent: 0).
_OPTIONAL_COUNTS = (*totals.COMMIT_FIGURES, *totals.PARTY_FIELDS, totals.REVERTED)
_OPTIONAL = (*facts.USAGE_COUNTS, *_OPTIONAL_COUNTS)
_NUMBER_TYPES = frozenset((int, float))


def aside_key(key: str) -> str:
    """Where a damaged record is kept (bounded to LMDB's key limit, however long `key`)."""
    aside = DAMAGED_PREFIX + key
    if len(aside.encode()) <= _MAX_KEY:
        return aside
    import hashlib

    return DAMAGED_PREFIX + "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def aside_record(key: str, raw: bytes) -> dict[str, Any]:
    """The record that keeps a damaged value: its key, its bytes (base64) and when."""
    return {
        "key": key,
        "value_base64": base64.b64encode(raw).decode("ascii"),
        "set_aside_at": round(time.time(), 3),
    }


# -- packed values (database format 3) -------------------------------------------------------
#
# A commit or grade under a packed key (see `keys.physical`) is stored as `PACKED` + the
# setup id (8 bytes) + an orjson array of its fields in a fixed order (`COMMIT_FIELDS`,
# `GRADE_FIELDS`), then, when there are any, a map of the other fields (and, under `ABSENT`,
# the fixed fields the fact does not have). An event id of 24 hex digits (what `events`
# makes) goes as 12 bytes after the setup id instead (`PACKED_ID`). The project and the hash
# are in the key, the party of a grade too; the names behind the setup and project ids are
# stored once per database (`keys.SETUP_NAMES`, `keys.PROJECT_NAMES`; when one is missing or
# damaged, the setup's or project's derived record still names it). A fact that cannot be
# packed (its fields disagree with its key, a name whose id is taken) is stored as JSON, as
# in format 2: a value that starts with neither marker is JSON in every format.

PACKED: Final = b"\x01"
PACKED_ID: Final = b"\x02"
COMMIT_FIELDS = (
    "ts",
    "files",
    "insertions",
    "deletions",
    "exts",
    "source",
    "subject",
    "author_time",
)
GRADE_FIELDS = ("ts", "grade", "note")
#: Key of the list of fixed fields a packed fact does not have.
ABSENT = "\x00"
_NAMED = frozenset(("harness", "agent", "model", "project", "hash"))


def dump(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def packed_form(txn: lmdb.Transaction | None) -> bool:
    """Whether the database of `txn` has format-3 keys (see `keys`): its `meta:format` says
    so; when that is missing or damaged, whether any packed record is there."""
    if txn is None:
        return True
    raw = txn.get(b"meta:format")
    try:
        found = None if raw is None else orjson.loads(raw)
    except orjson.JSONDecodeError:
        found = None
    if type(found) is int:
        return found >= 3
    cursor = txn.cursor()  # missing or damaged: what the keys say
    if cursor.set_range(keys.FACT) and bytes(cursor.key())[:1] < b" ":
        return True
    for prefix in (b"commit:", b"communication:"):
        if cursor.set_range(prefix) and bytes(cursor.key()).startswith(prefix):
            return False
    return True


class Codec:
    """Keys and values as one transaction's database stores them (format 3 or older)."""

    def __init__(self, txn: lmdb.Transaction | None, packed: bool | None = None) -> None:
        self.txn = txn
        self.packed = packed_form(txn) if packed is None else packed
        self._setups: dict[bytes, tuple[str, str, str] | None] = {}
        self._projects: dict[bytes, str | None] = {}
        #: Ids of the names packed so far (setup names, project names).
        self._ids: dict[Any, bytes] = {}

    def key(self, key: str) -> bytes:
        return keys.physical(key, self.packed)

    def logical(self, raw: bytes) -> str | None:
        return keys.logical(raw, self.packed)

    def ranges(self, low: str, high: str | None = None) -> list[tuple[bytes, bytes | None]]:
        return keys.physical_ranges(low, high, self.packed)

    # -- values ----------------------------------------------------------------------------

    def encode(self, raw_key: bytes, value: Any) -> bytes:
        """The bytes to store `value` under the physical key `raw_key` (may store the names
        behind its ids, once per database)."""
        kind = keys.packed_kind(raw_key)
        if kind is not None and type(value) is dict:
            packed = self._pack(kind, raw_key, value)
            if packed is not None:
                return packed
        return dump(value)

    def decode(self, key: str, raw_key: bytes, raw: bytes, *, shape: bool = True) -> Any:
        """The value stored under `raw_key` (text key `key`), or DAMAGED (see `decode`)."""
        if raw[:1] not in (PACKED, PACKED_ID) or keys.packed_kind(raw_key) is None:
            return decode(key, raw, shape=shape)
        try:
            value = self._unpack(raw_key, raw)
        except (orjson.JSONDecodeError, ValueError, TypeError, KeyError):
            return DAMAGED
        if value is None:
            return DAMAGED
        return value if not shape or fits(key, value) else DAMAGED

    def _pack(self, kind: str, raw_key: bytes, value: dict[str, Any]) -> bytes | None:
        names = tuple(value.get(name) for name in ("harness", "agent", "model"))
        project = value.get("project")
        if not all(type(name) is str for name in (*names, project)):
            return None
        grade = kind == "grade"
        if grade and value.get("by") != keys.party_of(raw_key):
            return None
        if value.get("hash") != raw_key[9:-1].hex():
            return None
        pid = raw_key[1:9]
        sid = self._ids.get(names)
        if sid is None:
            sid = self._ids[names] = bytes.fromhex(events.setup_id(*names))  # type: ignore[arg-type]
        if self._ids.get(project) != pid:
            if events.project_id(project) != pid.hex():  # type: ignore[arg-type]
                return None
            self._ids[project] = pid
        if not self._interned(keys.SETUP_NAMES + sid, list(names), self._setups, sid):
            return None
        if not self._interned(keys.PROJECT_NAMES + pid, project, self._projects, pid):
            return None
        fields = GRADE_FIELDS if grade else COMMIT_FIELDS
        skip = _NAMED | {"by"} if grade else _NAMED
        ident = value.get("id")
        head = PACKED + sid
        if type(ident) is str and len(ident) == 24 and not ident.strip(_HEX):
            head, skip = PACKED_ID + sid + bytes.fromhex(ident), skip | {"id"}
        row: list[Any] = [value.get(name) for name in fields]
        rest = {k: v for k, v in value.items() if k not in skip and k not in fields}
        absent = [name for name in fields if name not in value]
        if absent:
            rest[ABSENT] = absent
        if rest:
            row.append(rest)
        return head + orjson.dumps(row)

    def _interned(self, raw_key: bytes, names: Any, cache: dict[bytes, Any], ident: bytes) -> bool:
        """Whether the names record under `raw_key` holds `names`, storing it when absent."""
        wanted = tuple(names) if type(names) is list else names
        if cache.get(ident) is not None:
            return bool(cache[ident] == wanted)
        assert self.txn is not None
        raw = self.txn.get(raw_key)
        if raw is None:
            self.txn.put(raw_key, dump(names))
            cache[ident] = wanted
            return True
        found = _names(bytes(raw))
        if found is None:  # damaged: this fact's names are the truth (its id says so)
            self.txn.put(raw_key, dump(names))
            found = wanted
        cache[ident] = found
        return bool(found == wanted)

    def _unpack(self, raw_key: bytes, raw: bytes) -> dict[str, Any] | None:
        kind, pid, sid = keys.packed_kind(raw_key), raw_key[1:9], raw[1:9]
        body = raw[21:] if raw[:1] == PACKED_ID else raw[9:]
        row = orjson.loads(body)
        if type(row) is not list or len(sid) != 8:
            return None
        setup, project = self._setup(sid), self._project(pid)
        if setup is None or project is None:
            return None
        fields = GRADE_FIELDS if kind == "grade" else COMMIT_FIELDS
        if len(row) not in (len(fields), len(fields) + 1):
            return None
        value: dict[str, Any] = dict(zip(fields, row, strict=False))
        rest = row[len(fields)] if len(row) > len(fields) else {}
        if type(rest) is not dict:
            return None
        for name in rest.pop(ABSENT, ()):
            value.pop(name, None)
        value.update(rest)
        if raw[:1] == PACKED_ID:
            value["id"] = raw[9:21].hex()
        value.update(zip(("harness", "agent", "model"), setup, strict=True))
        value["project"] = project
        value["hash"] = raw_key[9:-1].hex()
        if kind == "grade":
            value["by"] = keys.party_of(raw_key)
        return dict(sorted(value.items()))  # in the order format 2 kept (export keeps it)

    def _setup(self, sid: bytes) -> tuple[str, str, str] | None:
        if sid not in self._setups:
            found = self._lookup(keys.SETUP_NAMES + sid)
            if type(found) is not tuple or len(found) != 3:
                record = self._lookup(keys.agent_key(sid.hex()).encode())
                found = None
                if type(record) is dict:
                    names = tuple(record.get(n) for n in ("harness", "agent", "model"))
                    if all(type(n) is str for n in names):
                        found = names
            self._setups[sid] = found
        return self._setups[sid]

    def _project(self, pid: bytes) -> str | None:
        if pid not in self._projects:
            found = self._lookup(keys.PROJECT_NAMES + pid)
            if type(found) is not str:
                record = self._lookup(keys.project_key(pid.hex()).encode())
                found = record.get("project") if type(record) is dict else None
                found = found if type(found) is str else None
            self._projects[pid] = found
        return self._projects[pid]

    def _lookup(self, raw_key: bytes) -> Any:
        raw = None if self.txn is None else self.txn.get(raw_key)
        return None if raw is None else _names(bytes(raw))


def _names(raw: bytes) -> Any:
    """A names record: a text (a project) or three texts (a setup); None when damaged."""
    try:
        found = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(found) is str:
        return found
    if type(found) is list and len(found) == 3 and all(type(n) is str for n in found):
        return tuple(found)
    if type(found) is dict:
        return found
    return None
