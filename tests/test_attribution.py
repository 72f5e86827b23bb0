"""Which session and setup a commit is credited to, through real `git commit` and the real
post-commit hook, one test per rule of `attribution.for_commit`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import git
from hookwait import settle, slow_env
from test_harnesses import assistant_line, hook, journal

from agent_tracker import config, events, hookscripts
from agent_tracker.journal import Journal

Env = dict[str, str]


@pytest.fixture
def repo(make_repo: Callable[..., Path]) -> Path:
    path: Path = make_repo("repo")
    hookscripts.install(path)
    return path


def commit(repo: Path, message: str = "change", env: Env | None = None) -> dict[str, Any]:
    """Make a real commit (the post-commit hook records it); return the commit event."""
    name = f"f{len(list(repo.iterdir()))}.txt"
    (repo / name).write_text(message)
    git(repo, "add", name)
    done = subprocess.run(
        ["git", "-C", str(repo), "commit", "-q", "-m", message],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    settle(repo)  # the hook records the commit in the background
    found = [e for e in journal() if e["type"] == "commit"]
    assert found, "the post-commit hook recorded nothing"
    assert found[-1]["hash"] == git(repo, "rev-parse", "HEAD")
    return found[-1]


def credited(event: dict[str, Any]) -> tuple[str, str, str, str, str | None]:
    return (
        event["source"],
        event["harness"],
        event["agent"],
        event["model"],
        event.get("session"),
    )


def claude_tool_call(repo: Path, session: str, transcript: Path, model: str) -> None:
    with transcript.open("a") as handle:
        handle.write(assistant_line(model, f"m{time.time_ns()}", {"output_tokens": 40}))
    payload = {
        "session_id": session,
        "hook_event_name": "PostToolUse",
        "cwd": str(repo),
        "tool_name": "Edit",
        "transcript_path": str(transcript),
    }
    assert hook("claude-code", json.dumps(payload).encode()).returncode == 0


def session_start(repo: Path, harness: str, session: str, **extra: str) -> None:
    payload = {"session_id": session, "hook_event_name": "SessionStart", "cwd": str(repo), **extra}
    assert hook(harness, json.dumps(payload).encode()).returncode == 0


def test_a_commit_goes_to_the_claude_session_in_its_environment(repo: Path, tmp_path: Path) -> None:
    transcript = tmp_path / "a.jsonl"
    claude_tool_call(repo, "sess-a", transcript, "claude-opus-4-5")
    # Another session, more recent, in the same repository: not the one that committed.
    session_start(repo, "codex", "sess-b", model="gpt-5-codex")
    first = commit(repo, env={"CLAUDECODE": "1", "CLAUDE_CODE_SESSION_ID": "sess-a"})
    assert credited(first) == (
        "session",
        "claude-code",
        "main",
        "anthropic/claude-opus-4-5",
        "sess-a",
    )
    assert first["tokens"] == {"out": 40}
    claude_tool_call(repo, "sess-a", transcript, "claude-opus-4-5")
    claude_tool_call(repo, "sess-a", transcript, "claude-opus-4-5")
    second = commit(repo, env={"CLAUDE_CODE_SESSION_ID": "sess-a"})
    assert second["tokens"] == {"out": 80}  # what it spent since its previous commit


def test_a_new_unconfigured_session_is_not_credited_to_the_configured_one_before_it(
    repo: Path, tmp_path: Path
) -> None:
    claude_tool_call(repo, "configured", tmp_path / "t.jsonl", "claude-opus-4-5")
    # A Codex session whose hooks are not installed: only its shell says who it is.
    event = commit(repo, env={"CODEX_SESSION_ID": "new-thread", "CODEX_THREAD_ID": "new-thread"})
    assert credited(event) == ("session", "codex", "unknown", "unknown", "new-thread")


def test_an_opencode_commit_names_its_session_through_the_plugins_variables(repo: Path) -> None:
    payload = {
        "event": "tool",
        "tool": "edit",
        "session_id": "ses_x",
        "agent": "build",
        "model": "fake/fake-model-rc",
        "cwd": str(repo),
    }
    assert hook("opencode", json.dumps(payload).encode()).returncode == 0
    env = {"OPENCODE": "1", "AGENT_TRACKER_SESSION": "ses_x", "AGENT_TRACKER_HARNESS": "opencode"}
    assert credited(commit(repo, env=env)) == (
        "session",
        "opencode",
        "build",
        "fake/fake-model-rc",
        "ses_x",
    )


def test_flags_name_the_setup_when_no_session_does(repo: Path) -> None:
    commit(repo)
    done = subprocess.run(
        [sys.executable, "-m", "agent_tracker", "commit", "--agent", "build", "--model", "o3"],
        cwd=repo,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert credited(journal()[-1]) == ("flag", "unknown", "build", "openai/o3", None)


def test_environment_variables_name_the_setup(repo: Path) -> None:
    env = {"AGENT_TRACKER_AGENT": "plan", "AGENT_TRACKER_MODEL": "claude-sonnet-4-5"}
    assert credited(commit(repo, env=env)) == (
        "env",
        "unknown",
        "plan",
        "anthropic/claude-sonnet-4-5",
        None,
    )


@pytest.mark.parametrize(
    ("trailers", "expected"),
    [
        ("agent: review\nMODEL: gpt-5", ("trailer", "unknown", "review", "openai/gpt-5", None)),
        (
            "Co-Authored-By: Claude <noreply@anthropic.com>",
            ("trailer", "claude-code", "main", "unknown", None),
        ),
        (
            "Co-authored-by: aider (openai/gpt-4o) <noreply@aider.chat>",
            ("trailer", "aider", "aider", "openai/gpt-4o", None),
        ),
    ],
)
def test_trailers_name_the_setup_whatever_their_case(
    repo: Path, trailers: str, expected: tuple[Any, ...]
) -> None:
    assert credited(commit(repo, f"change\n\n{trailers}")) == expected


@pytest.mark.parametrize(
    ("name", "email", "expected"),
    [
        ("Me (aider)", "me@example.invalid", ("author", "aider", "aider", "unknown", None)),
        (
            "Copilot",
            "198982749+Copilot@users.noreply.github.com",
            ("author", "copilot", "copilot", "unknown", None),
        ),
        ("Cursor Agent", "cursoragent@cursor.com", ("author", "cursor", "cursor", "unknown", None)),
        (
            "devin-ai-integration[bot]",
            "158243242+devin-ai-integration[bot]@users.noreply.github.com",
            ("author", "devin", "devin", "unknown", None),
        ),
        ("Codex", "noreply@openai.com", ("author", "codex-cloud", "codex", "unknown", None)),
        (
            "google-labs-jules[bot]",
            "161369871+google-labs-jules[bot]@users.noreply.github.com",
            ("author", "jules", "jules", "unknown", None),
        ),
    ],
)
def test_author_markers_of_agents_name_the_setup(
    repo: Path, name: str, email: str, expected: tuple[Any, ...]
) -> None:
    env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email}
    assert credited(commit(repo, env=env)) == expected


def test_the_most_recent_session_is_credited_even_when_its_model_is_unknown(
    repo: Path, tmp_path: Path
) -> None:
    claude_tool_call(repo, "known", tmp_path / "t.jsonl", "claude-opus-4-5")
    assert credited(commit(repo))[:4] == (
        "recent",
        "claude-code",
        "main",
        "anthropic/claude-opus-4-5",
    )
    # A newer session starts whose model nobody knows yet (no transcript line so far).
    session_start(repo, "claude-code", "newer")
    assert credited(commit(repo)) == ("recent", "claude-code", "main", "unknown", "newer")


def test_activity_after_the_commit_is_not_its_own_though_recorded_before_it(
    repo: Path, tmp_path: Path
) -> None:
    claude_tool_call(repo, "before", tmp_path / "a.jsonl", "claude-opus-4-5")
    (repo / "a.txt").write_text("a")
    git(repo, "add", "a.txt")
    env = slow_env(tmp_path, SLOW_COMMIT="1")  # the hook records it a second later
    done = subprocess.run(
        ["git", "-C", str(repo), "commit", "-q", "-m", "a"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    claude_tool_call(repo, "after", tmp_path / "b.jsonl", "claude-sonnet-4-5")
    settle(repo)
    [event] = [e for e in journal() if e["type"] == "commit"]
    assert credited(event) == (
        "recent",
        "claude-code",
        "main",
        "anthropic/claude-opus-4-5",
        "before",
    )


def _activity_hours_ago(repo: Path, hours: float) -> None:
    event = events.make("tool", ("codex", "main", "openai/gpt-5"), str(repo), name="edit")
    event["ts"] = round(time.time() - hours * 3600, 3)
    event["session"] = "old"
    Journal(config.load().journal_folder).append(events.encode(event))


def test_a_persons_commit_three_hours_after_the_last_agent_activity_is_unknown(
    repo: Path,
) -> None:
    _activity_hours_ago(repo, 3)
    assert credited(commit(repo)) == ("unknown", "unknown", "unknown", "unknown", None)


def test_the_window_is_a_setting(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _activity_hours_ago(repo, 3)
    monkeypatch.setenv("AGENT_TRACKER_ATTRIBUTION_WINDOW", "4h")
    assert credited(commit(repo)) == ("recent", "codex", "main", "openai/gpt-5", "old")


def test_recent_activity_in_another_repository_does_not_count(
    repo: Path, make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    other = make_repo("other")
    claude_tool_call(other, "elsewhere", tmp_path / "t.jsonl", "claude-opus-4-5")
    assert credited(commit(repo))[0] == "unknown"


def test_a_commit_records_the_instruction_fingerprint_of_its_session_or_repository(
    repo: Path, tmp_path: Path, make_repo: Callable[..., Path]
) -> None:
    (repo / "CLAUDE.md").write_text("Use small commits.\n")
    git(repo, "add", "CLAUDE.md")
    claude_tool_call(repo, "s", tmp_path / "t.jsonl", "claude-opus-4-5")
    in_session = commit(repo, env={"CLAUDE_CODE_SESSION_ID": "s"})
    by_hand = commit(repo)
    tool_event = next(e for e in journal() if e["type"] == "tool")
    assert in_session["instructions"] == tool_event["instructions"] == by_hand["instructions"]
    # No session at all: the repository's own instruction files, as they are now.
    plain = make_repo("plain")
    hookscripts.install(plain)
    (plain / "CLAUDE.md").write_text("Use small commits.\n")
    assert commit(plain)["instructions"] == by_hand["instructions"]
    (plain / "CLAUDE.md").write_text("Use large commits.\n")
    assert commit(plain)["instructions"] != by_hand["instructions"]


def test_of_two_sessions_in_the_environment_the_one_that_reported_last_made_the_commit(
    repo: Path, tmp_path: Path
) -> None:
    # Codex started from a Claude Code Bash call: its shell has both sessions' variables.
    claude_tool_call(repo, "outer", tmp_path / "t.jsonl", "claude-opus-4-5")
    session_start(repo, "codex", "inner", model="gpt-5-codex")
    env = {"CLAUDE_CODE_SESSION_ID": "outer", "CODEX_SESSION_ID": "inner"}
    assert credited(commit(repo, env=env)) == (
        "session",
        "codex",
        "main",
        "openai/gpt-5-codex",
        "inner",
    )
    # The OpenCode plugin's explicit variable wins over an inherited one.
    env = {
        "CLAUDE_CODE_SESSION_ID": "outer",
        "AGENT_TRACKER_SESSION": "ses_o",
        "AGENT_TRACKER_HARNESS": "opencode",
    }
    assert credited(commit(repo, env=env))[:2] == ("session", "opencode")


def test_a_commit_counts_the_tokens_of_the_turn_that_ran_it_once(
    repo: Path, tmp_path: Path
) -> None:
    transcript = tmp_path / "t.jsonl"
    claude_tool_call(repo, "s", transcript, "claude-opus-4-5")  # 40 tokens, reported
    with transcript.open("a") as handle:  # the turn that runs `git commit`, not yet reported
        handle.write(assistant_line("claude-opus-4-5", "turn2", {"output_tokens": 7}))
    event = commit(repo, env={"CLAUDE_CODE_SESSION_ID": "s"})
    assert event["tokens"] == {"out": 47}
    claude_tool_call(repo, "s", transcript, "claude-opus-4-5")  # +40, and the 7 pending
    usage = [e.get("tokens") for e in journal() if e["type"] == "tool"]
    assert usage == [{"out": 40}, {"out": 47}]  # 7 reported once, with the next event


def test_a_hook_that_cannot_get_its_sessions_lock_still_records_its_event(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent_tracker.sessions import SessionStore

    transcript = tmp_path / "t.jsonl"
    claude_tool_call(repo, "busy", transcript, "claude-opus-4-5")
    store = SessionStore(config.load().journal_folder)
    holder = store.open("claude-code", "busy")
    try:
        started = time.monotonic()
        claude_tool_call(repo, "busy", transcript, "claude-opus-4-5")
        waited = time.monotonic() - started
    finally:
        holder.close(save=False)
    last = journal()[-1]
    assert (last["type"], last["session"], last.get("tokens")) == ("tool", "busy", None)
    assert waited >= SessionStore.LOCK_WAIT
    claude_tool_call(repo, "busy", transcript, "claude-opus-4-5")
    assert journal()[-1]["tokens"] == {"out": 80}  # nothing lost: counted by the next hook


def test_an_amended_commit_carries_what_the_commit_it_replaces_cost(
    repo: Path, tmp_path: Path
) -> None:
    transcript = tmp_path / "t.jsonl"
    env = {"CLAUDE_CODE_SESSION_ID": "s"}
    claude_tool_call(repo, "s", transcript, "claude-opus-4-5")
    first = commit(repo, env=env)
    claude_tool_call(repo, "s", transcript, "claude-opus-4-5")
    (repo / "more.txt").write_text("more")
    git(repo, "add", "more.txt")
    done = subprocess.run(
        ["git", "-C", str(repo), "commit", "-q", "--amend", "--no-edit"],
        env={**os.environ, **env},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    settle(repo)
    amended = journal()[-1]
    assert (amended["type"], amended["replaces"]) == ("commit", first["hash"])
    assert (first["tokens"], amended["tokens"]) == ({"out": 40}, {"out": 80})


def test_a_commit_of_a_followed_session_that_spent_nothing_new_records_zeros(
    repo: Path, tmp_path: Path
) -> None:
    claude_tool_call(repo, "s", tmp_path / "t.jsonl", "claude-opus-4-5")
    env = {"CLAUDE_CODE_SESSION_ID": "s"}
    commit(repo, env=env)
    second = commit(repo, env=env)
    assert second["tokens"] == {"in": 0, "out": 0, "cache_read": 0, "cache_write": 0}
    assert "cost" not in second  # Claude Code reports no cost: not known, not zero


def test_a_commit_just_after_origin_changes_still_finds_the_session(
    repo: Path, tmp_path: Path
) -> None:
    """Item 7: `hooks install` pinned the identity; adding, changing and removing `origin`
    between the tool calls and the commit changes neither the project nor the credit."""
    transcript = tmp_path / "t.jsonl"
    for change in (
        ("remote", "add", "origin", "git@github.com:me/app.git"),
        ("remote", "set-url", "origin", "https://example.com/elsewhere/app.git"),
        ("remote", "remove", "origin"),
    ):
        claude_tool_call(repo, "s1", transcript, "claude-opus-4-5")
        git(repo, *change)
        event = commit(repo)
        assert credited(event)[:4] == ("recent", "claude-code", "main", "anthropic/claude-opus-4-5")
        assert event["project"] == str(repo)
    projects = {e["project"] for e in journal()}
    assert projects == {str(repo)}


def test_the_first_commit_after_origin_was_added_keeps_the_earlier_identity(
    make_repo: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repository never pinned (hooks installed by an older agent-tracker, or none): its
    tool calls were recorded under its path; `origin` is added; the first commit pins the
    identity the tool calls had, so the commit still finds their session."""
    repo = make_repo("unpinned")
    claude_tool_call(repo, "s1", tmp_path / "t.jsonl", "claude-opus-4-5")
    git(repo, "remote", "add", "origin", "git@github.com:me/app.git")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "first")
    monkeypatch.chdir(repo)
    done = subprocess.run(
        [sys.executable, "-m", "agent_tracker", "commit"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (event,) = [e for e in journal() if e["type"] == "commit"]
    assert credited(event)[:2] == ("recent", "claude-code")
    assert event["project"] == str(repo)
    assert git(repo, "config", "agent-tracker.project") == str(repo)


def test_a_repository_with_origin_from_the_start_pins_its_remote(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    repo = make_repo("remote", origin="git@github.com:me/app.git")
    hookscripts.install(repo)
    claude_tool_call(repo, "s1", tmp_path / "t.jsonl", "claude-opus-4-5")
    git(repo, "remote", "set-url", "origin", "git@github.com:me/renamed.git")
    event = commit(repo)
    assert (event["source"], event["project"]) == ("recent", "github.com/me/app")
    assert event["root"] == git(repo, "rev-list", "--max-parents=0", "HEAD")
