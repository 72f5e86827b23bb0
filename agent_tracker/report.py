"""Rankings as plain data: which agent setup to use next, and how sure that is.

The report reads only the per-day aggregates (`day:<date>:<setup>:<project>:<instructions>`,
see `totals`) in the requested date range, plus the project records, so its cost grows with
setups, projects and days, never with the number of events. Pending journal events are folded in
by applying them to an in-memory overlay of those records (read-only: nothing is written,
nothing is flushed). How the groups are then ranked is `ranking`'s business.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from agent_tracker import events, paths, totals
from agent_tracker.config import Settings
from agent_tracker.errors import UsageError
from agent_tracker.journal import Journal
from agent_tracker.keys import segment_key
from agent_tracker.projects import join_clones, shown_as
from agent_tracker.ranking import (
    LOSS_TIE,
    MIN_USER_GRADED,
    RECENT_DAYS,
    WORTH_TRYING,
    Group,
    Ranking,
    rank,
    round3,
)
from agent_tracker.ranking.model import MIN_VARIANCE, PRIOR_TAU
from agent_tracker.store import LMDBDatabase, WriteBatch
from agent_tracker.words import plural

REPORT_SCHEMA = "agent-tracker-report"
REPORT_VERSION = 3
BY_CHOICES = ("setup", "agent", "model", "harness", "project", "instructions")
#: How a commit's setup was decided (`journal` and `legacy`: data of older versions).
SOURCES = (
    "session",
    "flag",
    "env",
    "trailer",
    "author",
    "recent",
    "journal",
    "legacy",
    "unknown",
)
#: The label of commits and usage with no instructions fingerprint (`--by instructions`).
NO_INSTRUCTIONS = "-"

_RELATIVE = re.compile(r"^([0-9]+)([dwmy])$")  # ASCII digits only (not fullwidth ones)
_UNIT_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}


def parse_day(text: str, today: date) -> str:
    """`2026-11-01`, or relative to today: `30d`, `12w`, `6m`, `1y`."""
    value = text.strip().lower()
    match = _RELATIVE.match(value)
    if match:
        return (today - timedelta(days=int(match[1]) * _UNIT_DAYS[match[2]])).isoformat()
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise UsageError(
            f"cannot read {text!r} as a date: use YYYY-MM-DD or a relative form like 30d, "
            "12w, 6m, 1y"
        ) from None


def parse_setup(text: str) -> tuple[str | None, str, str]:
    """`agent@model` or `harness/agent@model` (the model may contain slashes)."""
    head, at, model = text.partition("@")
    if not at or not head or not model:
        raise UsageError(f"--setup {text!r}: use AGENT@MODEL, e.g. build@anthropic/claude-x")
    harness, slash, agent = head.partition("/")
    return (harness, agent, model) if slash else (None, head, model)


@dataclass
class Query:
    by: str = "setup"
    since: str | None = None
    until: str | None = None
    project: str | None = None
    agent: str | None = None
    model: str | None = None
    harness: str | None = None
    language: str | None = None
    top: int | None = None
    include_pending: bool = True
    #: `--team`: the whole pool on the team server (`member`: one member's machines).
    team: bool = False
    member: str | None = None

    def __post_init__(self) -> None:
        if self.by not in BY_CHOICES:
            raise UsageError(f"--by {self.by!r}: use one of {', '.join(BY_CHOICES)}")
        if self.top is not None and self.top < 1:
            raise UsageError("--top must be at least 1")
        if self.since and self.until and self.since > self.until:
            raise UsageError(f"--since {self.since} is after --until {self.until}")


@dataclass
class Report:
    query: Query
    since: str | None
    until: str | None
    groups: list[Group] = field(default_factory=list)
    pending_events: int = 0
    database_exists: bool = False
    sources: dict[str, int] = field(default_factory=dict)
    ranking: Ranking = field(default_factory=lambda: Ranking([], 0, None))
    generated_at: str = ""
    stale_derived: bool = False
    per_project_database: str | None = None
    #: Stored records skipped because their values are damaged (see `records`).
    damaged_records: int = 0

    @property
    def warnings(self) -> list[str]:
        found = []
        if self.stale_derived:
            found.append(
                "this database's summaries predate this agent-tracker; they are rebuilt by the "
                "next `agent-tracker flush` (until then the figures may be incomplete)"
            )
        if self.damaged_records:
            found.append(
                f"{self.damaged_records} damaged database records were skipped; "
                "`agent-tracker rebuild` sets them aside and recomputes the summaries"
            )
        if self.per_project_database:
            found.append(
                f"a per-project database at {self.per_project_database} is not in this report "
                "yet; the next flush (or `agent-tracker migrate`) merges it"
            )
        return found

    @property
    def overall_graded(self) -> int:
        return self.ranking.overall_graded

    @property
    def user_graded(self) -> int:
        return self.ranking.user_graded

    @property
    def choice(self) -> Group | None:
        return self.ranking.choice

    @property
    def runner_up(self) -> Group | None:
        return self.ranking.runner_up

    @property
    def recommendation(self) -> str:
        return self.ranking.recommendation

    @property
    def pending_text(self) -> str:
        """What the report did with the events no flush has applied yet, in words."""
        if self.query.team:
            return "what the team server holds (a machine's events count once flushed and synced)"
        pending = plural(self.pending_events, "pending event")
        if self.query.include_pending:
            return f"{pending} included"
        return f"{pending} left out (--flushed-only)"

    @property
    def window(self) -> str:
        """The days it covers, in words: `2026-01-01 to 2026-06-30`, `all time`."""
        if self.since and self.until:
            return f"{self.since} to {self.until}"
        if self.since:
            return f"since {self.since}"
        if self.until:
            return f"until {self.until}"
        return "all time"

    @property
    def commits(self) -> int:
        return sum(self.sources.values())

    @property
    def attributed_share(self) -> float | None:
        total = self.commits
        return (total - self.sources.get("unknown", 0)) / total if total else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": REPORT_SCHEMA,
            "version": REPORT_VERSION,
            "generated_at": self.generated_at,
            "query": {
                "by": self.query.by,
                "since": self.since,
                "until": self.until,
                "project": self.query.project,
                "agent": self.query.agent,
                "model": self.query.model,
                "harness": self.query.harness,
                "language": self.query.language,
                "top": self.query.top,
                "include_pending": self.query.include_pending,
                **({"team": True, "member": self.query.member} if self.query.team else {}),
            },
            "method": self._method(),
            "pending_events": self.pending_events,
            "warnings": self.warnings,
            "overall": {
                "graded_commits": self.overall_graded,
                "mean_score": round3(self.ranking.overall_mean),
                "user_graded": self.user_graded,
            },
            "coverage": {
                "commits": self.commits,
                "attributed_share": round3(self.attributed_share),
                "by_source": {source: self.sources.get(source, 0) for source in SOURCES},
            },
            "recommendation": {
                "text": self.recommendation,
                "choice": None if self.choice is None else self.choice.label,
                "runner_up": None if self.runner_up is None else self.runner_up.label,
                "expected_loss": round3(self.ranking.expected_loss),
                "tied": self.ranking.tied,
                "more_user_graded_each": self.ranking.more_each,
                "worth_trying": [
                    {"label": g.label, "p_best": round3(g.p_best), "grade_more": g.worth_trying}
                    for g in self.ranking.worth_trying
                ],
            },
            "groups": [group.as_dict() for group in self.groups],
        }

    def _method(self) -> dict[str, Any]:
        fit = self.ranking.fit
        return {
            "evidence": "user grades",
            "model": "user grade = overall mean + group effect + project effect + noise, "
            "empirical Bayes; score = expected user grade on an average project",
            "min_user_graded": MIN_USER_GRADED,
            "interval": 0.95,
            "loss_tie": LOSS_TIE,
            "worth_trying_p_best": WORTH_TRYING,
            "recent_days": RECENT_DAYS,
            "min_variance": MIN_VARIANCE,
            "prior_between": PRIOR_TAU,
            "overall_mean": None if fit is None else round3(fit.mean),
            "residual_variance": None if fit is None else round3(fit.residual),
            "between_groups_variance": None if fit is None else round3(fit.between_groups),
            "between_projects_variance": (None if fit is None else round3(fit.between_projects)),
        }


# -- reading -----------------------------------------------------------------------------------


class _View:
    """The stored derived records with pending events applied on top, in memory only."""

    def __init__(self, txn: Any) -> None:
        self.batch = WriteBatch(txn)

    def applied(self, segment_id: str) -> bool:
        return self.batch.has(segment_key(segment_id))

    def apply_pending(self, journal: Journal) -> None:
        if not journal.pending_files(self.applied):
            return  # nothing pending: the applier is not even imported
        from agent_tracker.applier import Applier, drop_empty_days

        # Streamed, as a flush reads them: memory grows with the records touched, not events.
        applier = Applier(self.batch, "pending")
        applier.apply(journal.pending_events(self.applied, applier.count, applier.count_line))
        drop_empty_days(self.batch)

    def scan(
        self, prefix: str, start: str | None = None, stop: str | None = None
    ) -> Iterator[tuple[str, Any]]:
        """Records under `prefix` with keys in [prefix+start, prefix+stop], overlay included."""
        low = prefix + (start or "")
        high = prefix + (stop or "") + "\uffff" if stop else None
        changed = {
            key: value
            for key, value in self.batch.changes().items()
            if key.startswith(prefix) and key >= low and (high is None or key <= high)
        }
        if self.batch.txn is not None:
            for key, value in self.batch.scan_range(low, high or prefix + "\uffff"):
                if key not in changed:
                    yield key, value
        for key, value in changed.items():
            if value is not None:
                yield key, value


def build(settings: Settings, query: Query | None = None, folder: str | None = None) -> Report:
    """Compute the report for `query` (default: all setups, all time, pending included).

    With `folder`, mention a per-project database found there that is not merged yet.
    """
    query = query or Query()
    journal = Journal(settings.journal_dir)
    report = Report(
        query=query,
        since=query.since,
        until=query.until,
        generated_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    try:
        txn = db.read() if db is not None else None
        report.database_exists = db is not None
        view = _View(txn)
        report.stale_derived = db is not None and db.derived_outdated()
        # Segments a dead flush applied but did not delete are not pending any more.
        report.pending_events = journal.pending_count(view.applied)
        if query.include_pending:
            view.apply_pending(journal)
        _collect(report, view, query)
        report.damaged_records = len(view.batch.damaged)
        if txn is not None:
            txn.abort()
    finally:
        if db is not None:
            db.close()
    # The merging code loads only where an older tool left a per-project database (rare).
    if folder is not None and paths.may_hold_legacy_database(folder):
        from agent_tracker import migrate

        report.per_project_database = migrate.pending_source(settings, folder)
    report.ranking = rank(report.groups, query.by, query.top)
    report.groups = report.ranking.groups
    return report


def from_view(view: Any, query: Query) -> Report:
    """The report of records offered by `view` (any object with `_View.scan`): how
    `report --team` ranks the team server's day cells with this very method."""
    report = Report(
        query=query,
        since=query.since,
        until=query.until,
        generated_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        database_exists=True,
    )
    _collect(report, view, query)
    report.ranking = rank(report.groups, query.by, query.top)
    report.groups = report.ranking.groups
    return report


