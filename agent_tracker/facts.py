"""Facts outside the database: their keys, their checks, and the JSON Lines export format.

A fact is a record written once under a key that is unique across databases and machines:

| kind | key | identity |
|---|---|---|
| `commit` | `commit:<project id>:<hash>` | the project and the commit hash |
| `grade` | `communication:<project id>:<hash>:<party>` | the commit and who graded it |
| `usage` | `usage:<dbid>:<project id>:<setup id>:<day>[:<context>]` | the counting db (+ context) |
| `replaced` | `replaced:<project id>:<hash>` | a commit replaced by its amendment |

Because keys are unique, merging facts from anywhere is a key-by-key union: nothing is
counted twice and nothing is lost, and the derived totals are recomputed from the union.

A usage fact counts `USAGE_COUNTS` (tool calls, commands, failed ones, tokens by kind, cost in
millionths of a dollar); events that name a harness `session` or an `instructions`
fingerprint are counted apart per such context (its hash is the key's fifth part), and the
fact keeps both texts. A commit fact may keep the `session` and `instructions` that made it
and what that session spent since its previous commit (`tokens`, `cost_micros`): a
per-commit figure, never added to the usage totals. A commit fact whose message says
`This reverts commit <hash>.` keeps that hash as `reverts` (the reverted commit is marked
only in derived records, so the fact is written once and merges stay a union).

Export format (`agent-tracker export`, version 2; version 1 files still import): JSON Lines,
one fact per line, flat so that DuckDB (`read_json_auto`) and pandas (`read_json(lines=True)`)
load it as is: `{"v": 2, "kind": "commit" | "grade" | "usage" | "replaced", ...the fact's
fields}`; a usage line also carries `dbid`, and a commit's `tokens` appear as the same
`tokens_in`, `tokens_out`, ... columns as usage lines. See docs/export-format.md.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from agent_tracker import events
from agent_tracker.keys import commit_key, communication_key, replaced_key, usage_key

EXPORT_VERSION = 2
KINDS = ("commit", "grade", "usage", "replaced")
PREFIX_KIND = {
    "commit:": "commit",
    "communication:": "grade",
    "usage:": "usage",
    "replaced:": "replaced",
}
_SETUP = ("harness", "agent", "model")
#: What a usage fact counts (all counts; the first two are in every usage fact, the others
#: from format 2 on, absent meaning 0).
USAGE_COUNTS = (
    "tool_calls",
    "commands",
    "failures",
    "tokens_in",
    "tokens_out",
    "tokens_cache_read",
    "tokens_cache_write",
    "cost_micros",
)
#: The usage counter of each kind of token an event reports (`reasoning` counts as output).
TOKEN_COUNTS = {
    "in": "tokens_in",
    "out": "tokens_out",
    "reasoning": "tokens_out",
    "cache_read": "tokens_cache_read",
    "cache_write": "tokens_cache_write",
}
#: Optional texts saying in which context the work happened.
CONTEXT = ("session", "instructions")
_MAX_CONTEXT = 200
#: Unix times accepted in facts: 1970 .. 2286 (anything else is damage, not history).
_MAX_TS = events.MAX_TS
_HEX = "0123456789abcdef"


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


def _commit_hash(fact: dict[str, Any], key: str = "hash") -> None:
    value = fact.get(key)
    if type(value) is not str or not 4 <= len(value) <= 64 or value.strip(_HEX):
        raise BadFact(f"field {key!r} is not a commit hash (4-64 hex digits)")


def _time(fact: dict[str, Any]) -> None:
    value = fact.get("ts")
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < _MAX_TS:
        raise BadFact("field 'ts' is not a time")


def _day(fact: dict[str, Any]) -> None:
    value = fact.get("day")
    try:
        ok = type(value) is str and date.fromisoformat(value).isoformat() == value
    except ValueError:
        ok = False
    if not ok:
        raise BadFact("field 'day' is not a day (YYYY-MM-DD)")


def _context(fact: dict[str, Any]) -> None:
    for key in CONTEXT:
        if fact.get(key) is None:
            fact.pop(key, None)  # absent and null are the same: no context recorded
        else:
            _text(fact, key, _MAX_CONTEXT)


def _commit_figures(fact: dict[str, Any]) -> None:
    tokens = fact.get("tokens")
    if tokens is None:
        fact.pop("tokens", None)
    elif type(tokens) is not dict or not all(
        k in events.TOKEN_KINDS and type(n) is int and n >= 0 for k, n in tokens.items()
    ):
        raise BadFact(f"field 'tokens' is not a map of {', '.join(events.TOKEN_KINDS)} to counts")
    if fact.get("cost_micros") is None:
        fact.pop("cost_micros", None)
    else:
        _count(fact, "cost_micros")


def token_counts(tokens: object) -> dict[str, int]:
    """An event's `tokens` map in the stored form: the four kinds, reasoning folded into
    output (an event is checked before it gets here; anything else is ignored)."""
    counts: dict[str, int] = {}
    if type(tokens) is dict:
        for kind, number in tokens.items():
            name = TOKEN_COUNTS.get(kind)
            if name is not None and type(number) is int and number >= 0:
                short = name.removeprefix("tokens_")
                counts[short] = counts.get(short, 0) + number
    return counts


def cost_micros(cost: object) -> int | None:
    """Dollars to whole millionths of a dollar (None when no usable amount is given)."""
    if type(cost) not in (int, float) or not 0 <= cost < 1e12:  # type: ignore[operator]
        return None  # also NaN and infinity: damage, not spending
    return round(cost * 1_000_000)  # type: ignore[operator]


def check_dbid(value: object) -> str:
    if type(value) is not str or len(value) != 16 or value.strip(_HEX):
        raise BadFact("field 'dbid' is not a database id (16 hex digits)")
    return value


def check(kind: str, fact: object) -> dict[str, Any]:
    """The fact if it is a valid `kind` fact; raises BadFact otherwise."""
    if type(fact) is not dict:
        raise BadFact("not a JSON object")
    for key in (*_SETUP, "project"):
        _text(fact, key)
    if kind == "commit":
        _commit_hash(fact)
        _time(fact)
        for key in ("files", "insertions", "deletions"):
            fact.setdefault(key, 0)
            _count(fact, key)
        fact.setdefault("exts", {})
        fact.setdefault("source", events.UNKNOWN)
        exts = fact["exts"]
        if type(exts) is not dict or not all(type(n) is int and n >= 0 for n in exts.values()):
            raise BadFact("field 'exts' is not a map of extensions to counts")
        if type(fact["source"]) is not str:
            raise BadFact("field 'source' is not text")
        _context(fact)
        _commit_figures(fact)
        if fact.get("reverts") is None:
            fact.pop("reverts", None)
        else:
            _commit_hash(fact, "reverts")
    elif kind == "grade":
        _commit_hash(fact)
        _time(fact)
        if fact.get("by") not in events.PARTIES:
            raise BadFact("field 'by' must be agent or user")
        if type(fact.get("grade")) is not int or fact["grade"] not in events.GRADE_VALUES:
            raise BadFact("field 'grade' is not -1, 1, 2 or 5")
    elif kind == "usage":
        _day(fact)
        for key in USAGE_COUNTS:
            if key in USAGE_COUNTS[:2] or key in fact:
                _count(fact, key)
        _context(fact)
    elif kind == "replaced":
        _commit_hash(fact)
        _commit_hash(fact, "by_hash")
        _time(fact)
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
    if kind == "replaced":
        return replaced_key(pid, fact["hash"])
    sid = events.setup_id(fact["harness"], fact["agent"], fact["model"])
    context = (fact.get("session"), fact.get("instructions"))
    return usage_key(check_dbid(dbid), pid, sid, fact["day"], *context)


def kind_of_key(key: str) -> str | None:
    for prefix, kind in PREFIX_KIND.items():
        if key.startswith(prefix):
            return kind
    return None


def dbid_of_usage_key(key: str) -> str:
    return key.split(":", 2)[1]


def reconcile(kind: str, stored: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any] | None:
    """What to store when a fact's key is already present (pooling machines), or None to
    keep the stored fact: a usage counter only grows, so the larger counts win; a newer
    grade replaces an older one, as in a flush. Other facts are written once."""
    if kind == "usage":
        merged = dict(stored)
        for key in USAGE_COUNTS:
            value = max(stored.get(key, 0), incoming.get(key, 0))
            if value or key in stored:
                merged[key] = value
        return merged if merged != stored else None
    if kind == "grade" and newer(incoming, stored):
        return incoming
    return None


def newer(grade: dict[str, Any], than: dict[str, Any]) -> bool:
    """Whether `grade` replaces `than` as its party's grade of a commit: the newest grade
    wins (ties broken by id), wherever and in whatever order the two were recorded."""
    return (grade.get("ts", 0), str(grade.get("id") or "")) > (
        than.get("ts", 0),
        str(than.get("id") or ""),
    )


def day_of(kind: str, fact: dict[str, Any]) -> str:
    return str(fact["day"]) if kind == "usage" else events.day_of(float(fact["ts"]))


def to_line(kind: str, key: str, fact: dict[str, Any]) -> dict[str, Any]:
    """The export form of a stored fact."""
    line: dict[str, Any] = {"v": EXPORT_VERSION, "kind": kind}
    if kind == "usage":
        line["dbid"] = dbid_of_usage_key(key)
    line.update(fact)
    tokens = line.pop("tokens", None) if kind == "commit" else None
    if tokens is not None:  # flat, with the same column names as usage lines
        for short, count in tokens.items():
            line[f"tokens_{short}"] = count
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
    if kind == "commit":
        _gather_tokens(fact)
    check(str(kind), fact)
    dbid = check_dbid(line.get("dbid")) if kind == "usage" else None
    return key_of(str(kind), fact, dbid), fact


def _gather_tokens(fact: dict[str, Any]) -> None:
    """A commit line's flat `tokens_*` columns back into the stored `tokens` map."""
    tokens = {}
    for short in events.TOKEN_KINDS:
        value = fact.pop(f"tokens_{short}", None)
        if value is not None:
            tokens[short] = value
    if tokens and "tokens" not in fact:
        fact["tokens"] = tokens
