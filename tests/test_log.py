"""`agent-tracker log` through the installed console script, in a throw-away HOME and a real
git repository: pending events as captured, the commits and grades the database keeps once
flushed, newest first; --pending, --limit, --format json; a terminal 60 columns wide."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import commit_file, git
from hookwait import settle
from test_doctor import on_terminal, tracker

from agent_tracker import config, events
from agent_tracker.journal import Journal

MODEL = "anthropic/claude-sonnet-4-5"
LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)  (?P<state>pending|flushed)  "
    r"(?P<type>\w+) +(?P<rest>.*)$"
)


@pytest.fixture
def repo(make_repo: Callable[..., Path]) -> Path:
    repo = make_repo("shop")
    assert tracker("hooks", "install", cwd=repo).returncode == 0
    return repo


def track(repo: Path, name: str, model: str = MODEL) -> None:
    done = tracker(
        "track", "tool", name, "--harness", "claude-code", "--agent", "main", "--model", model,
        cwd=repo,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def work(repo: Path) -> str:
    """A tool call, a commit (through the real hook) and a grade, in that order."""
    track(repo, "edit")
    commit_file(repo, "cart.py", "cart = []\n", "Add the cart")
    settle(repo)
    done = tracker("grade", "good", "--by", "user", cwd=repo)
    assert done.returncode == 0, done.stderr
    return git(repo, "rev-parse", "HEAD")


def logged(repo: Path, *args: str) -> list[dict[str, Any]]:
    done = tracker("log", "--format", "json", *args, cwd=repo)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    entries: list[dict[str, Any]] = data["events"]
    return entries


def test_nothing_captured_yet(repo: Path) -> None:
    done = tracker("log", cwd=repo)
    assert (done.returncode, done.stdout, done.stderr) == (0, "nothing captured yet\n", "")
    assert tracker("log", "--pending", cwd=repo).stdout == "nothing pending\n"
    assert logged(repo) == []


def test_pending_events_newest_first_with_their_setup(repo: Path) -> None:
    sha = work(repo)
    done = tracker("log", cwd=repo)
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    found = [LINE.match(line) for line in lines]
    assert all(found), lines
    assert [(m["state"], m["type"]) for m in found if m] == [
        ("pending", "grade"),
        ("pending", "commit"),
        ("pending", "tool"),
    ]
    assert lines[0].endswith(f"{sha[:7]} good (+2) by user  main · {MODEL} (claude-code), in shop")
    assert f'{sha[:7]} "Add the cart"  main · {MODEL} (claude-code), in shop' in lines[1]
    assert lines[2].endswith(f"edit  main · {MODEL} (claude-code), in shop")
    assert not [line for line in lines if line != line.rstrip()]
    entries = logged(repo)
    times = [entry["ts"] for entry in entries]
    assert times == sorted(times, reverse=True)
    commit = entries[1]
    assert (commit["type"], commit["hash"], commit["subject"]) == ("commit", sha, "Add the cart")
    assert (commit["harness"], commit["agent"], commit["model"]) == ("claude-code", "main", MODEL)
    assert commit["project"] == str(repo)
    assert commit["state"] == "pending"


def test_flushed_commits_and_grades_stay_listed_and_pending_ones_come_first(repo: Path) -> None:
    sha = work(repo)
    assert tracker("flush", cwd=repo).returncode == 0
    track(repo, "read", model="openai/gpt-5")
    entries = logged(repo)
    assert [(e["state"], e["type"]) for e in entries] == [
        ("pending", "tool"),
        ("flushed", "grade"),
        ("flushed", "commit"),
    ]  # the flushed tool call is a daily count now, not an event
    grade = entries[1]
    assert (grade["hash"], grade["grade"], grade["by"]) == (sha, 2, "user")
    assert (grade["agent"], grade["model"]) == ("main", MODEL)  # the setup of its commit
    assert [e["type"] for e in logged(repo, "--pending")] == ["tool"]
    assert [e["type"] for e in logged(repo, "--limit", "2")] == ["tool", "grade"]
    text = tracker("log", "--pending", cwd=repo).stdout.splitlines()
    assert len(text) == 1
    assert "  pending  tool     read  main · openai/gpt-5 (claude-code), in shop" in text[0]


def test_the_newest_events_are_kept_whatever_their_order_in_the_files(
    repo: Path, settings: config.Settings
) -> None:
    journal = Journal(settings.journal_dir)
    now = time.time()
    for age, name in ((30, "old"), (10, "newest"), (20, "middle")):
        event = events.make("tool", ("claude-code", "main", MODEL), str(repo), name=name)
        event["ts"] = now - age
        journal.append(events.encode(event))
    assert [e["name"] for e in logged(repo, "--limit", "2")] == ["newest", "middle"]


@pytest.mark.parametrize("limit", ["0", "-3", "many"])
def test_a_bad_limit_is_one_usage_line(repo: Path, limit: str) -> None:
    done = tracker("log", "--limit", limit, cwd=repo)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("agent-tracker: error: ")
    assert done.stderr.count("\n") == 1
    assert "--limit" in done.stderr


def test_on_a_60_column_terminal_the_setup_goes_on_a_line_of_its_own(repo: Path) -> None:
    sha = work(repo)
    text = on_terminal("log", cwd=repo, columns=60)
    lines = text.splitlines()
    for line in lines:
        assert len(line) <= 60, repr(line)
        assert line == line.rstrip()
    assert lines[1].startswith("    ")  # the rest of what happened, then the setup
    assert f"main · {MODEL} (claude-code), in shop" in " ".join(line.strip() for line in lines)
    assert lines[0].endswith(f"grade    {sha[:7]} good (+2) by")
    assert "daily counts" not in text  # nothing flushed: no database to say it of
    wide = on_terminal("log", cwd=repo, columns=160)
    assert f"by user  main · {MODEL} (claude-code), in shop" in wide
