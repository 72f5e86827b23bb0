"""Faults of project identity (issue 9, items 7, 16, 19, 21, 24), through real processes and
real git repositories: remotes that change under a project, clones on two machines, unrelated
repositories with the same relative remote, revisions that look like options, credentials in
remote URLs, quoted config values, and repositories that opt out.

Each case drives `agent-tracker` as a separate process (tool calls, the real post-commit hook,
flush, report), then checks exact totals: every event it made is counted once, in the right
project, and nothing of what it must not record is stored.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from conftest import git

from faults.conftest import Ledger, has_traceback, tracker

SETUP = ("--harness", "opencode", "--agent", "build", "--model", "m")


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = tracker(*args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done


def _tool_calls(repo: Path, count: int) -> int:
    for _ in range(count):
        _run("track", "tool", "edit", *SETUP, cwd=repo)
    return count


def _commit(repo: Path, name: str) -> str:
    (repo / name).write_text(name)
    git(repo, "add", name)
    done = subprocess.run(
        ["git", "-C", str(repo), "commit", "-q", "-m", f"add {name}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert not has_traceback(done.stderr), done.stderr
    return git(repo, "rev-parse", "HEAD")


def _projects(cwd: Path) -> dict[str, dict[str, Any]]:
    """label -> group of `report --by project --format json` (after a flush)."""
    flushed = _run("flush", cwd=cwd)
    assert not has_traceback(flushed.stderr)
    done = _run("report", "--by", "project", "--format", "json", cwd=cwd)
    return {group["label"]: group for group in json.loads(done.stdout)["groups"]}


def _journal_events(home: Path) -> list[dict[str, Any]]:
    from agent_tracker import config

    folder = config.load().journal_dir
    found = []
    for path in sorted(folder.glob("*.jsonl")):
        found.extend(json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return found


def test_item7_origin_added_changed_and_removed_between_tool_calls_and_commits(
    tmp_path: Path, ledger: Ledger
) -> None:
    """Fault: `origin` is added, changed, then removed, each between a project's tool calls
    and its next commit. Expected: one project throughout; every commit credited to the
    setup active just before it (`recent`), none `unknown`; exact totals."""
    repo = tmp_path / "work" / "app"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    _run("hooks", "install", cwd=repo)
    changes = [
        ("remote", "add", "origin", "git@github.com:me/app.git"),
        ("remote", "set-url", "origin", "https://example.com/moved/app.git"),
        ("remote", "remove", "origin"),
    ]
    tools = commits = 0
    for number, change in enumerate(changes):
        tools += _tool_calls(repo, 3)
        git(repo, *change)
        _commit(repo, f"f{number}.txt")
        commits += 1
    groups = _projects(repo)
    seen_tools = sum(g["tool_calls"] for g in groups.values())
    seen_commits = sum(g["commits"] for g in groups.values())
    report = json.loads(_run("report", "--format", "json", cwd=repo).stdout)
    sources = report["coverage"]["by_source"]
    ledger.record(
        "item 7: origin added, changed, removed between tool calls and commits",
        "one project; every commit credited `recent`; exact totals",
        injected=len(changes),
        checked=tools + commits,
        lost=max(0, tools - seen_tools) + max(0, commits - seen_commits),
        duplicated=max(0, seen_tools - tools) + max(0, seen_commits - commits),
    )
    assert list(groups) == ["app"]
    assert groups["app"]["project"] == str(repo)
    assert (seen_tools, seen_commits) == (tools, commits)
    assert (sources["recent"], sources["unknown"]) == (commits, 0)


def test_item7_origin_added_before_the_first_commit_of_an_unpinned_repository(
    tmp_path: Path, ledger: Ledger
) -> None:
    """Fault: a repository never pinned (no `hooks install` by this version) gets `origin`
    between its tool calls and its first commit, recorded by hand. Expected: the commit
    keeps the identity of the tool calls (its path) and finds their setup."""
    repo = tmp_path / "work" / "fresh"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    tools = _tool_calls(repo, 2)
    git(repo, "remote", "add", "origin", "git@github.com:me/fresh.git")
    (repo / "a.txt").write_text("a")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "first")
    done = tracker("commit", cwd=repo)
    groups = _projects(repo)
    report = json.loads(_run("report", "--format", "json", cwd=repo).stdout)
    group = groups.get("fresh", {})
    ledger.record(
        "item 7: origin added before the first commit of an unpinned repository",
        "the commit joins its tool calls' project and setup",
        checked=tools + 1,
        lost=(tools - group.get("tool_calls", 0)) + (1 - group.get("commits", 0)),
        tracebacks=int(has_traceback(done.stderr)),
    )
    assert done.returncode == 0, done.stderr
    assert list(groups) == ["fresh"]
    assert (group["project"], group["tool_calls"], group["commits"]) == (str(repo), tools, 1)
    assert report["coverage"]["by_source"]["recent"] == 1
    assert git(repo, "config", "agent-tracker.project") == str(repo)


def test_item7_two_clones_of_one_remote_with_different_pins_are_one_project(
    tmp_path: Path, ledger: Ledger
) -> None:
    """Fault: one repository cloned on two machines (two folders here) whose identities were
    pinned differently: one by its path-like remote, the other by a URL its `origin` had when
    first seen. Expected: one project in `report --format json`, with every commit and tool
    call of both clones."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "-q", str(remote), str(seed))
    first = _commit(seed, "README")
    git(seed, "push", "-q", "origin", "main")
    one, two = tmp_path / "machine-1" / "app", tmp_path / "machine-2" / "src" / "app"
    for clone in (one, two):
        clone.parent.mkdir(parents=True)
        git(tmp_path, "clone", "-q", str(remote), str(clone))
    git(two, "remote", "set-url", "origin", "https://git.example.com/team/app.git")
    tools = commits = 0
    for clone in (one, two):
        _run("hooks", "install", cwd=clone)
        git(clone, "remote", "set-url", "origin", str(remote))  # both fetch from one remote
        for number in range(2):
            tools += _tool_calls(clone, 2)
            _commit(clone, f"{clone.parent.name}-{number}.txt")
            commits += 1
    pins = {git(clone, "config", "agent-tracker.project") for clone in (one, two)}
    roots = {git(clone, "config", "agent-tracker.root") for clone in (one, two)}
    groups = _projects(tmp_path)
    seen_tools = sum(g["tool_calls"] for g in groups.values())
    seen_commits = sum(g["commits"] for g in groups.values())
    ledger.record(
        "item 7: two clones of one remote pinned differently",
        "one project in the report with every event of both clones",
        injected=2,
        checked=tools + commits,
        lost=max(0, tools - seen_tools) + max(0, commits - seen_commits),
        duplicated=max(0, seen_tools - tools) + max(0, seen_commits - commits),
    )
    assert pins == {str(remote.with_suffix("")), "git.example.com/team/app"}
    assert roots == {first}
    assert list(groups) == ["app"]
    group = groups["app"]
    assert group["project"] == "git.example.com/team/app"
    assert (group["tool_calls"], group["commits"], group["projects"]) == (tools, commits, 1)


