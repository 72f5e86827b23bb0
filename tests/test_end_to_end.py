"""The whole loop through real processes and real git: capture, hooks, push, report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from conftest import git, run_tracker
from hookwait import settle

from agent_tracker import config, events, gitinfo
from agent_tracker.journal import Journal
from agent_tracker.store import LMDBDatabase

BUILD = ["--agent", "build", "--model", "anthropic/claude-sonnet-4-5", "--harness", "opencode"]
PLAN = ["--agent", "plan", "--model", "openai/gpt-5", "--harness", "opencode"]


def tracker(repo: Path, *args: str) -> None:
    done = run_tracker(*args, cwd=repo)
    assert done.returncode == 0, done.stderr


def test_commit_hook_records_and_push_hook_flushes_exact_totals(
    make_repo: Callable[..., Path], bare_remote: Path
) -> None:
    repo = make_repo("app", origin=str(bare_remote))
    tracker(repo, "hooks", "install")
    settings = config.load()

    for _ in range(3):
        tracker(repo, "track", "tool", "edit", *BUILD)
    tracker(repo, "track", "command", "test", *BUILD)
    (repo / "app.py").write_text("print('hi')\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "First feature")  # post-commit: attributed via journal
    first = git(repo, "rev-parse", "HEAD")
    tracker(repo, "grade", "excellence", "--by", "agent")
    tracker(repo, "grade", "good", "--by", "user")

    tracker(repo, "track", "tool", "edit", *PLAN)
    (repo / "app.py").write_text("print('bye')\n")
    git(repo, "commit", "-q", "-am", "Second\n\nAgent: plan\nModel: openai/gpt-5")
    tracker(repo, "grade", "-1", "--by", "user")
    tracker(repo, "grade", "bad", "--by", "agent")
    tracker(repo, "grade", "neutral", "--by", "user")  # replaces the user's -1
    settle(repo)  # the post-commit hooks record in the background
    assert not settings.database_path.exists(), "capture must not create the database"
    pending = Journal(settings.journal_dir).pending_count()
    assert pending == 3 + 1 + 1 + 2 + 1 + 1 + 3

    git(repo, "push", "-q", "origin", "main")  # pre-push: flush, in the background
    settle(repo)

    assert git(bare_remote, "rev-parse", "main") == git(repo, "rev-parse", "HEAD")
    assert Journal(settings.journal_dir).pending_count() == 0
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    assert db is not None
    with db:
        build = db.get_agent(events.setup_id("opencode", "build", "anthropic/claude-sonnet-4-5"))
        plan = db.get_agent(events.setup_id("opencode", "plan", "openai/gpt-5"))
        pid = events.project_id(gitinfo.find_project(str(repo)).identity)
        first_commit = db.get_commit(pid, first)
    assert build is not None
    assert plan is not None
    assert first_commit is not None
    assert first_commit["source"] == "recent"
    assert (build["tool_calls"], build["commands"], build["commits"]) == (3, 1, 1)
    assert build["xp"] == 3 * 1 + 1 * 2 + 1 * 5
    assert build["score"] == 5 + 2
    assert (plan["tool_calls"], plan["commits"], plan["xp"]) == (1, 1, 1 + 5)
    assert plan["score"] == -1 + 1
    assert plan["graded_commits"] == 1

    report = run_tracker("report", "--format", "json", cwd=repo)
    assert report.returncode == 0, report.stderr
    groups = json.loads(report.stdout)["groups"]
    assert [g["label"] for g in groups] == [
        "build@anthropic/claude-sonnet-4-5 (opencode)",
        "plan@openai/gpt-5 (opencode)",
    ]


def test_status_and_report_on_a_fresh_home_explain_how_to_start(tmp_path: Path) -> None:
    status = run_tracker("status", cwd=tmp_path)
    assert status.returncode == 0
    assert "not yet" in status.stdout
    report = run_tracker("report", cwd=tmp_path)
    assert report.returncode == 0
    assert "No agent activity recorded yet" in report.stdout
    assert not config.load().database_path.exists()
