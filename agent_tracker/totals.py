"""Scoring v1: how facts turn into per-setup and per-project totals.

| event | effect on the setup |
|---|---|
| tool call | +1 XP |
| command completed | +2 XP |
| commit | +5 XP, +1 commit |
| grade | communication score += grade (-1, 1, 2, 5); one grade per party per commit |

Derived records: `agent:<setup>` (all-time totals per setup), `project:<project>` (identity,
name, language mix) and `day:<day>:<setup>:<project>:<instructions>` (what the report reads:
usage, commits by attribution source, and graded commits with the sum and sum of squares of
their per-commit scores, so that means and their uncertainty come from aggregates, never
from scanning events). A commit's grades count on the day of the commit (or of its first
grade while the commit is unknown), under the commit's instructions fingerprint.

All three carry the usage counts (`facts.USAGE_COUNTS`: tool calls, commands, failures,
tokens, cost; tokens and cost earn no XP) and the per-commit figures of the commits that
have them (`COMMIT_FIGURES`: the tokens and cost their sessions spent since the previous
commit, and how many commits had such a figure, so that a mean per commit is exact).

The same functions serve the incremental update in `flush` and the full recomputation in
`from_facts`, so the two always agree. Active days come from usage and commits only (a
grade can be replaced, and a replaced fact must not leave a trace in a derived value); a
commit replaced by its amendment no longer counts, but its day stays active. A grade of an
amended commit counts for the commit that replaced it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from agent_tracker import events
from agent_tracker.facts import USAGE_COUNTS
from agent_tracker.keys import agent_key, day_key, project_key

XP_TOOL = 1
XP_COMMAND = 2
XP_COMMIT = 5

Record = dict[str, Any]
Facts = Iterable[tuple[str, Record]]
#: Sums over the commits that report what their session spent.
COMMIT_FIGURES = ("commit_tokens", "commits_with_tokens", "commit_cost_micros", "commits_with_cost")


def _figures() -> Record:
    return dict.fromkeys((*USAGE_COUNTS, *COMMIT_FIGURES), 0)


def setup_record(harness: str, agent: str, model: str) -> Record:
    return {
        "harness": harness,
        "agent": agent,
        "model": model,
        "xp": 0,
        **_figures(),
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
        **_figures(),
        "commits": 0,
        "exts": {},
        "first_day": None,
        "last_day": None,
    }


def day_record(
    harness: str, agent: str, model: str, project: str, day: str, instructions: str | None
) -> Record:
    return {
        "harness": harness,
        "agent": agent,
        "model": model,
        "project": project,
        "day": day,
        "instructions": instructions,
        **_figures(),
        "commits": 0,
        "sources": {},
        "graded_commits": 0,
        "score": 0,
        "score_sq": 0,
        "grades": 0,
        "mix": {str(value): 0 for value in events.GRADE_VALUES},
    }


def add_counts(record: Record, usage: Record) -> None:
    """Add a usage fact's counts (or those of events about to become one) to a record.

    Records written before format 2 lack the newer counts (a report over a database not yet
    brought forward): they start from 0.
    """
    for key in USAGE_COUNTS:
        count = usage.get(key, 0)
        if count or key not in record:
            record[key] = record.get(key, 0) + count


def add_commit_figures(record: Record, fact: Record, sign: int = 1) -> None:
    """Add (+1) or remove (-1) a commit's spending figures, where it has them."""
    tokens = fact.get("tokens")
    if tokens is not None:
        record["commit_tokens"] = record.get("commit_tokens", 0) + sign * sum(tokens.values())
        record["commits_with_tokens"] = record.get("commits_with_tokens", 0) + sign
    cost = fact.get("cost_micros")
    if cost is not None:
        record["commit_cost_micros"] = record.get("commit_cost_micros", 0) + sign * cost
        record["commits_with_cost"] = record.get("commits_with_cost", 0) + sign


def add_day_commit(cell: Record, fact: Record, sign: int = 1) -> None:
    source = fact.get("source") or events.UNKNOWN
    cell["commits"] += sign
    add_commit_figures(cell, fact, sign)
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


def has_usage(record: Record) -> bool:
    return any(record.get(key) for key in USAGE_COUNTS)


def is_empty_day(cell: Record) -> bool:
    return not (has_usage(cell) or cell["commits"] or cell["grades"])


