"""Scoring v1: how facts turn into per-setup and per-project totals.

| event | effect on the setup |
|---|---|
| tool call | +1 XP |
| command completed | +2 XP |
| commit | +5 XP, +1 commit |
| grade | communication score += grade (-1, 1, 2, 5); one grade per party per commit |

Derived records: `agent:<setup>` (all-time totals per setup), `project:<project>` (identity,
name, language mix) and `day:<day>:<setup>:<project>` (what the report reads: usage,
commits by attribution source, and graded commits with the sum and sum of squares of their
per-commit scores, so that means and their uncertainty come from aggregates, never from
scanning events). A commit's grades count on the day of the commit (or of its first grade
while the commit is unknown).

The same functions serve the incremental update in `flush` and the full recomputation in
`from_facts`, so the two always agree. Active days come from usage and commits only (a
grade can be replaced, and a replaced fact must not leave a trace in a derived value).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agent_tracker import events
from agent_tracker.keys import agent_key, day_key, project_key

XP_TOOL = 1
XP_COMMAND = 2
XP_COMMIT = 5

Record = dict[str, Any]
Facts = Iterable[tuple[str, Record]]


def setup_record(harness: str, agent: str, model: str) -> Record:
    return {
        "harness": harness,
        "agent": agent,
        "model": model,
        "xp": 0,
        "tool_calls": 0,
        "commands": 0,
        "commits": 0,
        "score": 0,
        "grades": 0,
        "graded_commits": 0,
        "mix": {str(value): 0 for value in events.GRADE_VALUES},
        "first_day": None,
        "last_day": None,
    }


def project_name(project: str) -> str:
    """The short name of a project identity: `github.com/me/app` -> `app`."""
    return project.rstrip("/").rsplit("/", 1)[-1] or project


def project_matches(project: str, wanted: str) -> bool:
    """Whether `wanted` (a short name, an identity or its tail) names `project`."""
    text = wanted.strip().rstrip("/").lower()
    identity = project.lower()
    return text in (identity, project_name(project).lower()) or identity.endswith("/" + text)


def project_record(project: str) -> Record:
    name = project_name(project)
    return {
        "project": project,
        "name": name,
        "commits": 0,
        "exts": {},
        "first_day": None,
        "last_day": None,
    }


def day_record(harness: str, agent: str, model: str, project: str, day: str) -> Record:
    return {
        "harness": harness,
        "agent": agent,
        "model": model,
        "project": project,
        "day": day,
        "tool_calls": 0,
        "commands": 0,
        "commits": 0,
        "sources": {},
        "graded_commits": 0,
        "score": 0,
        "score_sq": 0,
        "grades": 0,
        "mix": {str(value): 0 for value in events.GRADE_VALUES},
    }


def add_day_usage(cell: Record, tool_calls: int, commands: int) -> None:
    cell["tool_calls"] += tool_calls
    cell["commands"] += commands


def add_day_commit(cell: Record, source: str, sign: int = 1) -> None:
    cell["commits"] += sign
    sources = cell["sources"]
    sources[source] = sources.get(source, 0) + sign
    if not sources[source]:
        del sources[source]


def add_day_grades(cell: Record, grades: list[int], sign: int) -> None:
    """One graded commit: its grades (one per party) and their total as its score."""
    total = sum(grades)
    cell["graded_commits"] += sign
    cell["score"] += sign * total
    cell["score_sq"] += sign * total * total
    cell["grades"] += sign * len(grades)
    for grade in grades:
        cell["mix"][str(grade)] += sign


def is_empty_day(cell: Record) -> bool:
    return not (cell["tool_calls"] or cell["commands"] or cell["commits"] or cell["grades"])


def grade_day(commit: Record | None, grades: Iterable[Record]) -> str:
    """The day a commit's grades count on: the commit's, else its earliest grade's."""
    if commit is not None:
        return events.day_of(commit["ts"])
    return events.day_of(min(grade["ts"] for grade in grades))


def _touch(record: Record, day: str) -> None:
    if record["first_day"] is None or day < record["first_day"]:
        record["first_day"] = day
    if record["last_day"] is None or day > record["last_day"]:
        record["last_day"] = day


def _xp(record: Record) -> None:
    record["xp"] = (
        XP_TOOL * record["tool_calls"]
        + XP_COMMAND * record["commands"]
        + XP_COMMIT * record["commits"]
    )


def add_usage(record: Record, tool_calls: int, commands: int, day: str) -> None:
    record["tool_calls"] += tool_calls
    record["commands"] += commands
    _touch(record, day)
    _xp(record)


