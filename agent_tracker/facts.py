"""Facts outside the database: their keys, their checks, and the JSON Lines export format.

A fact is a record written once under a key that is unique across databases and machines:

| kind | key | identity |
|---|---|---|
| `commit` | `commit:<project id>:<hash>` | the project and the commit hash |
| `grade` | `communication:<project id>:<hash>:<party>` | the commit and who graded it |
| `usage` | `usage:<database id>:<project id>:<setup id>:<day>` | the database that counted |

Because keys are unique, merging facts from anywhere is a key-by-key union: nothing is
counted twice and nothing is lost, and the derived totals are recomputed from the union.

Export format (`agent-tracker export`, version 1): JSON Lines, one fact per line, flat so
that DuckDB (`read_json_auto`) and pandas (`read_json(lines=True)`) load it as is:
`{"v": 1, "kind": "commit" | "grade" | "usage", ...the fact's fields}`; a usage line also
carries `dbid`. See docs/export-format.md.
"""

from __future__ import annotations

from typing import Any

from agent_tracker import events
from agent_tracker.keys import commit_key, communication_key, usage_key

EXPORT_VERSION = 1
KINDS = ("commit", "grade", "usage")
PREFIX_KIND = {"commit:": "commit", "communication:": "grade", "usage:": "usage"}
_SETUP = ("harness", "agent", "model")


class BadFact(ValueError):
    """A record that is not a valid fact of this version."""


def _text(fact: dict[str, Any], key: str, limit: int = 1000) -> None:
    value = fact.get(key)
    if type(value) is not str or not value or len(value) > limit:
        raise BadFact(f"field {key!r} missing or not text")


def _count(fact: dict[str, Any], key: str) -> None:
    value = fact.get(key)
    if type(value) is not int or value < 0:
        raise BadFact(f"field {key!r} is not a count")


def _commit_hash(fact: dict[str, Any]) -> None:
    value = fact.get("hash")
    if type(value) is not str or not 4 <= len(value) <= 64 or value.strip("0123456789abcdef"):
        raise BadFact("field 'hash' is not a commit hash (4-64 hex digits)")


def check(kind: str, fact: object) -> dict[str, Any]:
    """The fact if it is a valid `kind` fact; raises BadFact otherwise."""
    if type(fact) is not dict:
        raise BadFact("not a JSON object")
    for key in (*_SETUP, "project"):
        _text(fact, key)
    if kind == "commit":
        _commit_hash(fact)
        if type(fact.get("ts")) not in (int, float):
            raise BadFact("field 'ts' is not a time")
        for key in ("files", "insertions", "deletions"):
            _count(fact, key)
        exts = fact.get("exts", {})
        if type(exts) is not dict or not all(type(n) is int and n >= 0 for n in exts.values()):
            raise BadFact("field 'exts' is not a map of extensions to counts")
    elif kind == "grade":
        _commit_hash(fact)
        if type(fact.get("ts")) not in (int, float):
            raise BadFact("field 'ts' is not a time")
        if fact.get("by") not in events.PARTIES:
            raise BadFact("field 'by' must be agent or user")
        if type(fact.get("grade")) is not int or fact["grade"] not in events.GRADE_VALUES:
            raise BadFact("field 'grade' is not -1, 1, 2 or 5")
    elif kind == "usage":
        _text(fact, "day", 10)
        for key in ("tool_calls", "commands"):
            _count(fact, key)
    else:
        raise BadFact(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
    return fact


def key_of(kind: str, fact: dict[str, Any], dbid: str | None = None) -> str:
    """The database key of a checked fact (usage facts need the id of the counting db)."""
    pid = events.project_id(fact["project"])
    if kind == "commit":
        return commit_key(pid, fact["hash"])
    if kind == "grade":
        return communication_key(pid, fact["hash"], fact["by"])
    if not dbid:
        raise BadFact("a usage fact needs the 'dbid' of the database that counted it")
    sid = events.setup_id(fact["harness"], fact["agent"], fact["model"])
    return usage_key(dbid, pid, sid, fact["day"])


def kind_of_key(key: str) -> str | None:
    for prefix, kind in PREFIX_KIND.items():
        if key.startswith(prefix):
            return kind
    return None


def dbid_of_usage_key(key: str) -> str:
    return key.split(":", 2)[1]


def day_of(kind: str, fact: dict[str, Any]) -> str:
    return str(fact["day"]) if kind == "usage" else events.day_of(fact["ts"])


def to_line(kind: str, key: str, fact: dict[str, Any]) -> dict[str, Any]:
    """The export form of a stored fact."""
    line: dict[str, Any] = {"v": EXPORT_VERSION, "kind": kind}
    if kind == "usage":
        line["dbid"] = dbid_of_usage_key(key)
    line.update(fact)
    return line


def from_line(line: object) -> tuple[str, dict[str, Any]]:
    """(key, fact) of one export line; raises BadFact."""
    if type(line) is not dict:
        raise BadFact("not a JSON object")
    version = line.get("v")
    if type(version) is not int or version < 1:
        raise BadFact("missing format version 'v'")
    if version > EXPORT_VERSION:
        raise BadFact(
            f"format version {version} is newer than this agent-tracker's "
            f"({EXPORT_VERSION}): upgrade agent-tracker to import it"
        )
    kind = line.get("kind")
    if kind not in KINDS:
        raise BadFact(f"field 'kind' must be one of {', '.join(KINDS)}")
    fact = {k: v for k, v in line.items() if k not in ("v", "kind", "dbid")}
    check(str(kind), fact)
    dbid = line.get("dbid")
    return key_of(str(kind), fact, dbid if isinstance(dbid, str) else None), fact
