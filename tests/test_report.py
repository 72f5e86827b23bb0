"""The report on hand-built histories with known answers."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import format1
import jsonschema
import pytest
from conftest import Result, commit_event, commit_file, db_entries

from agent_tracker import config, events, reportview
from agent_tracker.flush import flush
from agent_tracker.journal import Journal
from agent_tracker.ranking import MIN_USER_GRADED as MIN_GRADED
from agent_tracker.report import Query, build, parse_day, parse_setup
from agent_tracker.store import LMDBDatabase

Cli = Callable[..., Result]
ROOT = Path(__file__).resolve().parent.parent
TODAY = date.today()
GOOD = ("opencode", "build", "anthropic/claude-sonnet-4-5")
LUCKY = ("opencode", "build", "openai/gpt-5")
PLAN = ("claude-code", "plan", "anthropic/claude-sonnet-4-5")


class History:
    """Writes events with chosen days straight into the real journal."""

    def __init__(self, settings: config.Settings) -> None:
        self.settings = settings
        self.journal = Journal(settings.journal_dir)
        self.count = 0

    def ts(self, days_ago: int) -> float:
        day = TODAY - timedelta(days=days_ago)
        return float(date(day.year, day.month, day.day).strftime("%s")) + 43200

    def add(self, event: dict[str, object], days_ago: int) -> None:
        event["ts"] = self.ts(days_ago)
        self.journal.append(events.encode(event))

    def commit(
        self,
        setup: tuple[str, str, str],
        grades: tuple[int, ...] = (),
        *,
        project: str = "github.com/me/app",
        days_ago: int = 1,
        source: str = "flag",
        exts: dict[str, int] | None = None,
        tools: int = 0,
    ) -> str:
        self.count += 1
        sha = f"{self.count:040x}"
        for _ in range(tools):
            self.add(events.make("tool", setup, project, name="edit"), days_ago)
        event = commit_event(setup, project, sha, source=source, exts=exts or {".py": 1})
        self.add(event, days_ago)
        for party, grade in zip(events.PARTIES, grades, strict=False):
            self.add(
                events.make("grade", setup, project, hash=sha, by=party, grade=grade), days_ago
            )
        return sha

    def flush(self) -> None:
        flush(self.settings)


@pytest.fixture
def history(settings: config.Settings) -> History:
    return History(settings)


def labels(report_groups: list[object]) -> list[str]:
    return [g.label for g in report_groups]  # type: ignore[attr-defined]


def test_one_lucky_user_grade_is_worth_trying_never_the_recommendation(
    history: History, settings: config.Settings
) -> None:
    for index in range(40):  # the user: 35 "good", 5 "excellence"; the agent: "excellence"
        history.commit(GOOD, (5, 2) if index % 8 else (5, 5), days_ago=index % 20)
    history.commit(LUCKY, (5, 5))  # one commit, "excellence" from both
    history.flush()
    report = build(settings, Query())
    good, lucky = report.groups
    assert (good.agent, good.model) == GOOD[1:]
    assert (good.user_graded, good.user_mean) == (40, 2.375)
    assert (good.mean, lucky.mean) == (7.375, 10)  # the communication score per commit
    assert good.score is not None
    assert lucky.score is not None
    assert good.score < lucky.score < 5  # shrunk far toward the overall mean
    assert lucky.too_little_data
    assert not good.too_little_data
    assert report.choice is good
    assert report.recommendation.startswith(f"Use {good.label}:")
    assert "40 user-graded commits in 1 project" in report.recommendation
    assert lucky.worth_trying == 4
    assert "Worth trying: build@openai/gpt-5 (opencode)" in report.recommendation


def test_score_lies_between_own_and_overall_mean_and_narrows_with_data(
    history: History, settings: config.Settings
) -> None:
    for index in range(30):
        history.commit(GOOD, (5, 5) if index % 3 else (1, 1))
    history.commit(PLAN, (-1, -1))
    history.flush()
    first = build(settings, Query())
    good, plan = first.groups
    fit = first.ranking.fit
    assert fit is not None
    assert plan.user_mean == -1
    assert plan.score is not None
    assert plan.user_mean < plan.score < fit.mean
    assert good.user_mean is not None
    assert good.score is not None
    assert fit.mean < good.score < good.user_mean
    assert plan.interval is not None
    width_one = plan.interval[1] - plan.interval[0]
    for _ in range(20):
        history.commit(PLAN, (-1, -1))
    history.flush()
    plan_later = next(g for g in build(settings, Query()).groups if g.agent == "plan")
    assert plan_later.interval is not None
    assert plan_later.interval[1] - plan_later.interval[0] < width_one * 0.7
    # What sets it apart from the other setup narrows faster; the level of an average project
    # stays uncertain with a single project.
    assert plan.contrast is not None
    assert plan_later.contrast is not None
    assert plan_later.contrast < plan.contrast / 3


def test_too_little_data_threshold_and_ties(history: History, settings: config.Settings) -> None:
    for _ in range(MIN_GRADED - 1):
        history.commit(GOOD, (2, 2))
    for _ in range(MIN_GRADED - 1):
        history.commit(PLAN, (2, 2))
    history.commit(LUCKY, (5,))  # graded by its agent only
    history.flush()
    report = build(settings, Query())
    assert [g.too_little_data for g in report.groups] == [True, True, True]
    # A tie (same data) is broken by user-graded commits, then by name; groups without a user
    # grade come last.
    assert labels(report.groups) == [
        "build@anthropic/claude-sonnet-4-5 (opencode)",
        "plan@anthropic/claude-sonnet-4-5 (claude-code)",
        "build@openai/gpt-5 (opencode)",
    ]
    assert report.choice is None
    assert report.recommendation.startswith("Not enough evidence yet: 8 user-graded commits")
    assert [g.p_best for g in report.groups] == [0.5, 0.5, None]
    history.commit(PLAN, (2, 2))  # the fifth: enough
    history.flush()
    report = build(settings, Query())
    assert report.groups[0].label == "plan@anthropic/claude-sonnet-4-5 (claude-code)"
    assert not report.groups[0].too_little_data


@pytest.fixture
def fixture_history(history: History) -> History:
    """Two projects (Python, TypeScript), three setups, spread over 60 days."""
    py, ts = "github.com/me/api", "github.com/me/web"
    history.commit(GOOD, (5, 2), project=py, days_ago=1, tools=3)
    history.commit(GOOD, (2,), project=py, days_ago=40, source="env")
    history.commit(GOOD, (5, 5), project=ts, days_ago=2, exts={".ts": 2}, tools=1)
    history.commit(PLAN, (1, -1), project=ts, days_ago=3, exts={".ts": 1}, source="journal")
    history.commit(PLAN, (), project=py, days_ago=50, source="unknown")
    history.commit(LUCKY, (2, 2), project=py, days_ago=59, source="trailer")
    history.flush()
    return history


def group_numbers(report_groups: list[object]) -> dict[str, tuple[int, int, int, int]]:
    return {
        g.label: (g.commits, g.graded_commits, g.communication_score, g.tool_calls)  # type: ignore[attr-defined]
        for g in report_groups
    }


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        (
            "setup",
            {
                "build@anthropic/claude-sonnet-4-5 (opencode)": (3, 3, 19, 4),
                "plan@anthropic/claude-sonnet-4-5 (claude-code)": (2, 1, 0, 0),
                "build@openai/gpt-5 (opencode)": (1, 1, 4, 0),
            },
        ),
        ("agent", {"build": (4, 4, 23, 4), "plan": (2, 1, 0, 0)}),
        ("model", {"anthropic/claude-sonnet-4-5": (5, 4, 19, 4), "openai/gpt-5": (1, 1, 4, 0)}),
        ("harness", {"opencode": (4, 4, 23, 4), "claude-code": (2, 1, 0, 0)}),
        ("project", {"api": (4, 3, 13, 3), "web": (2, 2, 10, 1)}),
    ],
)
def test_every_grouping_on_a_fixture_history(
    fixture_history: History,
    settings: config.Settings,
    by: str,
    expected: dict[str, tuple[int, int, int, int]],
) -> None:
    assert group_numbers(build(settings, Query(by=by)).groups) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            Query(since=parse_day("30d", TODAY)),
            {
                "build@anthropic/claude-sonnet-4-5 (opencode)": (2, 2, 17, 4),
                "plan@anthropic/claude-sonnet-4-5 (claude-code)": (1, 1, 0, 0),
            },
        ),
        (
            Query(until=parse_day("45d", TODAY)),
            {
                "plan@anthropic/claude-sonnet-4-5 (claude-code)": (1, 0, 0, 0),
                "build@openai/gpt-5 (opencode)": (1, 1, 4, 0),
            },
        ),
        (
            Query(project="web"),
            {
                "build@anthropic/claude-sonnet-4-5 (opencode)": (1, 1, 10, 1),
                "plan@anthropic/claude-sonnet-4-5 (claude-code)": (1, 1, 0, 0),
            },
        ),
        (
            Query(project="github.com/me/api", model="openai/gpt-5"),
            {
                "build@openai/gpt-5 (opencode)": (1, 1, 4, 0),
            },
        ),
        (Query(agent="PLAN"), {"plan@anthropic/claude-sonnet-4-5 (claude-code)": (2, 1, 0, 0)}),
        (
            Query(harness="opencode", top=1),
            {
                "build@anthropic/claude-sonnet-4-5 (opencode)": (3, 3, 19, 4),
            },
        ),
        (
            Query(language="TypeScript"),
            {
                "build@anthropic/claude-sonnet-4-5 (opencode)": (1, 1, 10, 1),
                "plan@anthropic/claude-sonnet-4-5 (claude-code)": (1, 1, 0, 0),
            },
        ),
    ],
)
def test_filters_on_a_fixture_history(
    fixture_history: History,
    settings: config.Settings,
    query: Query,
    expected: dict[str, tuple[int, int, int, int]],
) -> None:
    assert group_numbers(build(settings, query).groups) == expected


def test_attribution_coverage_counts_commits_by_source(
    fixture_history: History, settings: config.Settings
) -> None:
    report = build(settings, Query())
    assert report.sources == {"flag": 2, "env": 1, "journal": 1, "unknown": 1, "trailer": 1}
    assert report.attributed_share == pytest.approx(5 / 6)


def test_like_picks_projects_by_language(
    fixture_history: History, cli: Cli, make_repo: Callable[..., Path]
) -> None:
    repo = make_repo("new-ts-app")
    commit_file(repo, "src/index.ts", "export {}", "init")
    commit_file(repo, "README.md", "# x", "docs")
    data = json.loads(cli("report", "--like", str(repo), "--format", "json").out)
    assert data["query"]["language"] == "TypeScript"
    assert {g["label"]: g["commits"] for g in data["groups"]} == {
        "build@anthropic/claude-sonnet-4-5 (opencode)": 1,
        "plan@anthropic/claude-sonnet-4-5 (claude-code)": 1,
    }
    empty = make_repo("docs-only")
    commit_file(empty, "notes.md", "x", "docs")
    result = cli("report", "--like", str(empty))
    assert result.code == 2
    assert "cannot tell the main language" in result.err


def test_json_output_validates_against_the_documented_schema(
    fixture_history: History, cli: Cli
) -> None:
    schema = json.loads((ROOT / "docs" / "report-schema.json").read_text())
    for args in ([], ["--by", "project"], ["--since", "7d"], ["--project", "nothing"]):
        data = json.loads(cli("report", "--format", "json", *args).out)
        jsonschema.validate(data, schema, format_checker=jsonschema.FormatChecker())
    data = json.loads(cli("report", "--format", "json").out)
    assert data["groups"][0]["weekly"][0]["user_graded"] >= 1
    broken = dict(data, version=1)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_csv_round_trips_the_json_numbers(fixture_history: History, cli: Cli) -> None:
    data = json.loads(cli("report", "--format", "json").out)
    rows = list(csv.DictReader(io.StringIO(cli("report", "--format", "csv").out)))
    assert len(rows) == len(data["groups"])
    for row, group in zip(rows, data["groups"], strict=True):
        assert row["label"] == group["label"]
        assert int(row["commits"]) == group["commits"]
        assert int(row["score"]) == group["score"]
        assert int(row["user_graded"]) == group["user_graded"]
        assert int(row["excellence"]) == group["mix"]["excellence"]
        if group["interval"] is not None:
            assert float(row["interval_low"]) == group["interval"][0]
            assert float(row["expected_grade"]) == group["expected_grade"]
            assert float(row["p_best"]) == group["p_best"]
        assert row["too_little_data"] == str(group["too_little_data"])


def test_markdown_output_is_a_table(fixture_history: History, cli: Cli) -> None:
    out = cli("report", "--format", "markdown").out
    lines = out.splitlines()
    assert lines[2].startswith("| # | setup |")
    assert len([line for line in lines if line.startswith("| ")]) == 1 + 3


def test_pending_events_are_counted_shown_and_leave_the_database_untouched(
    fixture_history: History, settings: config.Settings, cli: Cli
) -> None:
    fixture_history.commit(PLAN, (5, 5), days_ago=0, tools=2)  # 1 commit, 2 grades, 2 tools
    before = db_entries(settings)
    data_file = settings.database_path / "data.mdb"
    stamp = data_file.stat().st_mtime_ns
    data = json.loads(cli("report", "--format", "json").out)
    assert data["pending_events"] == 5
    plan = next(g for g in data["groups"] if g["agent"] == "plan")
    assert (plan["commits"], plan["graded_commits"], plan["score"]) == (3, 2, 10)
    flushed_only = json.loads(cli("report", "--flushed-only", "--format", "json").out)
    plan = next(g for g in flushed_only["groups"] if g["agent"] == "plan")
    assert (plan["commits"], plan["score"]) == (2, 0)
    assert flushed_only["pending_events"] == 5
    assert "5 pending events included" in " ".join(cli("report").out.split())
    assert db_entries(settings) == before
    assert data_file.stat().st_mtime_ns == stamp
    assert Journal(settings.journal_dir).pending_count() == 5


def test_pending_events_alone_are_reported_without_creating_a_database(
    history: History, settings: config.Settings, cli: Cli
) -> None:
    history.commit(GOOD, (5,))
    data = json.loads(cli("report", "--format", "json").out)
    assert data["groups"][0]["score"] == 5
    assert not settings.database_path.exists()


def test_one_setup_in_depth(fixture_history: History, cli: Cli) -> None:
    result = cli("report", "--setup", "opencode/build@anthropic/claude-sonnet-4-5")
    assert result.code == 0
    assert "rank 1 of 3 setups" in result.out
    assert "3 commits, 3 graded" in result.out
    assert "api" in result.out
    assert "web" in result.out
    data = json.loads(cli("report", "--setup", "build@openai/gpt-5", "--format", "json").out)
    assert data["schema"] == "agent-tracker-setup-report"
    assert data["ranked_among"] == 3
    (only,) = data["setups"]
    assert (only["commits"], only["rank"]) == (1, 2)
    assert [g["label"] for g in data["projects"]["groups"]] == ["api"]
    assert cli("report", "--setup", "nonsense").code == 2
    assert "No setup matches" in cli("report", "--setup", "x@y").out


def test_text_report_fits_80_columns_without_colour_when_piped(
    fixture_history: History, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = cli("report").out
    assert "\x1b[" not in out
    assert max(len(line) for line in out.splitlines()) <= 80  # prose is wrapped
    assert "build (opencode)" in out
    assert "anthropic/claude-sonnet-4-5" in out  # the model on a line of its own
    monkeypatch.setenv("COLUMNS", "150")
    wide = cli("report").out
    assert "verted" in wide
    assert max(len(line) for line in wide.splitlines()) <= 150


def test_bad_report_options_are_clear_errors(cli: Cli) -> None:
    assert "cannot read 'yesterday'" in cli("report", "--since", "yesterday").err
    assert cli("report", "--since", "2026-02-01", "--until", "2026-01-01").code == 2
    assert cli("report", "--top", "0").code == 2
    assert cli("report", "--by", "colour").code == 2


def test_relative_and_iso_days() -> None:
    today = date(2026, 11, 26)
    assert parse_day("30d", today) == "2026-10-27"
    assert parse_day("12w", today) == "2026-09-03"
    assert parse_day("2026-01-31", today) == "2026-01-31"
    assert parse_setup("opencode/build@a/b") == ("opencode", "build", "a/b")
    assert parse_setup("build@a/b") == (None, "build", "a/b")


def test_demo_report_shows_the_better_setup_first(tmp_path: Path) -> None:
    script = ROOT / "examples" / "demo.sh"
    tracker = Path(sys.executable).parent / "agent-tracker"
    env = {k: v for k, v in os.environ.items() if k != "HOME"}
    env.update(AGENT_TRACKER=str(tracker), TMPDIR=str(tmp_path), COLUMNS="200")
    done = subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.strip()[:2] in ("1 ", "2 ")]
    assert "build@anthropic/claude-sonnet-4-5" in rows[0]
    assert "plan@openai/gpt-5" in rows[1]
    assert "Use build@anthropic/claude-sonnet-4-5" in done.stdout


def test_a_segment_already_applied_is_neither_pending_nor_counted_twice(
    history: History, settings: config.Settings
) -> None:
    history.commit(GOOD, (5,), tools=3)
    segment = history.journal.rotate()
    assert segment is not None
    copy = segment.read_bytes()
    history.flush()
    segment.write_bytes(copy)  # a flush died after its commit, before deleting the segment
    report = build(settings, Query())
    assert report.pending_events == 0
    assert (report.groups[0].tool_calls, report.groups[0].commits) == (3, 1)


def test_relative_days_are_utc_days(
    history: History, settings: config.Settings, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time as time_module

    event = events.make("tool", GOOD, "github.com/me/app", name="edit")  # now, UTC
    history.journal.append(events.encode(event))
    for zone in ("Etc/GMT-14", "Etc/GMT+12"):  # UTC+14 and UTC-12: local date != UTC date
        monkeypatch.setenv("TZ", zone)
        time_module.tzset()
        try:
            data = json.loads(cli("report", "--since", "0d", "--format", "json").out)
        finally:
            monkeypatch.delenv("TZ")
            time_module.tzset()
        assert [g["tool_calls"] for g in data["groups"]] == [1], zone


def test_top_cuts_rows_but_keeps_the_runner_up_in_the_recommendation(
    history: History, settings: config.Settings
) -> None:
    for _ in range(6):
        history.commit(GOOD, (5, 5))
        history.commit(PLAN, (2, 1))
    history.flush()
    report = build(settings, Query(top=1))
    assert [g.rank for g in report.groups] == [1]
    assert report.runner_up is not None
    assert "Runner-up: plan@" in report.recommendation


def test_projects_with_the_same_name_stay_apart(
    history: History, settings: config.Settings
) -> None:
    history.commit(GOOD, (5,), project="github.com/alice/app")
    history.commit(GOOD, (2,), project="github.com/bob/app")
    history.commit(GOOD, (2,), project="github.com/bob/tool")
    history.flush()
    groups = build(settings, Query(by="project")).groups
    assert sorted(g.label for g in groups) == ["github.com/alice/app", "github.com/bob/app", "tool"]
    assert all(len(g.projects) == 1 for g in groups)


def test_grades_moving_to_their_commit_leave_no_empty_rows(
    history: History, settings: config.Settings
) -> None:
    event = events.make(
        "grade", ("unknown",) * 3, "github.com/me/app", hash="ab" * 20, by="user", grade=5
    )
    history.add(event, days_ago=0)
    history.flush()
    history.add(commit_event(GOOD, "github.com/me/app", "ab" * 20), days_ago=3)
    history.flush()
    report = build(settings, Query())
    assert [(g.label, g.commits, g.communication_score) for g in report.groups] == [
        ("build@anthropic/claude-sonnet-4-5 (opencode)", 1, 5),
    ]
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    assert db is not None
    with db, db.env.begin() as txn:
        days = [bytes(k) for k, _ in txn.cursor() if bytes(k).startswith(b"day:")]
    assert len(days) == 1


def test_identical_scores_still_get_an_interval(
    history: History, settings: config.Settings
) -> None:
    for _ in range(6):
        history.commit(GOOD, (2, 2))  # a user who only ever says "good"
    history.flush()
    (group,) = build(settings, Query()).groups
    assert group.interval is not None
    assert group.interval[1] - group.interval[0] > 1.0


def test_ungraded_groups_come_last_ordered_by_xp(
    history: History, settings: config.Settings
) -> None:
    history.commit(PLAN, (), tools=1)
    history.commit(LUCKY, (), tools=9)
    history.commit(GOOD, (1, 1))
    history.flush()
    assert [g.agent + "@" + str(g.model) for g in build(settings, Query()).groups] == [
        "build@anthropic/claude-sonnet-4-5",
        "build@openai/gpt-5",
        "plan@anthropic/claude-sonnet-4-5",
    ]


def test_summaries_older_than_this_version_are_flagged_then_rebuilt(
    history: History, settings: config.Settings, cli: Cli
) -> None:
    history.commit(GOOD, (5,))
    history.flush()
    db = LMDBDatabase.open_write(settings.database_path, settings.max_database_size)
    with db, db.env.begin(write=True) as txn:  # as written before day records existed
        txn.delete(b"meta:derived")
        for key in [bytes(k) for k, _ in txn.cursor() if bytes(k).startswith(b"day:")]:
            txn.delete(key)
    data = json.loads(cli("report", "--format", "json").out)
    assert data["warnings"]
    assert data["groups"] == []
    history.commit(GOOD, (2,))
    history.flush()  # opening for writing rebuilds the summaries from the facts
    data = json.loads(cli("report", "--format", "json").out)
    assert data["warnings"] == []
    assert (data["groups"][0]["commits"], data["groups"][0]["score"]) == (2, 7)


def test_setup_detail_refuses_formats_it_cannot_give(cli: Cli) -> None:
    result = cli("report", "--setup", "a@b", "--format", "csv")
    assert result.code == 2
    assert "--format text or json" in result.err


# -- format 2: instructions, tokens, cost and failures ----------------------------------------

APP = "github.com/me/app"


def session_work(
    history: History,
    setup: tuple[str, str, str],
    fingerprint: str | None,
    commits: list[tuple[int, dict[str, object]]],
    *,
    failed: int = 0,
) -> None:
    """Commits of one session: each with its grade (by the user) and what it spent
    ({"tokens": ..., "cost": ...}, or nothing), after a tool call that spent as much, and
    `failed` failed commands."""
    context: dict[str, object] = {"session": f"ses-{setup[1]}-{fingerprint}"}
    if fingerprint is not None:
        context["instructions"] = fingerprint
    for _ in range(failed):
        history.add(events.make("command", setup, APP, name="pytest", ok=False, **context), 1)
    for grade, spent in commits:
        history.count += 1
        sha = f"{history.count:040x}"
        history.add(events.make("tool", setup, APP, name="edit", ok=True, **context, **spent), 1)
        history.add(commit_event(setup, APP, sha, source="session", **context, **spent), 1)
        history.add(events.make("grade", setup, APP, hash=sha, by="user", grade=grade), 1)


@pytest.fixture
def spending_history(history: History) -> History:
    """One model under two instruction files (and once without), Claude Code without cost."""
    tokens = {"in": 1000, "out": 500, "cache_read": 20000, "cache_write": 500}
    session_work(history, GOOD, "aaaa1111", [(5, {"tokens": tokens, "cost": 0.25})] * 4, failed=2)
    session_work(history, GOOD, "bbbb2222", [(1, {"tokens": tokens, "cost": 0.75})] * 2)
    session_work(history, PLAN, "aaaa1111", [(2, {"tokens": {"in": 100, "out": 100}}), (2, {})])
    session_work(history, LUCKY, None, [(2, {})])
    history.flush()
    return history


def test_by_instructions_groups_by_fingerprint(
    spending_history: History, settings: config.Settings, cli: Cli
) -> None:
    report = build(settings, Query(by="instructions"))
    numbers = {g.label: (g.commits, g.graded_commits, g.communication_score) for g in report.groups}
    assert numbers == {"aaaa1111": (6, 6, 24), "bbbb2222": (2, 2, 2), "-": (1, 1, 2)}
    assert report.groups[0].instructions == "aaaa1111"
    data = json.loads(cli("report", "--by", "instructions", "--format", "json").out)
    assert data["query"]["by"] == "instructions"
    labels = {g["label"]: g["instructions"] for g in data["groups"]}
    assert labels == {"aaaa1111": "aaaa1111", "bbbb2222": "bbbb2222", "-": None}
    out = cli("report", "--by", "instructions").out
    assert "aaaa1111" in out
    assert "bbbb2222" in out


def test_tokens_cost_and_failures_per_setup_and_per_commit_in_json(
    spending_history: History, cli: Cli
) -> None:
    data = json.loads(cli("report", "--format", "json").out)
    schema = json.loads((ROOT / "docs" / "report-schema.json").read_text())
    jsonschema.validate(data, schema, format_checker=jsonschema.FormatChecker())
    groups = {g["label"]: g for g in data["groups"]}
    good = groups["build@anthropic/claude-sonnet-4-5 (opencode)"]
    # Usage: 6 tool calls that spent 22,000 tokens each; commits: the same per commit.
    assert (good["tokens"], good["tokens_in"], good["tokens_cache_read"]) == (132000, 6000, 120000)
    assert (good["tokens_per_commit"], good["commits_with_tokens"]) == (22000, 6)
    assert (good["cost"], good["commits_with_cost"]) == (2.5, 6)
    assert good["cost_per_commit"] == pytest.approx(0.416667, abs=1e-6)
    assert (good["failures"], good["failure_share"]) == (2, round(2 / 8, 3))
    assert good["instructions_seen"] == ["aaaa1111", "bbbb2222"]
    plan = groups["plan@anthropic/claude-sonnet-4-5 (claude-code)"]  # tokens, no cost
    assert (plan["tokens"], plan["tokens_per_commit"], plan["commits_with_tokens"]) == (200, 200, 1)
    assert (plan["cost"], plan["cost_per_commit"], plan["failure_share"]) == (None, None, 0)
    lucky = groups["build@openai/gpt-5 (opencode)"]  # nothing reported
    assert (lucky["tokens"], lucky["tokens_per_commit"], lucky["cost"]) == (0, None, None)
    assert lucky["instructions_seen"] == []
    assert data["coverage"]["by_source"]["session"] == 9


def test_csv_and_markdown_carry_tokens_and_cost(spending_history: History, cli: Cli) -> None:
    rows = {
        r["label"]: r for r in csv.DictReader(io.StringIO(cli("report", "--format", "csv").out))
    }
    good = rows["build@anthropic/claude-sonnet-4-5 (opencode)"]
    assert (good["tokens"], good["tokens_per_commit"], good["cost"]) == ("132000", "22000.0", "2.5")
    assert good["instructions_seen"] == "aaaa1111 bbbb2222"
    assert rows["build@openai/gpt-5 (opencode)"]["cost"] == ""
    lines = cli("report", "--format", "markdown").out.splitlines()
    assert lines[2].endswith("| tokens | tokens/commit | cost | cost/commit | failed |")
    good_line = next(line for line in lines if line.startswith("| 1 | build@anthropic"))
    assert good_line.endswith("| 132000 | 22000 | $2.50 | $0.42 | 2 (25%) |")
    lucky_line = next(line for line in lines if line.startswith("| ") and "gpt-5" in line)
    assert "| - | - | - | - |" in lucky_line  # nothing reported tokens: not "0"


def test_setup_detail_shows_spending_and_instruction_fingerprints(
    spending_history: History, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    out = " ".join(
        cli("report", "--setup", "opencode/build@anthropic/claude-sonnet-4-5").out.split()
    )
    assert "tokens 132k (in 6.0k, out 3.0k, cache read 120k, cache write 3.0k)" in out
    assert "22.0k tokens per commit (over 6 commits that report it)" in out
    assert "cost $2.50; $0.42 per commit (over 6 commits)" in out
    assert "2 (25%) failed tool calls and commands" in out
    assert "instructions (fingerprints): aaaa1111, bbbb2222" in out
    data = json.loads(
        cli("report", "--setup", "build@anthropic/claude-sonnet-4-5", "--format", "json").out
    )
    assert data["setups"][0]["tokens_per_commit"] == 22000
    silent = " ".join(cli("report", "--setup", "opencode/build@openai/gpt-5").out.split())
    assert "tokens -;" in silent or "tokens - " in silent


def test_wide_terminals_also_show_tokens_cost_and_failures_per_commit(
    spending_history: History, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", str(reportview.SPENDING_WIDTH))
    out = cli("report").out
    assert "tokens" in out
    assert "/commit" in out
    assert max(len(line) for line in out.splitlines()) <= reportview.SPENDING_WIDTH
    good_row = next(line for line in out.splitlines() if line.startswith(" 1 "))
    assert good_row.split()[-3:] == ["22.0k", "$0.42", "25%"]
    monkeypatch.setenv("COLUMNS", str(reportview.SPENDING_WIDTH - 1))
    assert "failed" not in cli("report").out


def test_a_format_1_database_is_reported_as_it_is_with_pending_format_2_events(
    settings: config.Settings, history: History
) -> None:
    format1.write(settings.database_path)
    event = events.make("tool", format1.SETUP, format1.PROJECT, name="edit", tokens={"in": 10})
    history.journal.append(events.encode(event))
    report = build(settings, Query(by="instructions"))
    assert report.stale_derived
    (group,) = report.groups
    assert (group.label, group.commits, group.tool_calls, group.tokens_in) == ("-", 1, 8, 10)
    assert report.sources == {"journal": 1}


def _rooted(history: History, project: str, root: str | None, days_ago: int = 1) -> str:
    history.count += 1
    sha = f"{history.count:040x}"
    fields = {} if root is None else {"root": root}
    history.add(events.make("tool", GOOD, project, name="edit"), days_ago)
    history.add(commit_event(GOOD, project, sha, **fields), days_ago)
    history.add(events.make("grade", GOOD, project, hash=sha, by="user", grade=2), days_ago)
    return sha


@pytest.mark.parametrize("flushed", [True, False])
def test_projects_sharing_a_root_commit_are_one_project(
    history: History, settings: config.Settings, flushed: bool
) -> None:
    """Item 7: clones whose pins differ (a path on one machine, a URL on another) are one
    project in the report; a repository with another root never joins them."""
    root, other_root = "a" * 40, "b" * 40
    _rooted(history, "/home/me/app", root)
    _rooted(history, "/home/me/app", root)
    _rooted(history, "github.com/me/app", root)
    _rooted(history, "/mnt/laptop/app-copy", root)
    _rooted(history, "/home/me/unrelated", other_root)
    _rooted(history, "/home/me/old", None)  # recorded before roots were: stays apart
    if flushed:
        history.flush()
    report = build(settings, Query(by="project"))
    found = {g.label: (g.project, g.commits, g.tool_calls, len(g.projects)) for g in report.groups}
    assert found == {
        "app": ("github.com/me/app", 4, 4, 1),
        "unrelated": ("/home/me/unrelated", 1, 1, 1),
        "old": ("/home/me/old", 1, 1, 1),
    }
    setups = build(settings, Query(by="setup"))
    (group,) = setups.groups
    assert (group.commits, len(group.projects), group.user_projects) == (6, 3, 3)
    assert build(settings, Query(by="project", project="app")).groups[0].commits == 4
