"""Events: what capture commands append to the journal, and their JSON form.

Every event is one JSON object on one line, at most `MAX_LINE` bytes, with:
`v` (format version), `id` (unique, random), `type`, `ts` (Unix seconds), the setup
(`harness`, `agent`, `model`), the `project` identity, and type-specific fields:

- `tool`, `command`: `name` (the tool; for a command, the program it ran), `ok` (false for a
  failed call; absent means it succeeded)
- `session` (format 2): `name` (`start`, `stop`, `end`, `idle`, `model`): a harness session
  was active in the project; it carries token use but earns no XP
- `commit`: `hash`, `subject`, `author_time`, `files`, `insertions`, `deletions`, `exts`
  (changed files per extension), `source` (how the setup was decided); optional `replaces`
  (the commit it amends), `reverts` (the commit its message says it reverts) and `root` (the
  repository's root commit, which ties clones with different identities to one project)
- `grade`: `hash`, `by` (agent|user), `grade` (-1, 1, 2, 5), `note`

Format 2 adds optional fields to every type but `grade`: `session` (the harness's session id),
`instructions` (fingerprint of the instruction files the agent worked with), `tokens`
(`{"in", "out", "cache_read", "cache_write"}` counts) and `cost` (dollars). On a tool, command
or session event, tokens and cost are what the session spent since its previous report; on a
commit, what it spent since its previous commit (a per-commit figure, not added to the totals).

Lines with a newer `v` than `EVENT_FORMAT` are refused (`FormatError`), never guessed at; the
flush sets them aside for a newer agent-tracker (see `flush`). Format 1 lines are format 2
lines without the optional fields. Text that is not valid Unicode is repaired by `encode`
(`clean_text`), so every line in the journal is valid UTF-8. This module is on the capture
hot path and imports only the standard library.
"""

from __future__ import annotations

import os
import time

from agent_tracker.errors import FormatError, UsageError

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    import re
    from typing import Any

EVENT_FORMAT = 2
#: Unix times accepted in events: 1970 .. 2286 (anything else is damage, not history).
MAX_TS = 10_000_000_000
#: The largest count one event may carry (tokens, files, lines): far above any real one, and
#: small enough that sums over millions of events stay within the 64 bits JSON numbers get.
MAX_COUNT = 1 << 40
MAX_LINE = 4096
PARTIES = ("agent", "user")
UNKNOWN = "unknown"

#: Grade names and values (scoring v1). A commit gets at most one grade per party.
GRADES = {"bad": -1, "neutral": 1, "good": 2, "excellence": 5}
GRADE_VALUES = tuple(sorted(GRADES.values()))
GRADE_NAMES = {value: name for name, value in GRADES.items()}
GRADE_NAMES_ORDER = tuple(GRADE_NAMES[value] for value in GRADE_VALUES)

#: Longest kept length of free-text fields; longer values are cut to keep a line <= 4 KiB.
_LIMITS = {
    "name": 200,
    "agent": 200,
    "model": 200,
    "harness": 100,
    "session": 200,
    "instructions": 32,
    "project": 500,
    "subject": 500,
    "note": 1000,
}
_MAX_EXTS = 24


class BadEvent(ValueError):
    """A journal line that cannot be applied (torn, hand-edited, wrong shape)."""


def new_id() -> str:
    return os.urandom(12).hex()


def parse_grade(text: str) -> int:
    """-1/1/2/5 or bad/neutral/good/excellence (any case) to the grade value."""
    key = text.strip().lower()
    if key in GRADES:
        return GRADES[key]
    # ASCII digits only: int() would also read a fullwidth "\uff15" or "0_5" as a number.
    digits = key[1:] if key[:1] in ("+", "-") else key
    value = int(key) if digits.isascii() and digits.isdigit() and len(digits) < 3 else None
    if value in GRADE_VALUES:
        return value
    accepted = ", ".join(f"{name} ({value:+d})" for name, value in GRADES.items())
    raise UsageError(f"grade {text!r} is not accepted; use one of: {accepted}")


def make(kind: str, setup: tuple[str, str, str], project: str, **fields: Any) -> dict[str, Any]:
    """A new event of `kind` for `setup` = (harness, agent, model) in `project`."""
    harness, agent, model = setup
    event: dict[str, Any] = {
        "v": EVENT_FORMAT,
        "id": new_id(),
        "type": kind,
        "ts": round(time.time(), 3),
        "harness": harness,
        "agent": agent,
        "model": model,
        "project": project,
    }
    event.update(fields)
    return event