def test_item7_unrelated_repositories_with_the_same_relative_remote_never_merge(
    tmp_path: Path, ledger: Ledger
) -> None:
    """Fault: two unrelated repositories whose `origin` is the same text, `../p.git`, each
    meaning its own sibling folder. Expected: two projects, each with its own events."""
    repos = []
    for side in ("left", "right"):
        folder = tmp_path / side
        folder.mkdir()
        git(folder, "init", "-q", "--bare", "-b", "main", str(folder / "p.git"))
        repo = folder / "work"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        git(repo, "remote", "add", "origin", "../p.git")
        repos.append(repo)
    counts = {}
    for index, repo in enumerate(repos):
        # No pin, no hook: tool calls use the computed identity, as before any commit.
        counts[str(repo.parent / "p")] = (_tool_calls(repo, index + 1), 0)
        _commit(repo, f"{repo.parent.name}.txt")  # unrelated: their own first commits
        done = _run("commit", *SETUP, cwd=repo)
        assert not has_traceback(done.stderr)
        counts[str(repo.parent / "p")] = (index + 1, 1)
    groups = _projects(tmp_path)
    found = {g["project"]: (g["tool_calls"], g["commits"]) for g in groups.values()}
    expected_events = sum(t + c for t, c in counts.values())
    ledger.record(
        "item 7: unrelated repositories with the same relative remote",
        "two projects, never one",
        injected=2,
        checked=expected_events,
        lost=sum(max(0, t + c - sum(found.get(p, (0, 0)))) for p, (t, c) in counts.items()),
    )
    assert found == counts


def test_item16_a_revision_that_is_an_option_writes_no_file(tmp_path: Path, ledger: Ledger) -> None:
    """Fault: `commit --rev=--output=FILE` and `grade --commit=--output=FILE`. Expected: one
    clear line, a non-zero exit, no traceback, and no FILE written by git."""
    repo = tmp_path / "work" / "r"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    _commit(repo, "a.txt")
    target = tmp_path / "written-by-git"
    runs = [
        tracker("commit", f"--rev=--output={target}", cwd=repo),
        tracker("grade", "good", "--by", "user", f"--commit=--output={target}", cwd=repo),
        tracker("commit", "--rev", f"--output={target}", cwd=repo),
    ]
    journal = _journal_events(tmp_path)
    ledger.record(
        "item 16: a revision that git would read as an option",
        "refused in one line; git writes no file",
        injected=len(runs),
        checked=len(runs),
        duplicated=len(journal),
        tracebacks=sum(has_traceback(done.stderr) for done in runs),
    )
    assert not target.exists()
    for done in runs:
        assert done.returncode != 0
        assert not has_traceback(done.stderr)
        assert done.stderr.count("\n") == 1, done.stderr
    assert journal == []


