"""Facts as machines push them, and what `import` makes of the same pushes.

`history(seed, machines)` gives the pushes of a small team: per machine, in the order its
syncs would send them, batches of (key, kind, body) facts with the situations the merge
rules are about: usage counters that grow between syncs (and an old snapshot sent again),
grades changed later by the same party (on the same or another machine), a reviewer grading
a teammate's commit, a grade of a commit that never reaches the pool, commits amended after
they were pushed (the amended one pushed again later by a stale retry), and reverts.

`imported(settings, pushes)` imports the same batches, in the same order, into a real local
database with `exchange.import_files` (one import per batch, as one person pooling files
would) and returns its `day:` and `project:` records: what the server must agree with.
"""

from __future__ import annotations

import io
from random import Random
from typing import Any

import orjson

from agent_tracker import events, exchange, facts
from agent_tracker.config import Settings
from agent_tracker.store import LMDBDatabase

Fact = tuple[str, str, dict[str, Any]]
Push = tuple[str, str, list[Fact]]  # member, machine (dbid), facts
SETUPS = [
    ("opencode", "build", "anthropic/claude-sonnet-4-5"),
    ("opencode", "plan", "openai/gpt-5"),
    ("claude-code", "claude", "claude-opus-4-1"),
    ("codex", "codex", "gpt-5-codex"),
]
PROJECTS = ["p-alpha", "p-beta", "p-gamma"]
DAY0 = 1_780_000_000  # a Unix time in 2026
SOURCES = ["flag", "trailer", "env", "unknown", "session"]


def make(kind: str, fact: dict[str, Any], dbid: str | None = None) -> Fact:
    fact = facts.check(kind, fact)
    return facts.key_of(kind, fact, dbid), kind, fact


def _hash(rng: Random) -> str:
    return f"{rng.getrandbits(160):040x}"


def _setup(rng: Random) -> dict[str, str]:
    harness, agent, model = rng.choice(SETUPS)
    return {"harness": harness, "agent": agent, "model": model}


