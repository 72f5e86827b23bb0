"""How groups are ranked: shrunk means, intervals, and the recommendation.

Method (also in the README, in plain words):
- The quality of a group (a setup, or an agent, model, harness or project) is its mean
  *score per graded commit*: the sum of the grades a commit got (agent and user, so
  -2..+10), averaged over the group's graded commits.
- Small samples are shrunk toward the overall mean as if every group had also received
  `PRIOR_COMMITS` commits scored at that mean, and the 95% interval of that shrunk mean uses
  the group's own spread blended with the overall spread (never below `MIN_VARIANCE`).
- Groups are ranked by the lower end of that interval, so one lucky grade cannot top the
  ranking; groups with fewer than `MIN_GRADED` graded commits are marked "too little data"
  and ranked after all groups that have enough; groups with no graded commit come last,
  by XP. Ties go to more graded commits, then to the name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from agent_tracker import events, totals

PRIOR_COMMITS = 5
MIN_GRADED = 5
Z95 = 1.96
#: Spread assumed for per-commit scores until there are enough grades to measure it.
PRIOR_VARIANCE = 9.0
#: The least spread an interval is computed with: identical scores (someone who only ever
#: grades "good") must not make a handful of commits look certain.
MIN_VARIANCE = 1.0
TREND_WEEKS = 8


@dataclass
class Group:
    """One row of the report: the aggregates of a setup (or agent, model, ...)."""

    label: str
    harness: str | None = None
    agent: str | None = None
    model: str | None = None
    project: str | None = None
    commits: int = 0
    graded_commits: int = 0
    score: int = 0
    score_sq: int = 0
    grades: int = 0
    mix: dict[str, int] = field(default_factory=lambda: dict.fromkeys(events.GRADE_NAMES_ORDER, 0))
    tool_calls: int = 0
    commands: int = 0
    projects: set[str] = field(default_factory=set)
    days: set[str] = field(default_factory=set)
    weekly: dict[str, list[int]] = field(default_factory=dict)  # week -> [graded, score]
    # Worked out by `rank`:
    rank: int = 0
    mean: float | None = None
    shrunk: float | None = None
    interval: tuple[float, float] | None = None
    too_little_data: bool = True

    @property
    def xp(self) -> int:
        return (
            totals.XP_TOOL * self.tool_calls
            + totals.XP_COMMAND * self.commands
            + totals.XP_COMMIT * self.commits
        )

    @property
    def graded_share(self) -> float | None:
        return self.graded_commits / self.commits if self.commits else None

    @property
    def tool_calls_per_commit(self) -> float | None:
        return self.tool_calls / self.commits if self.commits else None

    @property
    def last_active(self) -> str | None:
        return max(self.days) if self.days else None

    def add(self, cell: dict[str, Any]) -> None:
        self.commits += cell["commits"]
        self.graded_commits += cell["graded_commits"]
        self.score += cell["score"]
        self.score_sq += cell["score_sq"]
        self.grades += cell["grades"]
        for value, count in cell["mix"].items():
            name = events.GRADE_NAMES[int(value)]
            self.mix[name] = self.mix.get(name, 0) + count
        self.tool_calls += cell["tool_calls"]
        self.commands += cell["commands"]
        self.projects.add(cell["project"])
        if cell["tool_calls"] or cell["commands"] or cell["commits"]:
            self.days.add(cell["day"])
        if cell["graded_commits"]:
            week = _week_of(cell["day"])
            slot = self.weekly.setdefault(week, [0, 0])
            slot[0] += cell["graded_commits"]
            slot[1] += cell["score"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "label": self.label,
            "harness": self.harness,
            "agent": self.agent,
            "model": self.model,
            "project": self.project,
            "commits": self.commits,
            "graded_commits": self.graded_commits,
            "graded_share": round3(self.graded_share),
            "mean_score": round3(self.mean),
            "shrunk_score": round3(self.shrunk),
            "interval": None if self.interval is None else [round3(v) for v in self.interval],
            "too_little_data": self.too_little_data,
            "score": self.score,
            "grades": self.grades,
            "mix": dict(self.mix),
            "xp": self.xp,
            "tool_calls": self.tool_calls,
            "commands": self.commands,
            "tool_calls_per_commit": round3(self.tool_calls_per_commit),
            "projects": len(self.projects),
            "active_days": len(self.days),
            "last_active": self.last_active,
            "weekly": [
                {"week": week, "graded_commits": n, "mean_score": round3(total / n)}
                for week, (n, total) in sorted(self.weekly.items())
            ],
        }


def round3(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _week_of(day: str) -> str:
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


@dataclass
class Ranking:
    """The ranked groups, the evidence overall, and what to recommend."""

    groups: list[Group]
    overall_graded: int
    overall_mean: float | None
    choice: Group | None = None
    runner_up: Group | None = None
    recommendation: str = ""


def rank(groups: list[Group], by: str, top: int | None = None) -> Ranking:
    """Means, intervals, ranks and the recommendation (see the module docstring)."""
    n_all = sum(g.graded_commits for g in groups)
    s_all = sum(g.score for g in groups)
    q_all = sum(g.score_sq for g in groups)
    ranking = Ranking(groups, n_all, s_all / n_all if n_all else None)
    overall = ranking.overall_mean or 0.0
    overall_var = (q_all - s_all * s_all / n_all) / (n_all - 1) if n_all >= 10 else PRIOR_VARIANCE
    for group in groups:
        n = group.graded_commits
        group.too_little_data = n < MIN_GRADED
        if n == 0:
            continue
        group.mean = group.score / n
        own_var = (group.score_sq - group.score * group.score / n) / (n - 1) if n > 1 else 0.0
        pooled = ((n - 1) * own_var + PRIOR_COMMITS * overall_var) / (n - 1 + PRIOR_COMMITS)
        pooled = max(pooled, MIN_VARIANCE)
        group.shrunk = (group.score + PRIOR_COMMITS * overall) / (n + PRIOR_COMMITS)
        half = Z95 * math.sqrt(pooled / (n + PRIOR_COMMITS))
        group.interval = (group.shrunk - half, group.shrunk + half)

    def order(group: Group) -> tuple[int, float, int, int, str]:
        if group.interval is None:
            return (2, 0.0, 0, -group.xp, group.label)
        return (
            int(group.too_little_data),
            -group.interval[0],
            -group.graded_commits,
            0,
            group.label,
        )

    groups.sort(key=order)
    for position, group in enumerate(groups, start=1):
        group.rank = position
    _recommend(ranking, by)  # before --top cuts the list: the runner-up may be below the cut
    if top is not None:
        del groups[top:]
    return ranking


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _recommend(report: Ranking, what: str) -> None:
    ready = [g for g in report.groups if not g.too_little_data]
    if not ready:
        report.recommendation = (
            f"Not enough data yet: {_plural(report.overall_graded, 'graded commit')} so far, "
            f"and no {what} has {MIN_GRADED}. Grade commits as you go "
            "(`agent-tracker grade good --by user`, and let agents grade their own with "
            "`--by agent`), then look again."
        )
        return
    best = report.choice = ready[0]
    if best.interval is None or best.shrunk is None:  # pragma: no cover - ready groups have
        return
    low, high = best.interval
    lead = f"Use {best.label}" if what == "setup" else f"Best {what}: {best.label}"
    text = (
        f"{lead}: {best.shrunk:+.1f} per graded commit (95% interval {low:+.1f} to "
        f"{high:+.1f}), from {_plural(best.graded_commits, 'graded commit')} in "
        f"{_plural(len(best.projects), 'project')}."
    )
    if len(ready) > 1:
        second = report.runner_up = ready[1]
        text += (
            f" Runner-up: {second.label} at {second.shrunk or 0:+.1f} "
            f"({_plural(second.graded_commits, 'graded commit')})."
        )
        if second.interval is not None and second.interval[1] >= low:
            text += " Their intervals overlap: grade more commits to tell them apart."
    report.recommendation = text
