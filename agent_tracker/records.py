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
from typing import Any, Final

import orjson

from agent_tracker import facts, totals

#: Prefix of the records a write transaction set aside (see the module docstring).
DAMAGED_PREFIX = "damaged:"
#: What `decode` returns for a damaged value.
DAMAGED: Final = object()
_MAX_KEY = 511

_IDENTITY = ("harness", "agent", "model")
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
    if type(value) is not dict:
        return False
    if not all(type(value.get(name)) is str for name in texts):
        return False
    if not all(_number(value.get(name)) for name in counts):
        return False
    for name in maps:
        found = value.get(name)
        if type(found) is not dict or not all(_number(n) for n in found.values()):
            return False
    optional = (*facts.USAGE_COUNTS, *_OPTIONAL_COUNTS)
    return all(_number(value[name]) for name in optional if name in value)


def _days(value: dict[str, Any]) -> bool:
    return all(value.get(name) is None or type(value[name]) is str for name in _DAY_FIELDS)


_DAY_FIELDS = ("first_day", "last_day")
#: Counts added by later versions of the derived records (absent: 0).
_OPTIONAL_COUNTS = (*totals.COMMIT_FIGURES, *totals.PARTY_FIELDS, totals.REVERTED)


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
