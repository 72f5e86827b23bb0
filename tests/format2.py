"""A database as agent-tracker wrote it in database format 2 (before facts were packed),
written key by key with LMDB: text keys, and every value JSON with sorted keys.

The facts cover what a format-2 database can hold: commits with and without their optional
fields (session, instructions, tokens, cost, a revert, no subject), a commit hash of odd
length (which format 3 cannot pack), grades of both parties (with and without a note), a
usage counter per session context, an amendment; the derived records are the ones the
facts give (derived version 4), as a flush of that version left them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lmdb
import orjson

from agent_tracker import events, recompute

DBID = "0123456789abcdef"
BUILD = ("opencode", "build", "anthropic/claude-sonnet-4-5")
PLAN = ("claude-code", "plan", "claude-opus-4-1")
PROJECT = "github.com/me/two"
OTHER = "/home/me/scratch"
TS = 1772452800.0  # 2026-03-02 12:00 UTC
DAY = "2026-03-02"


def _dump(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _setup(names: tuple[str, str, str]) -> dict[str, str]:
    return dict(zip(("harness", "agent", "model"), names, strict=True))


def facts() -> dict[str, dict[str, Any]]:
    """The facts, by their (text) key."""
    out: dict[str, dict[str, Any]] = {}
    pid, other = events.project_id(PROJECT), events.project_id(OTHER)
    for n in range(12):
        names = BUILD if n % 3 else PLAN
        project = PROJECT if n % 4 else OTHER
        digest = f"{n:02x}" * 20
        commit: dict[str, Any] = {
            **_setup(names),
            "id": f"{n:024x}",
            "ts": TS + n * 61.5,
            "project": project,
            "hash": digest,
            "source": ("flag", "trailer", "journal", "env", "unknown")[n % 5],
            "subject": f"change number {n} \u00e9\u00e8 \U0001f600",
            "author_time": int(TS) + n * 61,
            "files": n,
            "insertions": 10 * n,
            "deletions": n // 2,
            "exts": {".py": n, ".md": 1} if n % 2 else {},
        }
        if n == 3:
            commit.update(session="ses_1", instructions="00aa00aa", cost_micros=1500)
            commit["tokens"] = {"in": 10, "out": 20, "cache_read": 3, "cache_write": 4}
        if n == 5:
            commit["reverts"] = "04" * 20
        if n == 7:
            del commit["subject"], commit["author_time"]  # journal lines may leave them out
        key_pid = pid if project == PROJECT else other
        out[f"commit:{key_pid}:{digest}"] = commit
        for party, grade in (("agent", 2), ("user", 5 if n % 2 else -1)):
            if (n + len(party)) % 3:
                out[f"communication:{key_pid}:{digest}:{party}"] = {
                    **_setup(names),
                    "id": f"{n + 100:024x}",
                    "ts": TS + n * 61.5 + 30,
                    "project": project,
                    "hash": digest,
                    "by": party,
                    "grade": grade,
                    "note": "kept the tests green" if n == 2 else None,
                }
    odd = "abcde"  # 4-64 hex digits are a valid hash; an odd count cannot be packed
    out[f"commit:{pid}:{odd}"] = {
        **_setup(BUILD),
        "id": "f" * 24,
        "ts": TS + 3600,
        "project": PROJECT,
        "hash": odd,
        "source": "flag",
        "subject": "short hash",
        "author_time": int(TS) + 3600,
        "files": 1,
        "insertions": 1,
        "deletions": 0,
        "exts": {".py": 1},
    }
    out[f"communication:{pid}:{odd}:user"] = {
        **_setup(BUILD),
        "id": "e" * 24,
        "ts": TS + 3700,
        "project": PROJECT,
        "hash": odd,
        "by": "user",
        "grade": 2,
        "note": None,
    }
    amended = "ee" * 20
    out[f"replaced:{pid}:{amended}"] = {
        **_setup(BUILD),
        "project": PROJECT,
        "hash": amended,
        "by_hash": "01" * 20,
        "ts": TS - 60,
    }
    sid = events.setup_id(*BUILD)
    out[f"usage:{DBID}:{pid}:{sid}:{DAY}"] = {
        **_setup(BUILD),
        "project": PROJECT,
        "day": DAY,
        "tool_calls": 7,
        "commands": 2,
        "failures": 1,
        "tokens_in": 0,
        "tokens_out": 0,
        "tokens_cache_read": 0,
        "tokens_cache_write": 0,
        "cost_micros": 0,
    }
    ctx = events.short_hash("ctx", "ses_1", "00aa00aa")
    out[f"usage:{DBID}:{pid}:{sid}:{DAY}:{ctx}"] = {
        **out[f"usage:{DBID}:{pid}:{sid}:{DAY}"],
        "tool_calls": 3,
        "session": "ses_1",
        "instructions": "00aa00aa",
        "tokens_in": 40,
    }
    return out


def entries() -> dict[str, Any]:
    """Every key of the format-2 database and its value."""
    found = facts()

    def of(prefix: str) -> list[tuple[str, dict[str, Any]]]:
        return [(k, v) for k, v in found.items() if k.startswith(prefix)]

    derived = recompute.from_facts(
        of("commit:"), of("communication:"), of("usage:"), of("replaced:")
    )
    return {
        "meta:format": 2,
        "meta:scoring": 2,
        "meta:derived": 4,
        "meta:dbid": DBID,
        "meta:segment:01772452800000000000-0a0b0c0d": {"applied_at": TS, "events": 9},
        **found,
        **derived,
    }


FACT_PREFIXES = (b"commit:", b"communication:", b"usage:", b"replaced:")


def write(path: Path) -> dict[bytes, bytes]:
    """Write the format-2 database at `path` (an LMDB folder); returns its raw entries."""
    path.mkdir(parents=True, exist_ok=True)
    raw = {key.encode(): _dump(value) for key, value in entries().items()}
    env = lmdb.open(str(path), map_size=1 << 24, subdir=True, max_dbs=0)
    with env.begin(write=True) as txn:
        for key, value in raw.items():
            txn.put(key, value)
    env.close()
    return raw