def _collect(report: Report, view: _View, query: Query) -> None:
    end = date.fromisoformat(query.until) if query.until else utc_today()
    recent_from = (end - timedelta(days=RECENT_DAYS - 1)).isoformat()
    projects = {value["project"]: value for _, value in view.scan("project:")}
    alias, projects = join_clones(projects)  # clones sharing a root commit are one project
    wanted_projects = _matching_projects(projects, query)
    groups: dict[str, Group] = {}
    # Per day cell (thousands in a year): the filters only when given, one group per setup
    # found by its identity rather than by building its label again.
    filtered = any(getattr(query, key) is not None for key in ("agent", "model", "harness"))
    by_setup: dict[tuple[str, str, str], Group] = {}
    sources = report.sources
    for _, cell in shown_as(alias, view.scan("day:", query.since, query.until)):
        if not (cell["commits"] or cell["grades"]) and totals.is_empty_day(cell):
            continue
        if wanted_projects is not None and cell["project"] not in wanted_projects:
            continue
        if filtered and not _matches(cell, query):
            continue
        setup = (cell["harness"], cell["agent"], cell["model"])
        group = by_setup.get(setup) if query.by == "setup" else None
        if group is None:
            label, parts = _group_of(cell, query.by, projects)
            group = groups.get(label)
            if group is None:
                group = groups[label] = Group(label=label, **parts)
            if query.by == "setup":
                by_setup[setup] = group
        group.add(cell, recent_from)
        for source, count in cell["sources"].items():
            sources[source] = sources.get(source, 0) + count
    report.groups = list(groups.values())
    if query.by == "project":
        _name_projects(report.groups, projects)