def history(seed: int, machines: list[tuple[str, str]], commits: int = 12) -> list[Push]:
    """Three batches per machine (member, dbid), interleaved machine by machine."""
    rng = Random(seed)
    batches: dict[str, list[list[Fact]]] = {dbid: [[], [], []] for _, dbid in machines}
    owner = {dbid: member for member, dbid in machines}
    made: list[tuple[str, dict[str, Any]]] = []  # (dbid, commit fact) of every commit pushed
    for _, dbid in machines:
        first, second, third = batches[dbid]
        for n in range(commits):
            project = rng.choice(PROJECTS)
            ts = DAY0 + rng.randrange(5) * 86400 + rng.randrange(80000)
            commit: dict[str, Any] = {
                **_setup(rng),
                "project": project,
                "hash": _hash(rng),
                "ts": ts,
                "files": rng.randrange(1, 9),
                "insertions": rng.randrange(200),
                "deletions": rng.randrange(50),
                "exts": {rng.choice([".py", ".ts", ".md"]): rng.randrange(1, 4)},
                "source": rng.choice(SOURCES),
            }
            if rng.random() < 0.5:
                commit["instructions"] = rng.choice(["aa11", "bb22"])
            if rng.random() < 0.5:
                commit["tokens"] = {"in": rng.randrange(9999), "out": rng.randrange(999)}
                commit["cost_micros"] = rng.randrange(99999)
            if n and rng.random() < 0.15:  # reverts one of this machine's earlier commits
                mine = [c for d, c in made if d == dbid and c["project"] == project]
                if mine:
                    commit["reverts"] = rng.choice(mine)["hash"]
            amended = rng.random() < 0.2
            first.append(make("commit", dict(commit)))
            final = commit
            if amended:  # pushed, then amended: the next sync sends the amendment
                final = dict(commit, hash=_hash(rng), ts=ts + 60)
                final.pop("reverts", None)
                second.append(
                    make(
                        "replaced",
                        {
                            **{
                                k: commit[k]
                                for k in ("harness", "agent", "model", "project", "hash")
                            },
                            "by_hash": final["hash"],
                            "ts": ts + 60,
                        },
                    )
                )
                second.append(make("commit", dict(final)))
                if rng.random() < 0.5:  # a stale retry sends the amended commit again
                    third.append(make("commit", dict(commit)))
            made.append((dbid, final))
            for party, chance in (("agent", 0.8), ("user", 0.7)):
                if rng.random() < chance:
                    graded = commit if amended and rng.random() < 0.5 else final
                    grade = {
                        **{k: final[k] for k in ("harness", "agent", "model", "project")},
                        "hash": graded["hash"],
                        "by": party,
                        "grade": rng.choice(events.GRADE_VALUES),
                        "ts": ts + 120,
                        "id": f"g{rng.getrandbits(32):08x}",
                    }
                    (first if graded is commit else second).append(make("grade", dict(grade)))
                    if rng.random() < 0.3:  # a later regrade by the same party
                        again = dict(grade, grade=rng.choice(events.GRADE_VALUES), ts=ts + 900)
                        third.append(make("grade", again))
        for day in range(5):
            for project in PROJECTS:
                if rng.random() < 0.5:
                    continue
                usage: dict[str, Any] = {
                    **_setup(rng),
                    "project": project,
                    "day": events.day_of(DAY0 + day * 86400),
                    "tool_calls": rng.randrange(1, 60),
                    "commands": rng.randrange(20),
                    "failures": rng.randrange(3),
                    "tokens_in": rng.randrange(99999),
                }
                if rng.random() < 0.4:
                    usage["instructions"] = "aa11"
                first.append(make("usage", dict(usage), dbid))
                if rng.random() < 0.5:  # counted on: the next sync sends larger counts
                    grown = dict(usage, tool_calls=usage["tool_calls"] + 7, cost_micros=55)
                    second.append(make("usage", grown, dbid))
                    third.append(make("usage", dict(usage), dbid))  # an old snapshot again
    # A reviewer grades teammates' commits (the grade counts for the commit's member), and
    # someone grades a commit that never reaches the pool (it stays the grader's).
    for member, dbid in machines:
        others = [c for d, c in made if owner[d] != member]
        for commit in rng.sample(others, min(3, len(others))):
            batches[dbid][2].append(
                make(
                    "grade",
                    {
                        **{k: commit[k] for k in ("harness", "agent", "model", "project", "hash")},
                        "by": "user",
                        "grade": rng.choice(events.GRADE_VALUES),
                        "ts": commit["ts"] + 5000,
                        "id": f"r{rng.getrandbits(32):08x}",
                    },
                )
            )
        lost = {**_setup(rng), "project": rng.choice(PROJECTS), "hash": _hash(rng)}
        batches[dbid][1].append(
            make("grade", {**lost, "by": "user", "grade": 2, "ts": DAY0 + 3000, "id": "lost"})
        )
    pushes: list[Push] = []
    for round_ in range(3):
        for member, dbid in machines:
            pushes.append((member, dbid, batches[dbid][round_]))
    return pushes


def machines_of(team: dict[str, int]) -> list[tuple[str, str]]:
    """(member, dbid) for `team` = {member: number of machines}."""
    found = []
    for member, count in team.items():
        for n in range(count):
            found.append((member, events.short_hash("machine", member, str(n))))
    return found


def imported(settings: Settings, pushes: list[Push]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The day records and project records (by identity) of a local import of `pushes`."""
    for _, dbid, batch in pushes:
        lines = b"".join(
            orjson.dumps(facts.to_line(kind, key, fact)) + b"\n" for key, kind, fact in batch
        )
        if lines:
            result = exchange.import_files(settings, [(dbid, io.BytesIO(lines))])
            assert not result.bad, result.bad
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    assert db is not None
    with db:
        days = [record for _, record in db.scan("day:")]
        projects = {record["project"]: record for _, record in db.scan("project:")}
    return days, projects


def comparable(cells: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Day records by what identifies them, without empty sources (for equality)."""
    found = {}
    for cell in cells:
        key = tuple(cell[k] for k in ("day", "harness", "agent", "model", "project"))
        key += (cell.get("instructions"),)
        found[key] = dict(cell, sources={k: v for k, v in cell["sources"].items() if v})
    return found
