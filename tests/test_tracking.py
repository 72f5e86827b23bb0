"""TrackingService: opting a repository out, and pinning its identity at first sight."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result, commit_file, git
from hookwait import settle
from test_harnesses import hook, journal

from agent_tracker import config, hookscripts
from agent_tracker.attribution import Partial
from agent_tracker.tracking import TrackingService


@pytest.mark.parametrize("value", ["false", "no", "off", "0", "FALSE"])
def test_an_opted_out_repository_records_nothing(
    cli: Callable[..., Result],
    make_repo: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    value: str,
) -> None:
    """Item 24: track, commit, grade and the harness hook record nothing, exit 0; by hand,
    `grade` says so in one line."""
    repo = make_repo()
    commit_file(repo, "a.txt", "1\n", "first")
    git(repo, "config", "agent-tracker.enabled", value)
    monkeypatch.chdir(repo)
    for args in (
        ("track", "tool", "edit", "--agent", "build"),
        ("track", "command", "test"),
        ("commit", "--agent", "build"),
    ):
        done = cli(*args)
        assert (done.code, done.err) == (0, "")
    done = cli("grade", "good", "--by", "user")
    assert done.code == 0
    assert done.err.count("\n") == 1
    assert "tracking is off in this repository" in done.err
    payload = {"session_id": "s", "hook_event_name": "PostToolUse", "cwd": str(repo)}
    assert (
        hook("claude-code", json.dumps({**payload, "tool_name": "Edit"}).encode()).returncode == 0
    )
    assert not (config.load().journal_dir / "live.jsonl").exists() or journal() == []
    # Nothing pinned either: an opted-out repository is left as it was.
    assert git(repo, "config", "--local", "agent-tracker.project", check=False) == ""


def test_tracking_comes_back_when_the_repository_opts_in_again(
    cli: Callable[..., Result], make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo()
    monkeypatch.chdir(repo)
    git(repo, "config", "agent-tracker.enabled", "false")
    assert cli("track", "tool", "edit").code == 0
    git(repo, "config", "agent-tracker.enabled", "true")
    assert cli("track", "tool", "read").code == 0
    assert [event["name"] for event in journal()] == ["read"]


def test_other_repositories_are_tracked_while_one_opts_out(
    make_repo: Callable[..., Path], settings: config.Settings
) -> None:
    off, on = make_repo("off"), make_repo("on")
    git(off, "config", "agent-tracker.enabled", "off")
    service = TrackingService(settings)
    assert service.track_tool_usage("edit", Partial(), str(off)) is None
    assert service.disabled
    assert service.track_tool_usage("edit", Partial(), str(on)) is not None
    assert not service.disabled
    assert [event["project"] for event in journal()] == [str(on)]


def test_commit_pins_once_and_later_commits_run_no_extra_git(
    make_repo: Callable[..., Path], settings: config.Settings
) -> None:
    repo = make_repo(origin="git@github.com:me/app.git")
    root = commit_file(repo, "a.txt", "1\n", "first")
    service = TrackingService(settings)
    event = service.commit_completed(Partial(agent="build"), str(repo))
    assert event is not None
    assert (event["project"], event["root"]) == ("github.com/me/app", root)
    assert git(repo, "config", "agent-tracker.project") == "github.com/me/app"
    assert git(repo, "config", "agent-tracker.root") == root
    config_file = repo / ".git" / "config"
    before = config_file.stat().st_mtime_ns, config_file.read_text()
    commit_file(repo, "b.txt", "2\n", "second")
    event = service.commit_completed(Partial(agent="build"), str(repo))
    assert event is not None
    assert event["root"] == root
    assert (config_file.stat().st_mtime_ns, config_file.read_text()) == before


def test_hooks_install_pins_the_identity_before_any_commit(
    make_repo: Callable[..., Path],
) -> None:
    repo = make_repo(origin="https://user:secret@github.com/me/app.git?token=x")
    hookscripts.install(repo)
    assert git(repo, "config", "agent-tracker.project") == "github.com/me/app"
    git(repo, "remote", "remove", "origin")
    commit_file(repo, "a.txt", "1\n", "first")
    settle(repo)  # the post-commit hook records it in the background
    (event,) = [e for e in journal() if e["type"] == "commit"]
    assert event["project"] == "github.com/me/app"
    assert event["root"] == git(repo, "rev-parse", "HEAD")
