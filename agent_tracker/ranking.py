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
from agent_tracker.facts import USAGE_COUNTS

#: What a group sums from its day records besides commits and grades.
_SUMMED = (*USAGE_COUNTS, *totals.COMMIT_FIGURES)

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
    instructions: str | None = None
    commits: int = 0
    graded_commits: int = 0
    score: int = 0
    score_sq: int = 0
    grades: int = 0
    mix: dict[str, int] = field(default_factory=lambda: dict.fromkeys(events.GRADE_NAMES_ORDER, 0))
    tool_calls: int = 0
    commands: int = 0
    failures: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_cache_read: int = 0
    tokens_cache_write: int = 0
    cost_micros: int = 0
    commit_tokens: int = 0
    commits_with_tokens: int = 0
    commit_cost_micros: int = 0
    commits_with_cost: int = 0
    fingerprints: set[str] = field(default_factory=set)  # instructions seen
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
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out + self.tokens_cache_read + self.tokens_cache_write

    @property
    def tokens_per_commit(self) -> float | None:
        """Mean tokens a session spent per commit, over the commits that say so."""
        return self.commit_tokens / self.commits_with_tokens if self.commits_with_tokens else None

    @property
    def cost(self) -> float | None:
        """Dollars spent, where the harness reports cost (None when none did)."""
        return self.cost_micros / 1e6 if self.cost_micros else None

    @property
    def cost_per_commit(self) -> float | None:
        if not self.commits_with_cost:
            return None
        return self.commit_cost_micros / self.commits_with_cost / 1e6

    @property
    def failure_share(self) -> float | None:
        """Failed tool calls and commands, as a share of all of them."""
        calls = self.tool_calls + self.commands
        return self.failures / calls if calls else None

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
        for key in _SUMMED:  # records older than format 2 lack some: they count as 0
            setattr(self, key, getattr(self, key) + cell.get(key, 0))
        if cell.get("instructions") is not None:
            self.fingerprints.add(cell["instructions"])
        self.projects.add(cell["project"])
        if totals.has_usage(cell) or cell["commits"]:
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
            "instructions": self.instructions,
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
            "failures": self.failures,
            "failure_share": round3(self.failure_share),
            "tokens": self.tokens,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "tokens_cache_read": self.tokens_cache_read,
            "tokens_cache_write": self.tokens_cache_write,
            "tokens_per_commit": round3(self.tokens_per_commit),
            "commits_with_tokens": self.commits_with_tokens,
            "cost": _dollars(self.cost),
            "cost_per_commit": _dollars(self.cost_per_commit),
            "commits_with_cost": self.commits_with_cost,
            "instructions_seen": sorted(self.fingerprints),
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


def _dollars(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


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