def _name_projects(groups: list[Group], projects: dict[str, dict[str, Any]]) -> None:
    """Show projects by their short name, or by their identity where two names collide."""
    names: dict[str, int] = {}
    for group in groups:
        name = str(projects.get(group.label, {}).get("name") or group.label)
        names[name] = names.get(name, 0) + 1
    for group in groups:
        name = str(projects.get(group.label, {}).get("name") or group.label)
        group.label = name if names[name] == 1 else group.label


def _matching_projects(projects: dict[str, dict[str, Any]], query: Query) -> set[str] | None:
    if query.project is None and query.language is None:
        return None
    from agent_tracker import languages

    wanted = set()
    for identity, record in projects.items():
        if query.project is not None and not totals.project_matches(identity, query.project):
            continue
        if query.language is not None and (
            languages.dominant(record.get("exts") or {}) != query.language
        ):
            continue
        wanted.add(identity)
    return wanted


def _matches(cell: dict[str, Any], query: Query) -> bool:
    for key in ("agent", "model", "harness"):
        wanted = getattr(query, key)
        if wanted is not None and cell[key].lower() != wanted.lower():
            return False
    return True


def _group_of(
    cell: dict[str, Any], by: str, projects: dict[str, dict[str, Any]]
) -> tuple[str, dict[str, Any]]:
    if by == "setup":
        label = f"{cell['agent']}@{cell['model']}"
        if cell["harness"] != events.UNKNOWN:
            label = f"{label} ({cell['harness']})"
        return label, {"harness": cell["harness"], "agent": cell["agent"], "model": cell["model"]}
    if by == "project":
        return cell["project"], {"project": cell["project"]}
    if by == "instructions":  # records older than format 2 have none
        fingerprint = cell.get("instructions")
        return fingerprint or NO_INSTRUCTIONS, {"instructions": fingerprint}
    return cell[by], {by: cell[by]}


