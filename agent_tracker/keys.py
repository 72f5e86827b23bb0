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