def encode(event: dict[str, Any]) -> bytes:
    """One journal line (with newline), long fields cut so that it fits in MAX_LINE bytes.

    Text that is not valid Unicode (lone surrogates) is repaired here (`clean_text`), so
    that no capture fails on it and no event is lost."""
    _cut(event)
    try:
        line = dumps(event).encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # lone surrogates: the rare case pays, the common one not
        clean_event(event)
        _cut(event)  # a repaired byte is four characters: cut again to the limits
        line = dumps(event).encode("utf-8") + b"\n"
    while len(line) > MAX_LINE:  # multi-byte text can still overflow: halve the free text
        for key in ("note", "subject", "name", "project"):
            if isinstance(event.get(key), str) and len(event[key]) > 16:
                event[key] = event[key][: len(event[key]) // 2]
        event.pop("exts", None)
        line = dumps(event).encode("utf-8") + b"\n"
    return line


def _cut(event: dict[str, Any]) -> None:
    for key, limit in _LIMITS.items():
        value = event.get(key)
        if isinstance(value, str) and len(value) > limit:
            event[key] = value[:limit]
    exts = event.get("exts")
    if isinstance(exts, dict) and len(exts) > _MAX_EXTS:
        top = sorted(exts.items(), key=lambda item: -item[1])[:_MAX_EXTS]
        event["exts"] = dict(top)


def clean_text(text: str) -> str:
    """`text` as valid Unicode: the one place that repairs what is not.

    Python hands undecodable bytes of argv, the environment and file names over as lone
    surrogates U+DC80..U+DCFF (`surrogateescape`); each becomes the four characters `\\xNN`
    of its byte, so that a non-UTF-8 folder name gives the same text every time (one project
    identity). Any other lone surrogate (a JSON payload's `"\\ud800"`) becomes U+FFFD.
    Valid text is returned unchanged.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        return text
    return "".join(
        (f"\\x{ord(char) - 0xDC00:02x}" if "\udc80" <= char <= "\udcff" else "\ufffd")
        if "\ud800" <= char <= "\udfff"
        else char
        for char in text
    )


def clean_event(value: Any) -> Any:
    """`value` (an event or a part of one) with every text, keys included, made valid
    (`clean_text`); dicts and lists are changed in place."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        items = [(clean_text(str(key)), clean_event(item)) for key, item in value.items()]
        value.clear()
        value.update(items)
    elif isinstance(value, list):
        value[:] = [clean_event(item) for item in value]
    elif isinstance(value, tuple):
        return tuple(clean_event(item) for item in value)
    return value


#: JSON string escapes: the two that must be escaped, and every control character.
_ESCAPES = str.maketrans(
    {
        **{chr(code): f"\\u{code:04x}" for code in range(0x20)},
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        '"': '\\"',
        "\\": "\\\\",
    }
)


def dumps(value: object) -> str:
    """Compact JSON of an event, as `json.dumps(value, separators=(",", ":"),
    ensure_ascii=False)` writes it (a test holds it to that), without importing `json`:
    the capture path only ever writes JSON, and `json` brings its decoder along."""
    if isinstance(value, str):
        return '"' + value.translate(_ESCAPES) + '"'
    if value is None or value is True or value is False:
        return "null" if value is None else ("true" if value else "false")
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        # x - x is 0.0 for every finite float, NaN for NaN and the infinities (no `math` import)
        return float.__repr__(value) if value - value == 0.0 else "null"
    if isinstance(value, dict):
        items = (dumps(str(key)) + ":" + dumps(item) for key, item in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to the journal")


_REQUIRED_TEXT = ("id", "harness", "agent", "model", "project")
_HEX = "0123456789abcdef"
_OPTIONAL_TEXT = ("subject", "note", "source", "replaces", "reverts")
#: Names of the counts in a `tokens` field.
TOKEN_KINDS = ("in", "out", "cache_read", "cache_write")
SESSION_PHASES = ("start", "stop", "end", "idle", "model")
#: The text fields each event type must carry.
_FIELDS = {
    "tool": (*_REQUIRED_TEXT, "name"),
    "command": (*_REQUIRED_TEXT, "name"),
    "session": (*_REQUIRED_TEXT, "name"),
    "commit": (*_REQUIRED_TEXT, "hash"),
    "grade": (*_REQUIRED_TEXT, "hash"),
}


def decode(line: str | bytes) -> dict[str, Any]:
    """Parse and check one journal line. Raises BadEvent, or FormatError for a newer format."""
    from orjson import loads  # flush and report only; capture never decodes

    try:
        event = loads(line)
    except ValueError as exc:
        raise BadEvent(f"not JSON: {exc}") from None
    return check(event)


def check(event: object) -> dict[str, Any]:
    """Check a parsed journal line; returns it as an event. Raises BadEvent or FormatError.

    Written for speed (a flush checks 100,000 events in a fraction of a second): exact type
    checks (`type(x) is int` also rules out bools) and no helper calls on the happy path.
    """
    if type(event) is not dict:
        raise BadEvent("not a JSON object")
    get = event.get
    version = get("v")
    if type(version) is not int or version < 1:
        raise BadEvent("missing format version")
    if version > EVENT_FORMAT:
        raise FormatError(
            f"the journal holds events of format {version}, written by a newer agent-tracker; "
            f"this one understands format {EVENT_FORMAT}: upgrade agent-tracker to flush them"
        )
    kind = get("type")
    # A list or an object is no type (and would not even do as a key to look up).
    fields = _FIELDS.get(kind) if type(kind) is str else None
    if fields is None:
        raise BadEvent(f"unknown event type {kind!r}")
    for key in fields:
        value = get(key)
        if type(value) is not str or not value:
            raise BadEvent(f"field {key!r} missing or not text")
    ts = get("ts")
    # The literal is MAX_TS: a constant costs less than a global lookup 100,000 times a flush.
    if (type(ts) is not float and type(ts) is not int) or not 0 <= ts < 10_000_000_000:
        # Out of range, a time would stop every flush where it becomes a day.
        raise BadEvent("field 'ts' is not a time (Unix seconds, 1970..2286)")
    if kind == "tool" or kind == "command":  # noqa: PLR1714 - the common case, kept cheap
        if len(event) > 9:  # the 9 fields every tool or command has: nothing optional
            _check_optional(event)
        return event
    if kind == "session":
        if event["name"] not in SESSION_PHASES:
            raise BadEvent(f"field 'name' of a session event must be one of {SESSION_PHASES}")
        _check_optional(event)
        return event
    # Commits and grades name a commit: its hash becomes part of LMDB keys, so bound it.
    commit_hash = event["hash"]
    if not 4 <= len(commit_hash) <= 64 or commit_hash.strip(_HEX):
        raise BadEvent("field 'hash' is not a commit hash (4-64 hex digits)")
    for key in _OPTIONAL_TEXT:
        value = get(key)
        if value is not None and type(value) is not str:
            raise BadEvent(f"field {key!r} is not text")
    if kind == "commit":
        _check_optional(event)
        for key in ("files", "insertions", "deletions", "author_time"):
            value = get(key, 0)
            if type(value) is not int or not 0 <= value <= MAX_COUNT:
                raise BadEvent(f"field {key!r} is not a count")
        exts = get("exts", {})
        if (
            type(exts) is not dict
            or len(exts) > _MAX_EXTS
            or not all(
                type(n) is int and 0 <= n <= MAX_COUNT and len(e) <= 200 for e, n in exts.items()
            )
        ):
            raise BadEvent("field 'exts' is not a map of extensions to counts")
        reverts = get("reverts")
        if reverts is not None and (not 4 <= len(reverts) <= 64 or reverts.strip(_HEX)):
            raise BadEvent("field 'reverts' is not a commit hash (4-64 hex digits)")
    else:
        if get("by") not in PARTIES:
            raise BadEvent("field 'by' must be agent or user")
        if type(get("grade")) is not int or event["grade"] not in GRADE_VALUES:
            raise BadEvent("field 'grade' is not -1, 1, 2 or 5")
    return event


#: The fields a tail may hold: what `usage_tail` can check once for every line that has it.
_TAIL_FIELDS = frozenset(
    ("harness", "agent", "model", "project", "name", "session", "instructions")
)


def usage_line_pattern() -> re.Pattern[bytes]:
    """A tool call or command line in the form `encode` writes, read without building the
    event: its groups are the type, the time and the line's tail (from `,"harness":` on).

    The flush's per-event path. Only what differs from one call to the next (format
    version, id, type, time) is matched here, as JSON and `check` read it: a format version
    this agent-tracker knows, an id of ASCII letters and digits (no escapes), a time in
    JSON's number grammar without sign or exponent (its upper bound is the caller's). The
    tail (setup, project, tool name, session) is the same for many lines and is checked
    once per distinct tail by `usage_tail`. Anything unusual (escapes, spaces, exponents,
    fields in another order) does not match, so such a line is decoded in full instead.
    """
    import re  # flush only; capture never reads the journal

    return re.compile(
        rb'\{"v":[1-%d],"id":"[0-9A-Za-z]+","type":"(tool|command)",'
        rb'"ts":((?:0|[1-9][0-9]*)(?:\.[0-9]+)?)(,"harness":.*)' % EVENT_FORMAT,
        re.DOTALL,
    )


def usage_tail(tail: bytes) -> tuple[str, str, str, str, str | None, str | None] | None:
    """(project, harness, agent, model, session, instructions) of a tool call or command
    line's tail (see `usage_line_pattern`), when every line with this tail and a valid head is
    an event that `check` accepts; None otherwise (decode such lines in full).

    The tail is read as JSON on its own (its first comma made an opening brace), must hold
    nothing but `_TAIL_FIELDS` (so no field of the head comes again after it), and `check`
    judges an event made of it and a valid head."""
    from orjson import loads

    try:
        fields = loads(b"{" + tail[1:])
    except ValueError:
        return None
    if type(fields) is not dict or not fields.keys() <= _TAIL_FIELDS:
        return None
    event = {"v": EVENT_FORMAT, "id": "0", "type": "tool", "ts": 0, **fields}
    try:
        check(event)
    except ValueError:  # BadEvent
        return None
    return (
        event["project"],
        event["harness"],
        event["agent"],
        event["model"],
        event.get("session"),
        event.get("instructions"),
    )


def _check_optional(event: dict[str, Any]) -> None:
    """The optional fields of format 2: `ok`, `session`, `instructions`, `tokens`, `cost`."""
    get = event.get
    ok = get("ok")
    if ok is not None and type(ok) is not bool:
        raise BadEvent("field 'ok' is not true or false")
    for key in ("session", "instructions"):
        value = get(key)
        if value is not None and (type(value) is not str or not value or len(value) > 200):
            raise BadEvent(f"field {key!r} is not text")
    tokens = get("tokens")
    if tokens is not None and (
        type(tokens) is not dict
        or not all(
            k in TOKEN_KINDS and type(n) is int and 0 <= n <= MAX_COUNT for k, n in tokens.items()
        )
    ):
        raise BadEvent(f"field 'tokens' is not a map of {', '.join(TOKEN_KINDS)} to counts")
    cost = get("cost")
    if cost is not None and (type(cost) not in (int, float) or not cost >= 0):  # NaN too
        raise BadEvent("field 'cost' is not an amount in dollars")
    root = get("root")  # commits only (a repository's root commit)
    if root is not None and (type(root) is not str or not 4 <= len(root) <= 64 or root.strip(_HEX)):
        raise BadEvent("field 'root' is not a commit hash (4-64 hex digits)")


#: Ids worked out so far (`short_hash`): a flush asks for the same few setups and projects
#: for every commit and usage record. Bounded: emptied when full.
_HASHES: dict[tuple[str, ...], str] = {}
_MAX_HASHES = 4096


def short_hash(*parts: str) -> str:
    """A stable 16-hex-digit id for a setup or project; keeps LMDB keys short and bounded."""
    found = _HASHES.get(parts)
    if found is None:
        import hashlib  # only flush and report need it; capture must not pay for OpenSSL

        found = hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:16]
        if len(_HASHES) >= _MAX_HASHES:
            _HASHES.clear()
        _HASHES[parts] = found
    return found


def setup_id(harness: str, agent: str, model: str) -> str:
    return short_hash("setup", harness, agent, model)


def project_id(project: str) -> str:
    return short_hash("project", project)


def day_of(ts: float) -> str:
    """The UTC calendar day (YYYY-MM-DD) of a Unix time."""
    return time.strftime("%Y-%m-%d", time.gmtime(ts))
