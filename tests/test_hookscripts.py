"""Git hooks through real git: real repositories, real commits, a real bare remote and push.

Git runs the hooks as it would for a user; they run the tracker with the Python baked in at
install time, which reads its settings from the environment the test set up (HOME in a
temporary folder), so the journal and database checked here are the hooks' own.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, commit_file, git, run_tracker

from agent_tracker import config, gitinfo, hookscripts
from agent_tracker.journal import Journal
from agent_tracker.store import LMDBDatabase

HOOKS = ("post-commit", "pre-push")
#: A git command that takes longer than this is hanging: fail instead of waiting forever.
GIT_DEADLINE = 60


def run_git(
    repo: Path, *args: str, env: dict[str, str] | None = None, deadline: float = GIT_DEADLINE
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=deadline,
        check=False,
    )


def commit_with(repo: Path, name: str, env: dict[str, str] | None = None) -> str:
    (repo / name).write_text(f"{name}\n")
    git(repo, "add", name)
    done = run_git(repo, "commit", "-q", "-m", f"add {name}", env=env)
    assert done.returncode == 0, done.stderr
    assert "agent-tracker" not in done.stdout + done.stderr  # the hook's output is detached
    return git(repo, "rev-parse", "HEAD")


def push(repo: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_git(repo, "push", "-q", "origin", "main", env=env)


def remote_head(remote: Path) -> str | None:
    done = run_git(remote, "rev-parse", "--verify", "-q", "refs/heads/main")
    return done.stdout.strip() if done.returncode == 0 else None


def recorded(journal_dir: Path) -> list[str]:
    """Hashes of the commit events waiting in the journal."""
    return [e["hash"] for e in Journal(journal_dir).pending_events() if e["type"] == "commit"]


def database_agents(settings: config.Settings) -> list[dict[str, Any]]:
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    if db is None:
        return []
    with db:
        return db.agents()


def write_hook(path: Path, body: str) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path.read_bytes()


def snapshot(directory: Path) -> dict[str, tuple[bytes, int, int, int]]:
    """Every file of a folder with its bytes, inode, mtime and mode."""
    return {
        p.name: (p.read_bytes(), p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_mode)
        for p in sorted(directory.iterdir())
    }


def bake_python(hooks_dir: Path, python: str) -> None:
    """Point installed hooks at another Python, as if the one baked in had been removed."""
    for name in HOOKS:
        path = hooks_dir / name
        line = f"AGENT_TRACKER_PYTHON='{python}'"
        text, count = re.subn(r"(?m)^AGENT_TRACKER_PYTHON=.*$", line, path.read_text())
        assert count == 1
        path.write_text(text)


def path_without_tracker() -> str:
    """A PATH with git and the shell tools a hook needs, but no agent-tracker."""
    dirs = [str(Path(shutil.which("git") or "/usr/bin/git").parent), "/usr/bin", "/bin"]
    path = os.pathsep.join(dict.fromkeys(dirs))
    assert shutil.which("agent-tracker", path=path) is None
    return path


def env_with(**values: str) -> dict[str, str]:
    return {**os.environ, **values}


@dataclass
class Rig:
    repo: Path  # with `origin` = remote
    remote: Path
    hooks: Path
    tmp: Path
    settings: config.Settings
    cli: Callable[..., Result]

    def install(self, where: Path | None = None) -> Result:
        result = self.cli("hooks", "install", "--repo", str(where or self.repo))
        assert result.code == 0, result.err
        return result

    def recorded(self) -> list[str]:
        return recorded(self.settings.journal_dir)


@pytest.fixture
def rig(
    make_repo: Callable[..., Path],
    bare_remote: Path,
    tmp_path: Path,
    settings: config.Settings,
    cli: Callable[..., Result],
) -> Rig:
    repo = make_repo("repo", origin=str(bare_remote))
    return Rig(repo, bare_remote, repo / ".git" / "hooks", tmp_path, settings, cli)


# -- install ---------------------------------------------------------------------------------


def test_install_writes_both_hooks_executable_with_the_marker_and_this_python(rig: Rig) -> None:
    result = rig.install()
    assert result.out.splitlines() == ["post-commit: installed", "pre-push: installed"]
    for name in HOOKS:
        text = (rig.hooks / name).read_text()
        assert os.access(rig.hooks / name, os.X_OK)
        assert hookscripts.MARKER in text
        assert f"AGENT_TRACKER_PYTHON='{sys.executable}'" in text


def test_installing_twice_changes_nothing(rig: Rig) -> None:
    rig.install()
    before = snapshot(rig.hooks)
    result = rig.install()
    assert snapshot(rig.hooks) == before  # same bytes, and not even rewritten (inode, mtime)
    assert result.out.splitlines() == [f"{name}: already installed" for name in HOOKS]


# -- recording and flushing ------------------------------------------------------------------


def test_a_commit_is_journalled_once_and_a_push_flushes_it_into_the_database(rig: Rig) -> None:
    rig.install()
    sha = commit_with(rig.repo, "app.py")
    [event] = Journal(rig.settings.journal_dir).pending_events()
    assert (event["type"], event["hash"], event["subject"]) == ("commit", sha, "add app.py")
    assert database_agents(rig.settings) == []

    done = push(rig.repo)
    assert done.returncode == 0, done.stderr
    assert remote_head(rig.remote) == sha
    assert Journal(rig.settings.journal_dir).pending_count() == 0
    [agent] = database_agents(rig.settings)
    assert (agent["commits"], agent["xp"], agent["tool_calls"]) == (1, 5, 0)


# -- chaining an earlier hook ----------------------------------------------------------------


def test_an_earlier_post_commit_hook_is_kept_and_still_runs(rig: Rig) -> None:
    ran = rig.tmp / "post-commit-ran"
    original = write_hook(rig.hooks / "post-commit", f'echo "$PWD" >> "{ran}"')
    result = rig.install()
    assert "post-commit: installed; existing hook kept as post-commit.pre-agent-tracker" in (
        result.out
    )
    assert (rig.hooks / "post-commit.pre-agent-tracker").read_bytes() == original

    sha = commit_with(rig.repo, "a.txt")
    assert ran.read_text().splitlines() == [str(rig.repo)]
    assert rig.recorded() == [sha]


def test_an_earlier_pre_push_hook_runs_with_git_arguments_and_input(rig: Rig) -> None:
    args, given = rig.tmp / "args", rig.tmp / "stdin"
    write_hook(rig.hooks / "pre-push", f'echo "$@" > "{args}"\ncat > "{given}"')
    rig.install()
    sha = commit_with(rig.repo, "a.txt")

    done = push(rig.repo)
    assert done.returncode == 0, done.stderr
    assert args.read_text().split() == ["origin", str(rig.remote)]
    assert given.read_text().split() == ["refs/heads/main", sha, "refs/heads/main", "0" * 40]
    [agent] = database_agents(rig.settings)  # and our flush ran too
    assert agent["commits"] == 1


def test_a_failing_earlier_pre_push_hook_still_stops_the_push(rig: Rig) -> None:
    write_hook(rig.hooks / "pre-push", "echo 'pushing is forbidden' >&2\nexit 1")
    rig.install()
    commit_with(rig.repo, "a.txt")
    done = push(rig.repo)
    assert done.returncode != 0
    assert "pushing is forbidden" in done.stderr
    assert remote_head(rig.remote) is None


def test_install_refuses_to_overwrite_a_kept_hook(rig: Rig) -> None:
    write_hook(rig.hooks / "pre-push", "exit 0")
    write_hook(rig.hooks / "pre-push.pre-agent-tracker", "exit 1")
    before = snapshot(rig.hooks)
    result = rig.cli("hooks", "install", "--repo", str(rig.repo))
    assert result.code == 1
    assert "pre-push.pre-agent-tracker already exists" in result.err
    after = snapshot(rig.hooks)
    assert {n: after[n] for n in before} == before


# -- uninstall -------------------------------------------------------------------------------


def test_uninstall_removes_only_our_hooks_and_restores_the_earlier_one(rig: Rig) -> None:
    original = write_hook(rig.hooks / "pre-push", "exit 0")
    rig.install()
    result = rig.cli("hooks", "uninstall", "--repo", str(rig.repo))
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "post-commit: removed",
        "pre-push: removed; earlier hook restored",
    ]
    assert [p.name for p in rig.hooks.iterdir()] == ["pre-push"]
    assert (rig.hooks / "pre-push").read_bytes() == original
    assert os.access(rig.hooks / "pre-push", os.X_OK)


def test_uninstall_leaves_a_foreign_hook_untouched(rig: Rig) -> None:
    write_hook(rig.hooks / "pre-push", "exit 0")
    before = snapshot(rig.hooks)
    result = rig.cli("hooks", "uninstall", "--repo", str(rig.repo))
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "post-commit: not installed",
        "pre-push: not ours, left alone",
    ]
    assert snapshot(rig.hooks) == before


# -- where git runs hooks --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["relative", "absolute"])
def test_hooks_go_to_core_hooks_path_and_fire_there(kind: str, rig: Rig) -> None:
    target = rig.repo / ".githooks" if kind == "relative" else rig.tmp / "shared-hooks"
    git(rig.repo, "config", "core.hooksPath", ".githooks" if kind == "relative" else str(target))
    if kind == "relative":  # inside the work tree: only for files git ignores (item 6)
        (rig.repo / ".git" / "info").mkdir(exist_ok=True)
        (rig.repo / ".git" / "info" / "exclude").write_text("/.githooks/\n")
    (rig.repo / "sub").mkdir()
    rig.install(rig.repo / "sub")  # from a subfolder: a relative hooksPath is from the top
    assert all((target / name).is_file() for name in HOOKS)
    assert not rig.hooks.exists()
    assert not (rig.repo / "sub" / ".githooks").exists()
    sha = commit_with(rig.repo, "a.txt")
    assert rig.recorded() == [sha]


def test_install_honours_a_hooks_path_set_in_the_global_config_file(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = rig.tmp / "global-hooks"
    (rig.tmp / "gitconfig").write_text(f"[core]\n\thooksPath = {shared}\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(rig.tmp / "gitconfig"))
    rig.install()
    assert all((shared / name).is_file() for name in HOOKS)
    assert not rig.hooks.exists()
    sha = commit_with(rig.repo, "a.txt")
    assert rig.recorded() == [sha]


def test_install_run_inside_another_repositorys_hook_targets_the_given_repository(
    rig: Rig, make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_repo("other")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))  # as git sets them for a hook
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git" / "index"))
    rig.install()
    assert all((rig.hooks / name).is_file() for name in HOOKS)
    assert not (other / ".git" / "hooks").exists()


def test_install_from_a_linked_worktree_puts_hooks_where_git_runs_them(rig: Rig) -> None:
    commit_file(rig.repo, "a.txt", "a\n", "first")
    worktree = rig.tmp / "work" / "feature"
    git(rig.repo, "worktree", "add", "-q", "-b", "feature", str(worktree))
    rig.install(worktree)
    assert all((rig.hooks / name).is_file() for name in HOOKS)

    sha = commit_with(worktree, "b.txt")
    [event] = Journal(rig.settings.journal_dir).pending_events()
    project = gitinfo.find_project(str(rig.repo)).identity
    assert (event["hash"], event["project"]) == (sha, project)  # the same project as main


# -- the tracker missing, failing, stuck or misled -------------------------------------------


def test_commit_and_push_succeed_when_the_tracker_cannot_be_found(rig: Rig) -> None:
    rig.install()
    bake_python(rig.hooks, str(rig.tmp / "uninstalled" / "python"))
    env = env_with(PATH=path_without_tracker())
    sha = commit_with(rig.repo, "a.txt", env=env)
    done = push(rig.repo, env=env)
    assert done.returncode == 0, done.stderr
    assert remote_head(rig.remote) == sha
    assert rig.recorded() == []


def test_hooks_fall_back_to_agent_tracker_on_path_when_the_baked_python_is_gone(
    rig: Rig,
) -> None:
    rig.install()
    bake_python(rig.hooks, str(rig.tmp / "uninstalled" / "python"))
    write_hook(rig.tmp / "bin" / "agent-tracker", f'exec "{sys.executable}" -m agent_tracker "$@"')
    env = env_with(PATH=f"{rig.tmp / 'bin'}{os.pathsep}{path_without_tracker()}")
    sha = commit_with(rig.repo, "a.txt", env=env)
    assert rig.recorded() == [sha]


def test_commit_and_push_succeed_when_the_config_file_is_broken(rig: Rig) -> None:
    rig.install()
    (rig.tmp / "broken.toml").write_text("this is = = not toml [\n")
    env = env_with(AGENT_TRACKER_CONFIG=str(rig.tmp / "broken.toml"))
    assert run_tracker("flush", env=env).returncode != 0  # the tracker does fail here

    sha = commit_with(rig.repo, "a.txt", env=env)
    done = push(rig.repo, env=env)
    assert done.returncode == 0, done.stderr
    assert "agent-tracker" not in done.stderr
    assert remote_head(rig.remote) == sha


def test_push_succeeds_and_keeps_the_journal_when_the_database_is_unusable(rig: Rig) -> None:
    rig.install()
    blocker = rig.tmp / "not-a-folder"
    blocker.write_text("")
    journal_dir = rig.tmp / "journal"
    env = env_with(
        AGENT_TRACKER_DATABASE_PATH=str(blocker / "db.lmdb"),
        AGENT_TRACKER_JOURNAL_DIR=str(journal_dir),
    )
    sha = commit_with(rig.repo, "a.txt", env=env)
    done = push(rig.repo, env=env)
    assert done.returncode == 0, done.stderr
    assert remote_head(rig.remote) == sha
    assert recorded(journal_dir) == [sha]  # kept for a later flush
    assert run_tracker("flush", env=env).returncode != 0  # the hook's flush did fail


def test_a_stuck_journal_lock_holds_up_neither_commit_nor_push_beyond_the_hook_timeout(
    rig: Rig,
) -> None:
    rig.install()
    first = commit_with(rig.repo, "a.txt")
    # Someone holds the journal lock and never lets go: appending (post-commit) and rotating
    # (pre-push) both wait for it until the hook timeout ends the tracker. The deadline is
    # well below the hooks' default timeouts (10 s, 30 s), so this fails if the timeout is
    # not passed through or not enforced. (Passing AGENT_TRACKER_HOOK_TIMEOUT to git only:
    # in this process it would arm an alarm that kills pytest.)
    env = env_with(AGENT_TRACKER_HOOK_TIMEOUT="1")
    lock_fd = os.open(rig.settings.journal_dir / "journal.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        (rig.repo / "b.txt").write_text("b\n")
        git(rig.repo, "add", "b.txt")
        done = run_git(rig.repo, "commit", "-q", "-m", "b", env=env, deadline=8)
        assert done.returncode == 0, done.stderr
        second = git(rig.repo, "rev-parse", "HEAD")
        done = run_git(rig.repo, "push", "-q", "origin", "main", env=env, deadline=8)
        assert done.returncode == 0, done.stderr
        assert remote_head(rig.remote) == second
    finally:
        os.close(lock_fd)
    assert rig.recorded() == [first]
    assert run_tracker("flush").returncode == 0  # nothing was lost or left locked
    [agent] = database_agents(rig.settings)
    assert agent["commits"] == 1


def test_hooks_work_when_the_python_path_contains_quotes_and_spaces(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = rig.tmp / "o'brien's \"tools\" $HOME" / "python"
    write_hook(python, f'exec "{sys.executable}" "$@"')
    monkeypatch.setattr(sys, "executable", str(python))
    rig.install()
    sha = commit_with(rig.repo, "a.txt")
    done = push(rig.repo)
    assert done.returncode == 0, done.stderr
    assert remote_head(rig.remote) == sha
    [agent] = database_agents(rig.settings)
    assert agent["commits"] == 1


def test_a_package_in_the_repository_named_like_the_tracker_does_not_run_instead_of_it(
    rig: Rig,
) -> None:
    ran = rig.tmp / "hijacked"
    (rig.repo / "agent_tracker").mkdir()
    (rig.repo / "agent_tracker" / "__init__.py").write_text("")
    (rig.repo / "agent_tracker" / "__main__.py").write_text(f"open({str(ran)!r}, 'w').close()\n")
    rig.install()
    sha = commit_with(rig.repo, "a.txt")
    assert not ran.exists()
    assert rig.recorded() == [sha]


# -- status and errors -----------------------------------------------------------------------


def test_hooks_status_reports_missing_foreign_installed_and_outdated(rig: Rig) -> None:
    def states() -> list[str]:
        return hook_states(rig)

    assert states() == ["post-commit: missing (not installed)", "pre-push: missing (not installed)"]
    write_hook(rig.hooks / "pre-push", "exit 0")
    assert states()[1] == "pre-push: foreign (not installed; a hook is here)"
    rig.install()
    kept = "after the earlier hook kept as pre-push.pre-agent-tracker"
    assert states() == ["post-commit: installed (runs directly)", f"pre-push: installed (runs {kept})"]
    bake_python(rig.hooks, "/elsewhere/python")
    assert states() == ["post-commit: outdated (runs directly)", f"pre-push: outdated (runs {kept})"]


def hook_states(rig: Rig) -> list[str]:
    """`hooks status` lines without the path (Rich may wrap a long path onto the next line)."""
    result = rig.cli("hooks", "status", "--repo", str(rig.repo))
    assert result.code == 0, result.err
    return re.findall(r"(?m)^(?:post-commit|pre-push): \w+ \([^)]*\)", result.out)


@pytest.mark.parametrize("command", ["install", "uninstall", "status"])
def test_hooks_commands_outside_a_git_repository_fail_with_a_one_line_error(
    command: str, tmp_path: Path, cli: Callable[..., Result]
) -> None:
    plain = tmp_path / ("a-folder-with-a-long-name-" * 4)  # longer than a terminal line
    plain.mkdir()
    result = cli("hooks", command, "--repo", str(plain))
    assert result.code == 1
    assert result.err.splitlines() == [f"agent-tracker: error: {plain} is not a git repository"]
    assert result.out == ""
