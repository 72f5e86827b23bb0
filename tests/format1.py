"""A database as agent-tracker wrote it in database format 1, written key by key with LMDB.

Format 1 had no session or instructions in its keys: usage counters were
`usage:<dbid>:<project>:<setup>:<day>` holding only tool calls and commands, and day records
were `day:<day>:<setup>:<project>`. Its derived records were version 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lmdb
import orjson

from agent_tracker import events

DBID = "00112233aabbccdd"
SETUP = ("opencode", "build", "anthropic/claude-sonnet-4-5")
PROJECT = "github.com/me/old"
DAY = "2026-03-02"
TS = 1772452800.0  # 2026-03-02 12:00 UTC
SHA = "ab" * 20
AMENDED = "cd" * 20


def _dump(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def entries() -> dict[str, Any]:
    """Every key of the format-1 database and its value."""
    sid = events.setup_id(*SETUP)
    pid = events.project_id(PROJECT)
    harness, agent, model = SETUP
    setup = {"harness": harness, "agent": agent, "model": model}
    commit = {
        **setup,
        "id": "1" * 24,
        "ts": TS,
        "project": PROJECT,
        "hash": SHA,
        "source": "journal",
        "subject": "old work",
        "author_time": int(TS),
        "files": 2,
        "insertions": 10,
        "deletions": 1,
        "exts": {".py": 2},
    }
    grade = {
        **setup,
        "id": "2" * 24,
        "ts": TS + 60,
        "project": PROJECT,
        "hash": SHA,
        "by": "user",
        "grade": 5,
        "note": None,
    }
    usage = {**setup, "project": PROJECT, "day": DAY, "tool_calls": 7, "commands": 2}
    replaced = {**setup, "project": PROJECT, "hash": AMENDED, "by_hash": SHA, "ts": TS - 60}
    mix = {"-1": 0, "1": 0, "2": 0, "5": 1}
    return {
        "meta:format": 1,
        "meta:scoring": 1,
        "meta:derived": 1,
        "meta:dbid": DBID,
        f"commit:{pid}:{SHA}": commit,
        f"communication:{pid}:{SHA}:user": grade,
        f"usage:{DBID}:{pid}:{sid}:{DAY}": usage,
        f"replaced:{pid}:{AMENDED}": replaced,
        f"agent:{sid}": {
            **setup,
            "xp": 7 + 2 * 2 + 5,
            "tool_calls": 7,
            "commands": 2,
            "commits": 1,
            "score": 5,
            "grades": 1,
            "graded_commits": 1,
            "mix": mix,
            "first_day": DAY,
            "last_day": DAY,
        },
        f"project:{pid}": {
            "project": PROJECT,
            "name": "old",
            "commits": 1,
            "exts": {".py": 2},
            "first_day": DAY,
            "last_day": DAY,
        },
        f"day:{DAY}:{sid}:{pid}": {
            **setup,
            "project": PROJECT,
            "day": DAY,
            "tool_calls": 7,
            "commands": 2,
            "commits": 1,
            "sources": {"journal": 1},
            "graded_commits": 1,
            "score": 5,
            "score_sq": 25,
            "grades": 1,
            "mix": mix,
        },
    }


FACT_PREFIXES = (b"commit:", b"communication:", b"usage:", b"replaced:")


def write(path: Path) -> dict[bytes, bytes]:
    """Write the format-1 database at `path` (an LMDB folder); returns its raw entries."""
    path.mkdir(parents=True, exist_ok=True)
    raw = {key.encode(): _dump(value) for key, value in entries().items()}
    env = lmdb.open(str(path), map_size=1 << 24, subdir=True, max_dbs=0)
    with env.begin(write=True) as txn:
        for key, value in raw.items():
            txn.put(key, value)
    env.close()
    return raw