def add_commit(record: Record, day: str, sign: int = 1) -> None:
    """Count (sign=+1) or, for a commit replaced by its amendment, uncount (-1) a commit."""
    record["commits"] += sign
    if sign > 0:
        _touch(record, day)
    _xp(record)


def add_commit_grades(record: Record, grades: list[int], sign: int) -> None:
    """Add (sign=+1) or remove (sign=-1) the grades one commit got (one per party)."""
    record["score"] += sign * sum(grades)
    record["grades"] += sign * len(grades)
    record["graded_commits"] += sign
    for grade in grades:
        record["mix"][str(grade)] += sign


def add_project_usage(record: Record, day: str) -> None:
    _touch(record, day)


def add_project_commit(record: Record, exts: dict[str, int], day: str, sign: int = 1) -> None:
    record["commits"] += sign
    for ext, count in exts.items():
        record["exts"][ext] = record["exts"].get(ext, 0) + sign * count
        if not record["exts"][ext]:
            del record["exts"][ext]
    if sign > 0:
        _touch(record, day)


def from_facts(
    commits: Facts, grades: Facts, usages: Facts, replaced: Facts = ()
) -> dict[str, Record]:
    """Every derived record (`agent:*`, `project:*`, `day:*`), recomputed from the facts.

    A commit marked replaced (by its amendment) does not count, and its grades count for
    the commit that replaced it unless that one has its own grade from the same party.
    """
    out: dict[str, Record] = {}
    successor = {(fact["project"], fact["hash"]): fact["by_hash"] for _, fact in replaced}

    def setup(fact: Record) -> Record:
        sid = events.setup_id(fact["harness"], fact["agent"], fact["model"])
        return out.setdefault(
            agent_key(sid), setup_record(fact["harness"], fact["agent"], fact["model"])
        )

    def project(fact: Record) -> Record:
        pid = events.project_id(fact["project"])
        return out.setdefault(project_key(pid), project_record(fact["project"]))

    def day(fact: Record, on: str) -> Record:
        sid = events.setup_id(fact["harness"], fact["agent"], fact["model"])
        key = day_key(on, sid, events.project_id(fact["project"]))
        made = (fact["harness"], fact["agent"], fact["model"], fact["project"], on)
        return out.setdefault(key, day_record(*made))

    for _, fact in usages:
        add_usage(setup(fact), fact["tool_calls"], fact["commands"], fact["day"])
        add_project_usage(project(fact), fact["day"])
        add_day_usage(day(fact, fact["day"]), fact["tool_calls"], fact["commands"])
    commit_facts = {
        (fact["project"], fact["hash"]): fact
        for _, fact in commits
        if (fact["project"], fact["hash"]) not in successor
    }
    for fact in commit_facts.values():
        on = events.day_of(fact["ts"])
        add_commit(setup(fact), on)
        add_project_commit(project(fact), fact.get("exts") or {}, on)
        add_day_commit(day(fact, on), fact.get("source") or events.UNKNOWN)
    # A commit's grades count for the setup that made it (when the commit is known), as one
    # graded commit per setup however many parties graded it.
    latest: dict[tuple[str, str, str], tuple[tuple[bool, float], Record]] = {}
    for _, fact in grades:
        commit_hash = fact["hash"]
        while (fact["project"], commit_hash) in successor:  # amended, maybe more than once
            commit_hash = successor[(fact["project"], commit_hash)]
        slot = (fact["project"], commit_hash, fact["by"])
        rank = (fact["hash"] == commit_hash, fact["ts"])  # its own grade first, then newest
        if slot not in latest or latest[slot][0] <= rank:
            latest[slot] = (rank, dict(fact, hash=commit_hash))
    per_commit: dict[tuple[str, str], list[Record]] = {}
    for _, fact in latest.values():
        per_commit.setdefault((fact["project"], fact["hash"]), []).append(fact)
    for commit_id, facts in per_commit.items():
        commit = commit_facts.get(commit_id)
        on = grade_day(commit, facts)
        by_setup: dict[tuple[str, str, str], list[int]] = {}
        for fact in facts:
            made_by = commit or fact
            by_setup.setdefault(
                (made_by["harness"], made_by["agent"], made_by["model"]), []
            ).append(fact["grade"])
        for (harness, agent, model), values in by_setup.items():
            made = {"harness": harness, "agent": agent, "model": model, "project": commit_id[0]}
            add_commit_grades(setup(made), values, +1)
            add_day_grades(day(made, on), values, +1)
    return {k: v for k, v in out.items() if not (k.startswith("day:") and is_empty_day(v))}
