"""Scoring v2: how facts turn into per-setup and per-project totals.

| event | effect on the setup |
|---|---|
| tool call | +1 XP |
| command completed | +2 XP |
| commit | +5 XP, +1 commit |
| grade | communication score += grade (-1, 1, 2, 5); one grade per party per commit |

Derived records: `agent:<setup>` (all-time totals per setup), `project:<project>` (identity,
name, language mix), `day:<day>:<setup>:<project>:<instructions>` (what the report reads:
usage, commits by attribution source, and graded commits with the sum and sum of squares of
their per-commit scores, so that means and their uncertainty come from aggregates, never
from scanning events) and `reverts:<project>:<hash>` (which counted commits revert a commit).
A commit's grades count on the day of the commit (or of its first grade while the commit is
unknown), under the commit's instructions fingerprint.

Scoring v2 adds, to setup and day records, per-party aggregates (`PARTY_FIELDS`: for each
party the commits it graded, the sum and sum of squares of its grades; for commits graded by
both, the sum and sum of squares of agent - user) and `reverted`: how many of the record's
commits a later commit reverts (`This reverts commit <hash>.` in its message). A party's
grade of a commit is its newest one (`facts.newer`) of that commit or of any commit
it replaced.

All three carry the usage counts (`facts.USAGE_COUNTS`: tool calls, commands, failures,
tokens, cost; tokens and cost earn no XP) and the per-commit figures of the commits that
have them (`COMMIT_FIGURES`: the tokens and cost their sessions spent since the previous
commit, and how many commits had such a figure, so that a mean per commit is exact).

These functions are the one scoring engine: the incremental update of `applier` (flush and
the report's pending overlay) and the full recomputation of `recompute.from_facts` (rebuild,
import, migrate) both change records only through them. Active days come from usage and
commits only (a grade can be replaced, and a replaced fact must not leave a trace in a
derived value); a commit replaced by its amendment no longer counts, but its day stays
active. A grade of an amended commit counts for the commit that replaced it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from agent_tracker import events
from agent_tracker.facts import USAGE_COUNTS
from agent_tracker.keys import day_key

XP_TOOL = 1
XP_COMMAND = 2
XP_COMMIT = 5

Record = dict[str, Any]
Facts = Iterable[tuple[str, Record]]
#: Sums over the commits that report what their session spent.
COMMIT_FIGURES = ("commit_tokens", "commits_with_tokens", "commit_cost_micros", "commits_with_cost")
#: Per-party aggregates of the commits counted in a record (scoring v2), each commit with
#: each party's current grade of it: how many were graded, the sum and the sum of squares
#: of the grades; over the commits graded by both, the sum and sum of squares of
#: (agent - user); and how many of its commits a later commit reverts.
PARTY_FIELDS = (
    "user_graded",
    "user_sum",
    "user_sq",
    "agent_graded",
    "agent_sum",
    "agent_sq",
    "both_graded",
    "both_diff_sum",
    "both_diff_sq",
)
REVERTED = "reverted"


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
        **dict.fromkeys((*PARTY_FIELDS, REVERTED), 0),
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
        "roots": {},  # commits per root commit (see add_project_commit)
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
        **dict.fromkeys((*PARTY_FIELDS, REVERTED), 0),
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


def add_day_grades(cell: Record, grades: dict[str, int], sign: int) -> None:
    """One graded commit: its grades (party -> grade, one per party), their total as its
    score, and the per-party aggregates."""
    total = sum(grades.values())
    cell["score_sq"] += sign * total * total
    add_commit_grades(cell, grades, sign)


def _add_party_grades(record: Record, grades: dict[str, int], sign: int) -> None:
    for party, grade in grades.items():
        record[f"{party}_graded"] = record.get(f"{party}_graded", 0) + sign
        record[f"{party}_sum"] = record.get(f"{party}_sum", 0) + sign * grade
        record[f"{party}_sq"] = record.get(f"{party}_sq", 0) + sign * grade * grade
    if "agent" in grades and "user" in grades:
        diff = grades["agent"] - grades["user"]
        record["both_graded"] = record.get("both_graded", 0) + sign
        record["both_diff_sum"] = record.get("both_diff_sum", 0) + sign * diff
        record["both_diff_sq"] = record.get("both_diff_sq", 0) + sign * diff * diff


def add_reverted(record: Record, sign: int) -> None:
    """Count (+1) or uncount (-1) one commit of the record as reverted by a later one."""
    record[REVERTED] = record.get(REVERTED, 0) + sign


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
) -> list[tuple[Record, dict[str, int]]]:
    """One commit's grades (party -> grade), grouped by what they count for: the commit's
    setup and instructions when the commit is known, else each grade's own setup."""
    by_setup: dict[tuple[str, str, str, str | None], dict[str, int]] = {}
    project = ""
    for grade in grades:
        made_by = commit or grade
        project = grade["project"]
        setup = (made_by["harness"], made_by["agent"], made_by["model"])
        by_setup.setdefault((*setup, made_by.get("instructions")), {})[grade["by"]] = grade["grade"]
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


def reverts_of(fact: Record) -> str | None:
    """The commit a commit fact reverts (`This reverts commit <hash>.`), if any."""
    target = fact.get("reverts")
    return target if target and target != fact["hash"] else None


def revert_record(project: str, commit_hash: str, by: Iterable[str]) -> Record:
    """The derived index entry of a reverted commit: which counted commits revert it."""
    return {"project": project, "hash": commit_hash, "by": sorted(by)}


def grade_day(commit: Record | None, grades: Iterable[Record]) -> str:
    """The day a commit's grades count on: the commit's, else its earliest grade's."""
    if commit is not None:
        return events.day_of(commit["ts"])
    return events.day_of(min(grade["ts"] for grade in grades))


def touch(record: Record, day: str) -> None:
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
    touch(record, day)
    _xp(record)


def add_commit(record: Record, fact: Record, day: str, sign: int = 1) -> None:
    """Count (sign=+1) or, for a commit replaced by its amendment, uncount (-1) a commit."""
    record["commits"] += sign
    add_commit_figures(record, fact, sign)
    if sign > 0:
        touch(record, day)
    _xp(record)


def add_commit_grades(record: Record, grades: dict[str, int], sign: int) -> None:
    """Add (sign=+1) or remove (sign=-1) the grades one commit got (party -> grade)."""
    record["score"] += sign * sum(grades.values())
    record["grades"] += sign * len(grades)
    record["graded_commits"] += sign
    for grade in grades.values():
        record["mix"][str(grade)] += sign
    _add_party_grades(record, grades, sign)


def add_project_usage(record: Record, usage: Record, day: str) -> None:
    add_counts(record, usage)
    touch(record, day)


def add_project_commit(record: Record, fact: Record, day: str, sign: int = 1) -> None:
    record["commits"] += sign
    add_commit_figures(record, fact, sign)
    exts: dict[str, int] = fact.get("exts") or {}
    for ext, count in exts.items():
        record["exts"][ext] = record["exts"].get(ext, 0) + sign * count
        if not record["exts"][ext]:
            del record["exts"][ext]
    root = fact.get("root")  # commits per root commit: clones that share one are one project
    if isinstance(root, str) and root:
        roots = record.setdefault("roots", {})
        roots[root] = roots.get(root, 0) + sign
        if not roots[root]:
            del roots[root]
    if sign > 0:
        touch(record, day)
