"""A group of the report (a setup, or an agent, model, harness, project or instructions):
what it sums from its day cells, and what the ranking works out for it.

Every figure comes from the per-day aggregates (`totals.day_record`), so a group costs one
addition per day cell. The user's grades are also kept per project (count, sum, sum of
squares, and the same for the days from `recent_from` on): what the evidence model
(`ranking.model`) fits and the drift hint compares. The agent's grades are summed to be
shown beside them, never used as evidence. Cells written before these per-party fields
existed lack them: they count as 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from agent_tracker import events, totals
from agent_tracker.facts import USAGE_COUNTS

#: What a group sums from its day records besides commits and grades.
_SUMMED = (*USAGE_COUNTS, *totals.COMMIT_FIGURES)
#: The summed per-party fields of a day record (absent in records before format 2: 0).
_PARTY = (
    *("user_graded", "user_sum", "user_sq", "agent_graded", "agent_sum"),
    *("both_graded", "both_diff_sum", "reverted"),
)
#: A grade as a day record's `mix` keys it (JSON keys are text) -> its name.
_MIX_NAMES = {str(value): name for value, name in events.GRADE_NAMES.items()}

#: Fewer user-graded commits than this: "too little data", never the recommendation.
MIN_USER_GRADED = 5
#: Inflation (mean agent - user grade over commits graded by both) warned about from here...
INFLATION_WARNING = 0.5
#: ... over at least this many commits graded by both.
INFLATION_MIN_BOTH = 5
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
    communication_score: int = 0  # the sum of every grade, both parties'
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
    user_graded: int = 0
    user_sum: int = 0
    user_sq: int = 0
    agent_graded: int = 0
    agent_sum: int = 0
    both_graded: int = 0
    both_diff_sum: int = 0
    reverted: int = 0
    #: project -> [user graded, sum, sum of squares, the same two for the recent days]
    user_cells: dict[str, list[int]] = field(default_factory=dict)
    # Worked out by `rank`:
    rank: int = 0
    score: float | None = None  # expected user grade on an average project
    variance: float | None = None
    contrast: float | None = None  # the variance comparisons with other groups rest on
    interval: tuple[float, float] | None = None
    p_best: float | None = None
    eligible: bool = False  # may be recommended: enough user grades, nothing unknown
    worth_trying: int | None = None  # commits to grade, when worth trying
    recent_mean: float | None = None  # project-adjusted user mean of the recent days
    hints: list[str] = field(default_factory=list)

    @property
    def too_little_data(self) -> bool:
        return self.user_graded < MIN_USER_GRADED

    @property
    def mean(self) -> float | None:
        """The communication score per graded commit (both parties' grades: -2..+10)."""
        return self.communication_score / self.graded_commits if self.graded_commits else None

    @property
    def user_mean(self) -> float | None:
        return self.user_sum / self.user_graded if self.user_graded else None

    @property
    def agent_mean(self) -> float | None:
        """The agent's mean grade of its own commits: shown, never evidence."""
        return self.agent_sum / self.agent_graded if self.agent_graded else None

    @property
    def inflation(self) -> float | None:
        """Mean (agent - user) grade over the commits both graded."""
        return self.both_diff_sum / self.both_graded if self.both_graded else None

    @property
    def inflated(self) -> bool:
        return (
            self.both_graded >= INFLATION_MIN_BOTH
            and self.inflation is not None
            and self.inflation >= INFLATION_WARNING
        )

    @property
    def revert_rate(self) -> float | None:
        return self.reverted / self.commits if self.commits else None

    @property
    def user_projects(self) -> int:
        return sum(1 for cell in self.user_cells.values() if cell[0])

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

    def add(self, cell: dict[str, Any], recent_from: str | None = None) -> None:
        """Add one day cell; its user grades count as recent from the day `recent_from`.

        The report adds every day cell of its range (thousands for a year): the sums are
        added in the instance's own dict, zeros skipped, rather than through getattr and
        setattr per field (half the time of `report.build`).
        """
        get = cell.get
        sums = self.__dict__
        commits = cell["commits"]
        sums["commits"] += commits
        sums["graded_commits"] += cell["graded_commits"]
        sums["communication_score"] += cell["score"]
        sums["grades"] += cell["grades"]
        mix = self.mix
        for value, count in cell["mix"].items():
            name = _MIX_NAMES.get(value) or events.GRADE_NAMES[int(value)]
            mix[name] = mix.get(name, 0) + count
        used = False
        for key in _SUMMED:  # records older than format 2 lack some: they count as 0
            value = get(key)
            if value:
                sums[key] += value
                used = used or key in USAGE_COUNTS
        instructions = get("instructions")
        if instructions is not None:
            self.fingerprints.add(instructions)
        project = cell["project"]
        self.projects.add(project)
        if used or commits:
            self.days.add(cell["day"])
        users = get("user_graded", 0)
        if not (users or get("agent_graded", 0) or get("reverted", 0)):
            return
        for key in _PARTY:
            value = get(key)
            if value:
                sums[key] += value
        if users:
            user_sum = cell["user_sum"]
            slot = self.user_cells.get(project)
            if slot is None:
                slot = self.user_cells[project] = [0, 0, 0, 0, 0]
            slot[0] += users
            slot[1] += user_sum
            slot[2] += cell["user_sq"]
            day = cell["day"]
            if recent_from is not None and day >= recent_from:
                slot[3] += users
                slot[4] += user_sum
            week = self.weekly.setdefault(_week_of(day), [0, 0])
            week[0] += users
            week[1] += user_sum

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
            "expected_grade": round3(self.score),
            "interval": None if self.interval is None else [round3(v) for v in self.interval],
            "p_best": round3(self.p_best),
            "user_graded": self.user_graded,
            "user_mean": round3(self.user_mean),
            "user_projects": self.user_projects,
            "eligible": self.eligible,
            "too_little_data": self.too_little_data,
            "worth_trying": self.worth_trying,
            "agent_graded": self.agent_graded,
            "agent_mean": round3(self.agent_mean),
            "both_graded": self.both_graded,
            "inflation": round3(self.inflation),
            "inflation_warning": self.inflated,
            "reverted": self.reverted,
            "revert_rate": round3(self.revert_rate),
            "hints": list(self.hints),
            "graded_commits": self.graded_commits,
            "graded_share": round3(self.graded_share),
            "score": self.communication_score,
            "mean_score": round3(self.mean),
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
                {"week": week, "user_graded": n, "user_mean": round3(total / n)}
                for week, (n, total) in sorted(self.weekly.items())
            ],
        }


def round3(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _dollars(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _week_of(day: str) -> str:
    week = _WEEKS.get(day)
    if week is None:
        year, number, _ = date.fromisoformat(day).isocalendar()
        week = _WEEKS[day] = f"{year}-W{number:02d}"
    return week


#: Day -> its ISO week: every group of a report asks for the same few hundred days.
_WEEKS: dict[str, str] = {}