def test_item19_tokens_in_a_remote_url_are_never_stored(tmp_path: Path, ledger: Ledger) -> None:
    """Fault: `origin` carries credentials in its user part, its query and its fragment.
    Expected: the identity is host and path only; no secret in the journal, the database,
    the git config pin or the export."""
    repo = tmp_path / "work" / "secret"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    url = "https://me:PASSWORD1@github.com/me/secret.git?access_token=TOKEN2#TOKEN3"
    git(repo, "remote", "add", "origin", url)
    _run("hooks", "install", cwd=repo)
    tools = _tool_calls(repo, 2)
    _commit(repo, "a.txt")
    journal_text = "\n".join(json.dumps(e) for e in _journal_events(tmp_path))
    groups = _projects(repo)
    exported = _run("export", cwd=repo).stdout
    from agent_tracker import config

    database = (config.load().database_path / "data.mdb").read_bytes()
    secrets = ("PASSWORD1", "TOKEN2", "TOKEN3")
    stored = journal_text + exported + git(repo, "config", "agent-tracker.project")
    leaks = [s for s in secrets if s in stored or s.encode() in database]
    ledger.record(
        "item 19: credentials in a remote URL's user part, query and fragment",
        "stored nowhere; identity github.com/me/secret",
        injected=len(secrets),
        checked=tools + 1,
        lost=(tools + 1) - sum(g["tool_calls"] + g["commits"] for g in groups.values()),
    )
    assert leaks == []
    assert [g["project"] for g in groups.values()] == ["github.com/me/secret"]


def test_item21_a_quoted_remote_path_means_what_git_reads(tmp_path: Path, ledger: Ledger) -> None:
    """Fault: a remote path with a quote, a `#` and a `;` (git writes it quoted and
    escaped). Expected: the identity is the path git fetches from, unescaped."""
    holder = tmp_path / 'odd "name" #1; x'
    holder.mkdir()
    remote = holder / "p.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    repo = tmp_path / "work" / "quoted"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "remote", "add", "origin", str(remote))
    _commit(repo, "a.txt")
    git(repo, "push", "-q", "origin", "main")  # git itself finds the remote
    tools = _tool_calls(repo, 1)
    groups = _projects(repo)
    found = [g["project"] for g in groups.values()]
    ledger.record(
        "item 21: a quoted, escaped remote path in .git/config",
        "the identity is the unescaped path",
        checked=tools,
        lost=tools - sum(g["tool_calls"] for g in groups.values()),
    )
    assert found == [str(holder / "p")]


def test_item24_an_opted_out_repository_records_nothing(tmp_path: Path, ledger: Ledger) -> None:
    """Fault: tool calls, hook commits, grades and harness hooks in a repository with
    `agent-tracker.enabled false`, interleaved with work in another repository. Expected:
    nothing of the opted-out one is recorded; the other one's events all are, exactly."""
    off, on = tmp_path / "work" / "off", tmp_path / "work" / "on"
    for repo in (off, on):
        repo.mkdir(parents=True)
        git(repo, "init", "-q", "-b", "main")
        _run("hooks", "install", cwd=repo)
    git(off, "config", "agent-tracker.enabled", "false")
    attempted = 0
    for number in range(2):
        for repo in (off, on):
            _tool_calls(repo, 2)
            _run("track", "command", "test", *SETUP, cwd=repo)
            _commit(repo, f"f{number}.txt")
            _run("grade", "good", "--by", "user", cwd=repo)
            payload = {"session_id": f"s-{repo.name}", "hook_event_name": "PostToolUse"}
            payload.update(cwd=str(repo), tool_name="Edit")
            assert tracker("hook", "claude-code", stdin=json.dumps(payload)).returncode == 0
            attempted += 6
    stored = [e for e in _journal_events(tmp_path) if e["project"] == str(off)]
    groups = _projects(tmp_path)
    expected_on = {"tool_calls": 6, "commands": 2, "commits": 2, "user_graded": 2}
    seen_on = {key: groups.get("on", {}).get(key) for key in expected_on}
    ledger.record(
        "item 24: a repository opted out with agent-tracker.enabled false",
        "nothing of it recorded; the other repository's events exact",
        injected=attempted // 2,
        checked=attempted,
        duplicated=len(stored),
        lost=sum(expected_on[k] - (seen_on[k] or 0) for k in expected_on),
    )
    assert stored == []
    assert list(groups) == ["on"]
    assert seen_on == expected_on
