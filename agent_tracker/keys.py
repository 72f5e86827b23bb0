"""LMDB key layout (see `store` for what each kind of key holds).

Every key is built here. Names and free text never go into a key as they are: setups and
projects are 16-hex-digit hashes, and so is the (session, instructions) context of a usage
counter, so no key comes near LMDB's 511-byte limit.
"""

from __future__ import annotations

from agent_tracker import events

#: The instructions part of a day key when the fingerprint is unknown.
NO_INSTRUCTIONS = "-"
_HEX = "0123456789abcdef"


def agent_key(sid: str) -> str:
    return f"agent:{sid}"


def project_key(pid: str) -> str:
    return f"project:{pid}"


def commit_key(pid: str, commit_hash: str) -> str:
    return f"commit:{pid}:{commit_hash}"


def communication_key(pid: str, commit_hash: str, party: str) -> str:
    return f"communication:{pid}:{commit_hash}:{party}"


def usage_key(
    dbid: str,
    pid: str,
    sid: str,
    day: str,
    session: str | None = None,
    instructions: str | None = None,
) -> str:
    """A usage counter: per counting database, project, setup and day, and, for events that
    name a harness session or an instructions fingerprint, per such context. Counters of
    events without either keep the four-part key of format 1."""
    key = f"usage:{dbid}:{pid}:{sid}:{day}"
    if session is None and instructions is None:
        return key
    return f"{key}:{events.short_hash('ctx', session or '', instructions or '')}"


def segment_key(segment_id: str) -> str:
    return f"meta:segment:{segment_id}"


def instructions_part(instructions: str | None) -> str:
    """A fingerprint as it appears in a key: itself when it is a short hex string (what
    capture records: lowercase hex), else its hash; `-` when unknown."""
    if instructions is None:
        return NO_INSTRUCTIONS
    if 0 < len(instructions) <= 32 and not instructions.strip(_HEX):
        return instructions
    return events.short_hash("instructions", instructions)


def day_key(day: str, sid: str, pid: str, instructions: str | None = None) -> str:
    """Per (day, setup, project, instructions) aggregates; day first, so a date range is one
    key range."""
    return f"day:{day}:{sid}:{pid}:{instructions_part(instructions)}"


def replaced_key(pid: str, commit_hash: str) -> str:
    """Marks a commit replaced by its amendment, so that no merge brings it back."""
    return f"replaced:{pid}:{commit_hash}"


def reverts_key(pid: str, commit_hash: str) -> str:
    """Derived: which counted commits revert this commit (rebuilt from the commit facts)."""
    return f"reverts:{pid}:{commit_hash}"


# -- physical keys (database format 3) -------------------------------------------------------
#
# Above `batch` and `store`, keys are the text keys built above. On disk (format 3), the
# facts that are most of the data (commits and grades) have binary keys: `FACT`, the project
# id (8 bytes), the commit hash as bytes, and a tag: `COMMIT_TAG` for the commit, the party's
# initial for a grade, i.e. 30 bytes instead of 64 and 77. A commit's grades sort right after
# it, so a flush that records a commit and its grades dirties one leaf page, not three.
# Every other key is stored as its UTF-8 text, as in formats 1 and 2 (a text key that starts
# with a control character is escaped with `ESCAPE`, so no text key can look like a binary
# one). A commit or grade key that cannot be packed (a hash of odd length, a project that is
# not an id) is kept as text too: every text key is a valid format-3 key.

ESCAPE = b"\x00"
FACT = b"\x01"
#: Names behind the ids in packed facts (see `records`); never a text key's physical form.
SETUP_NAMES = b"\x03"
PROJECT_NAMES = b"\x04"
COMMIT_TAG = b"\x00"
_PARTY = {"agent": b"a", "user": b"u"}
_TAG = {COMMIT_TAG: None, b"a": "agent", b"u": "user"}
#: The text prefixes of the packed kinds.
PACKED = ("commit:", "communication:")
#: Key forms: formats 1 and 2 (text only), format 3 (packed facts).
TEXT_ONLY = False
PACKED_FORM = True


def _packed_id(text: str, size: int | None = None) -> bytes | None:
    """Lowercase hex as bytes (None when it is not even-length lowercase hex of `size`)."""
    if not text or len(text) % 2 or text.strip(_HEX) or (size and len(text) != 2 * size):
        return None
    return bytes.fromhex(text)


def physical(key: str, packed: bool = PACKED_FORM) -> bytes:
    """The bytes `key` is stored under (with `packed` False: as in formats 1 and 2)."""
    if packed and key.startswith(PACKED):
        parts = key.split(":")
        tag = COMMIT_TAG if parts[0] == "commit" and len(parts) == 3 else None
        if parts[0] == "communication" and len(parts) == 4:
            tag = _PARTY.get(parts[3])
        if tag is not None:
            pid, digest = _packed_id(parts[1], 8), _packed_id(parts[2])
            if pid is not None and digest is not None and 2 <= len(digest) <= 32:
                return FACT + pid + digest + tag
    raw = key.encode()
    return ESCAPE + raw if packed and raw[:1] < b" " else raw


def packed_kind(raw: bytes) -> str | None:
    """ "commit" or "grade" for a packed fact's key, else None."""
    if raw[:1] != FACT or not 12 <= len(raw) <= 42 or raw[-1:] not in _TAG:
        return None
    return "commit" if raw[-1:] == COMMIT_TAG else "grade"


def party_of(raw: bytes) -> str | None:
    """The grading party of a packed grade's key (None for a commit's)."""
    return _TAG.get(raw[-1:])


def logical(raw: bytes, packed: bool = PACKED_FORM) -> str | None:
    """The text key stored under `raw`, or None for records of the physical layer itself
    (the names behind ids) and for bytes no key is stored under."""
    kind = raw[:1]
    if kind >= b" " or not packed:
        return raw.decode("utf-8", "replace")
    if kind == ESCAPE:
        return raw[1:].decode("utf-8", "replace")
    found = packed_kind(raw)
    if found is None:
        return None
    pid, digest = raw[1:9].hex(), raw[9:-1].hex()
    if found == "commit":
        return f"commit:{pid}:{digest}"
    return f"communication:{pid}:{digest}:{_TAG[raw[-1:]]}"


def physical_ranges(
    low: str, high: str | None = None, packed: bool = PACKED_FORM
) -> list[tuple[bytes, bytes | None]]:
    """Physical ranges [start, stop) (stop None: to the end) holding every key that starts
    with `low` or, with `high`, every key k with low <= k <= high. A superset: callers keep
    the logical keys that match."""
    if not packed:
        start = low.encode()
        return [(start, _after_prefix(start) if high is None else high.encode() + b"\x00")]
    ranges: list[tuple[bytes, bytes | None]] = []
    for prefix in PACKED:
        if high is None:
            wanted = low.startswith(prefix) or prefix.startswith(low)
        else:
            wanted = low <= prefix + "\uffff" and prefix <= high
        if wanted:
            ranges.append((FACT, SETUP_NAMES))
            break
    if low < " ":  # keys stored escaped may match: all of them (they are rare)
        ranges.append((ESCAPE, FACT))
    plain = max(low, " ").encode()
    if high is None:
        if low >= " " or not low:
            ranges.append((plain, _after_prefix(plain) if low else None))
    elif high >= " ":
        ranges.append((plain, high.encode() + b"\x00"))
    return ranges


def _after_prefix(prefix: bytes) -> bytes | None:
    """The first bytes after every key that starts with `prefix` (None: to the end)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])