@dataclass
class SetupDetail:
    """`report --setup`: the matching setups as ranked among all, and their projects."""

    wanted: str
    setups: list[Group]
    among: Report
    projects: Report

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": "agent-tracker-setup-report",
            "version": REPORT_VERSION,
            "setup": self.wanted,
            "ranked_among": len(self.among.groups),
            "setups": [group.as_dict() for group in self.setups],
            "projects": self.projects.as_dict(),
        }


def setup_detail(
    settings: Settings,
    query: Query,
    wanted: str,
    builder: Callable[[Settings, Query], Report] | None = None,
) -> SetupDetail:
    """One setup in depth. Its score is shrunk and ranked among all setups (same period and
    projects), so that it reads the same as in the main report; its projects follow.
    `builder` builds each report (default `build`; `report --team`: from the server)."""
    build_report = builder or build
    harness, agent, model = parse_setup(wanted)
    among = build_report(settings, dataclasses.replace(query, by="setup", top=None))
    matching = [
        g
        for g in among.groups
        if g.agent == agent and g.model == model and harness in (None, g.harness)
    ]
    projects = build_report(
        settings,
        dataclasses.replace(query, by="project", agent=agent, model=model, harness=harness),
    )
    return SetupDetail(wanted, matching, among, projects)


def utc_today() -> date:
    """Days are UTC days throughout (events are filed under their UTC day)."""
    return datetime.now(UTC).date()