def day_of(fact: Record, on: str) -> tuple[str, tuple[str, str, str, str, str, str | None]]:
    """The key of the day record a fact counts in on day `on`, and what makes that record."""
    instructions = fact.get("instructions")
    sid = events.setup_id(fact["harness"], fact["agent"], fact["model"])
    key = day_key(on, sid, events.project_id(fact["project"]), instructions)
    return key, (fact["harness"], fact["agent"], fact["model"], fact["project"], on, instructions)


def grades_by_setup(
    commit: Record | None, grades: Iterable[Record]
) -> list[tuple[Record, list[int]]]:
    """One commit's grades, grouped by what they count for: the commit's setup and
    instructions when the commit is known, else each grade's own setup."""
    by_setup: dict[tuple[str, str, str, str | None], list[int]] = {}
    project = ""
    for grade in grades:
        made_by = commit or grade
        project = grade["project"]
        setup = (made_by["harness"], made_by["agent"], made_by["model"])
        by_setup.setdefault((*setup, made_by.get("instructions")), []).append(grade["grade"])
    return [
        (
            {"harness": h, "agent": a, "model": m, "project": project, "instructions": i},
            values,
        )
        for (h, a, m, i), values in by_setup.items()
    ]


def final_hash(commit_hash: str, replaced_by: Callable[[str], str | None]) -> str:
    """The commit that `commit_hash` became through amendments (maybe more than one)."""
    seen = {commit_hash}
    while (following := replaced_by(commit_hash)) is not None and following not in seen:
        seen.add(following)  # a cycle can only come from a damaged import: stop there
        commit_hash = following
    return commit_hash


def _successor(successor: dict[tuple[str, str], str], project: str, commit_hash: str) -> str | None:
    return successor.get((project, commit_hash))


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


def add_usage(record: Record, usage: Record, day: str) -> None:
    add_counts(record, usage)
    _touch(record, day)
    _xp(record)


def add_commit(record: Record, fact: Record, day: str, sign: int = 1) -> None:
    """Count (sign=+1) or, for a commit replaced by its amendment, uncount (-1) a commit."""
    record["commits"] += sign
    add_commit_figures(record, fact, sign)
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


def add_project_usage(record: Record, usage: Record, day: str) -> None:
    add_counts(record, usage)
    _touch(record, day)


def add_project_commit(record: Record, fact: Record, day: str, sign: int = 1) -> None:
    record["commits"] += sign
    add_commit_figures(record, fact, sign)
    exts: dict[str, int] = fact.get("exts") or {}
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
    replaced_facts = list(replaced)
    successor = {(fact["project"], fact["hash"]): fact["by_hash"] for _, fact in replaced_facts}

    def setup(fact: Record) -> Record:
        sid = events.setup_id(fact["harness"], fact["agent"], fact["model"])
        return out.setdefault(
            agent_key(sid), setup_record(fact["harness"], fact["agent"], fact["model"])
        )

    def project(fact: Record) -> Record:
        pid = events.project_id(fact["project"])
        return out.setdefault(project_key(pid), project_record(fact["project"]))

    def day(fact: Record, on: str) -> Record:
        key, made = day_of(fact, on)
        return out.setdefault(key, day_record(*made))

    for _, fact in replaced_facts:
        # An amended commit no longer counts, but it was work on its day (as it was when a
        # flush applied it before its amendment).
        on = events.day_of(fact["ts"])
        _touch(setup(fact), on)
        _touch(project(fact), on)
    for _, fact in usages:
        add_usage(setup(fact), fact, fact["day"])
        add_project_usage(project(fact), fact, fact["day"])
        add_counts(day(fact, fact["day"]), fact)
    commit_facts = {
        (fact["project"], fact["hash"]): fact
        for _, fact in commits
        if (fact["project"], fact["hash"]) not in successor
    }
    for fact in commit_facts.values():
        on = events.day_of(fact["ts"])
        add_commit(setup(fact), fact, on)
        add_project_commit(project(fact), fact, on)
        add_day_commit(day(fact, on), fact)
    # A commit's grades count for the setup that made it (when the commit is known), as one
    # graded commit per setup however many parties graded it.
    latest: dict[tuple[str, str, str], tuple[tuple[bool, float], Record]] = {}
    for _, fact in grades:
        commit_hash = final_hash(fact["hash"], partial(_successor, successor, fact["project"]))
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
        for made, values in grades_by_setup(commit, facts):
            add_commit_grades(setup(made), values, +1)
            add_day_grades(day(made, on), values, +1)
    return {k: v for k, v in out.items() if not (k.startswith("day:") and is_empty_day(v))}
