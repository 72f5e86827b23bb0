"""Rankings as plain data: what `agent-tracker report` shows, before any rendering.

This first version lists every setup with its totals, best first: communication score per
graded commit, then XP. Events still in the journal are counted and reported (read-only);
the report never writes the database and never flushes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent_tracker.config import Settings
from agent_tracker.journal import Journal
from agent_tracker.store import LMDBDatabase


@dataclass
class SetupRow:
    harness: str
    agent: str
    model: str
    xp: int
    tool_calls: int
    commands: int
    commits: int
    score: int
    grades: int
    graded_commits: int
    last_day: str | None

    @property
    def setup(self) -> str:
        return f"{self.agent}@{self.model}"

    @property
    def score_per_graded_commit(self) -> float | None:
        return self.score / self.graded_commits if self.graded_commits else None


@dataclass
class Report:
    rows: list[SetupRow] = field(default_factory=list)
    pending_events: int = 0
    database_exists: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": 1,
            "pending_events": self.pending_events,
            "setups": [
                dict(
                    vars(row), setup=row.setup, score_per_graded_commit=row.score_per_graded_commit
                )
                for row in self.rows
            ],
        }


def build(settings: Settings) -> Report:
    report = Report(pending_events=Journal(settings.journal_dir).pending_count())
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    if db is None:
        return report
    with db:
        report.database_exists = True
        for record in db.agents():
            report.rows.append(
                SetupRow(**{name: record[name] for name in SetupRow.__dataclass_fields__})
            )
    report.rows.sort(
        key=lambda r: (
            -(r.score_per_graded_commit if r.score_per_graded_commit is not None else -99),
            -r.xp,
            r.setup,
        )
    )
    return report
