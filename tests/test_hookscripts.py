"""Git hooks through real git: real repositories, real commits, a real bare remote and push.

Git runs the hooks as it would for a user; they run the tracker with the Python baked in at
install time, which reads its settings from the environment the test set up (HOME in a
temporary folder), so the journal and database checked here are the hooks' own.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, commit_file, git, run_tracker
from hookwait import settle, slow_env

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
    settle(repo)
    return git(repo, "rev-parse", "HEAD")


def push(repo: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = run_git(repo, "push", "-q", "origin", "main", env=env)
    settle(repo)
    return done


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


def previous_version(path: Path) -> None:
    """Make an installed script of ours the one the previous release wrote: it baked in the
    Python only, and ran it whenever it was there."""
    text = re.sub(r"(?m)^AGENT_TRACKER_PACKAGE=.*\n", "", path.read_text())
    old = 'if [ -x "$AGENT_TRACKER_PYTHON" ]; then'
    text, count = re.subn(r'(?m)^if \[ -x "\$AGENT_TRACKER_PYTHON" \] && .*; then$', old, text)
    assert count == 1
    path.write_text(text)


def other_python(tmp: Path) -> str:
    """Another program that runs this Python, as a second installation of the tracker would."""
    python = tmp / "other-install" / "bin" / "python"
    if not python.exists():
        write_hook(python, f'exec "{sys.executable}" "$@"')
    return str(python)


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
        settle(rig.repo, deadline=8)  # the background work ends at its bound, lock or not
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
    direct = "runs directly"
    assert states() == [f"post-commit: installed ({direct})", f"pre-push: installed (runs {kept})"]
    other = other_python(rig.tmp)
    bake_python(rig.hooks, other)  # another agent-tracker installed them: current all the same
    assert states() == [
        f"post-commit: installed ({direct}; runs {other})",
        f"pre-push: installed (runs {kept}; runs {other})",
    ]
    for name in HOOKS:
        previous_version(rig.hooks / name)
    assert states() == [
        f"post-commit: outdated ({direct}; runs {other})",
        f"pre-push: outdated (runs {kept}; runs {other})",
    ]


def hook_states(rig: Rig) -> list[str]:
    """`hooks status` lines without the path (Rich may wrap a long path onto the next line)."""
    result = rig.cli("hooks", "status", "--repo", str(rig.repo))
    found = re.findall(r"(?m)^(?:post-commit|pre-push): \w+ \([^)]*\)", result.out)
    # 0 only when both are installed and current: scripts can check the exit status.
    healthy = all(line.split(": ")[1].startswith("installed ") for line in found)
    assert result.code == (0 if healthy and len(found) == 2 else 1), result.err
    return found


def test_hooks_status_exits_1_until_both_hooks_are_installed_and_current(rig: Rig) -> None:
    assert rig.cli("hooks", "status", "--repo", str(rig.repo)).code == 1  # missing
    rig.install()
    assert rig.cli("hooks", "status", "--repo", str(rig.repo)).code == 0
    previous_version(rig.hooks / "pre-push")
    outdated = rig.cli("hooks", "status", "--repo", str(rig.repo))
    assert outdated.code == 1
    assert "outdated" in outdated.out


def test_a_hook_whose_recorded_program_is_gone_is_broken_and_status_says_the_fix(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig.install()
    gone = rig.tmp / "moved-venv" / "bin" / "python"
    bake_python(rig.hooks, str(gone))
    monkeypatch.setenv("PATH", path_without_tracker())
    result = rig.cli("hooks", "status", "--repo", str(rig.repo))
    assert result.code == 1
    assert [line.split(" (")[0] for line in hook_states(rig)] == [
        "post-commit: broken",
        "pre-push: broken",
    ]
    assert f"the program it runs, {gone}, is gone" in result.out
    assert "it does nothing unless git finds agent-tracker on PATH" in result.out
    # Not on PATH: the fix names the program that runs now, so it can be pasted as it is.
    script = Path(sys.executable).parent / "agent-tracker"
    fix = f"{script} hooks install --repo {rig.repo}"
    assert result.out.splitlines()[-1] == f"to fix: {fix}"
    assert result.out.count("to fix:") == 1  # one line for both hooks
    done = subprocess.run(fix, shell=True, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert rig.cli("hooks", "status", "--repo", str(rig.repo)).code == 0


def test_status_gives_one_fix_line_per_command_with_its_reason(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig.install()
    bake_python(rig.hooks, str(rig.tmp / "gone" / "python"))
    write_hook(rig.hooks / "pre-push", "exit 0")  # someone else's hook replaced ours
    write_hook(rig.tmp / "bin" / "agent-tracker", "exit 0")
    monkeypatch.setenv("PATH", f"{rig.tmp / 'bin'}{os.pathsep}{path_without_tracker()}")
    result = rig.cli("hooks", "status", "--repo", str(rig.repo))
    assert result.code == 1
    fixes = [line for line in result.out.splitlines() if line.startswith("to fix:")]
    assert fixes == [
        f"to fix: agent-tracker hooks install --repo {rig.repo}  # keeps the hook that is "
        "there and runs it first"
    ]


def test_a_recorded_python_without_the_tracker_is_broken_too(rig: Rig) -> None:
    rig.install()
    # An interpreter that is there but has no agent-tracker (its site-packages gone).
    bare = rig.tmp / "bare" / "python"
    write_hook(bare, f'exec "{sys.executable}" -S "$@"')
    bake_python(rig.hooks, str(bare))
    states = hookscripts.status(rig.repo)
    assert [s.state for s in states] == ["broken", "broken"]
    assert states[0].how == (
        f"runs directly; the program it runs, {bare}, has no agent-tracker: the hook does nothing"
    )
    bake_python(rig.hooks, other_python(rig.tmp))  # one that has it: nothing to fix
    assert [s.state for s in hookscripts.status(rig.repo)] == ["installed", "installed"]


def test_a_hook_whose_agent_tracker_was_uninstalled_runs_the_one_on_path(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interpreter is still there but the package it imported is not (`pip uninstall`
    in that venv): the script sees the folder gone and runs agent-tracker from PATH."""
    rig.install()
    gone = rig.tmp / "uninstalled" / "agent_tracker"
    for name in HOOKS:
        path = rig.hooks / name
        text = re.sub(
            r"(?m)^AGENT_TRACKER_PACKAGE='[^']*'",
            f"AGENT_TRACKER_PACKAGE='{gone}'",
            path.read_text(),
        )
        path.write_text(text)
    on_path = rig.tmp / "bin" / "agent-tracker"
    ran = rig.tmp / "ran-from-path"
    write_hook(on_path, f'echo "$1" >> "{ran}"; exec "{sys.executable}" -m agent_tracker "$@"')
    monkeypatch.setenv("PATH", f"{on_path.parent}{os.pathsep}{path_without_tracker()}")
    states = hookscripts.status(rig.repo)
    assert [s.state for s in states] == ["broken", "broken"]
    assert states[0].how == (
        f"runs directly; the program it runs, {sys.executable}, no longer has agent-tracker: "
        f"it falls back to {on_path} found on PATH"
    )
    sha = commit_with(rig.repo, "a.txt")
    assert rig.recorded() == [sha]
    assert ran.read_text() == "commit\n"  # by the one on PATH, not the interpreter baked in


@pytest.mark.parametrize(
    ("state", "found", "fix"),
    [
        ("installed", "ours", None),
        ("missing", "missing", "agent-tracker hooks install"),
        ("outdated", "ours", "agent-tracker hooks install"),
        ("broken", "ours", "agent-tracker hooks install"),
        ("inactive", "lefthook", "agent-tracker hooks install"),
        (
            "foreign",
            "foreign",
            "agent-tracker hooks install  # keeps the hook that is there and runs it first",
        ),
        (
            "foreign",
            "pre-commit",
            "agent-tracker hooks install  # pre-commit's hook stays and runs ours as its "
            ".legacy hook",
        ),
    ],
)
def test_fix_for_names_the_command_that_fixes_each_state(
    state: str, found: str, fix: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_hook(tmp_path / "bin" / "agent-tracker", "exit 0")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{path_without_tracker()}")
    hook = hookscripts.HookState("post-commit", tmp_path / "post-commit", state, "", found)
    assert hookscripts.fix_for(hook) == fix
    if fix is not None and found in ("missing", "ours"):
        assert hookscripts.fix_for(state) == fix  # the bare state name gives the same


def test_fix_for_names_the_repository_quoted_for_the_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_hook(tmp_path / "bin" / "agent-tracker", "exit 0")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{path_without_tracker()}")
    repo = tmp_path / "it's here"
    assert hookscripts.fix_for("missing", repo) == (
        f"agent-tracker hooks install --repo '{tmp_path}/it'\"'\"'s here'"
    )
    with pytest.raises(ValueError, match="unknown hook state"):
        hookscripts.fix_for("fine")


def test_under_husky_the_fix_is_the_lines_to_add_to_its_hooks(rig: Rig) -> None:
    husky = rig.repo / ".husky" / "_"
    write_hook(husky / "h", "exit 0")
    for name in HOOKS:
        write_hook(husky / name, '. "$(dirname "$0")/h"')
    git(rig.repo, "config", "core.hooksPath", ".husky/_")
    states = hookscripts.status(rig.repo)
    assert [(s.state, s.found) for s in states] == [("foreign", "husky")] * 2
    fix = hookscripts.fix_for(states[0])
    assert fix is not None
    assert "`agent-tracker commit || true` to .husky/post-commit" in fix
    assert "hooks install" not in fix  # install refuses there


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


# -- other hook managers (issue 9, item 5) ---------------------------------------------------

# pre-commit's hook as pre-commit writes it, reduced to what matters here: it runs
# `<hook>.legacy` first with the same arguments and input (its "migration mode"), then its own
# hooks. The real pre-commit is exercised in tests/faults/test_git.py.
PRE_COMMIT_SHIM = """# File generated by pre-commit: https://pre-commit.com
# ID: 138fd403232d2ddd5efb44317e38bf03
n=$((${{AT_DEPTH:-0}} + 1)); export AT_DEPTH=$n
[ "$n" -gt 5 ] && {{ echo loop >> "{log}"; exit 1; }}
if [ -x "$0.legacy" ]; then "$0.legacy" "$@" || exit $?; fi
echo "pre-commit $(basename "$0")" >> "{log}"
"""

# lefthook's hook as documented: it runs `lefthook run <hook>` and never the `.old` hook that
# `lefthook install` renamed.
LEFTHOOK_SHIM = """if [ "$LEFTHOOK" = "0" ]; then exit 0; fi
echo "lefthook {name}" >> "{log}"
"""


def pre_commit_wraps(hooks: Path, name: str, log: Path) -> None:
    """What `pre-commit install -t NAME` does: an existing hook becomes NAME.legacy."""
    if (hooks / name).exists() and hookscripts.kind(hooks / name) != "pre-commit":
        os.replace(hooks / name, hooks / f"{name}.legacy")
    write_hook(hooks / name, PRE_COMMIT_SHIM.format(log=log))


def lefthook_wraps(hooks: Path, name: str, log: Path) -> None:
    """What `lefthook install` does: an existing foreign hook becomes NAME.old."""
    if (hooks / name).exists():
        os.replace(hooks / name, hooks / f"{name}.old")
    write_hook(hooks / name, LEFTHOOK_SHIM.format(name=name, log=log))


def test_reinstalling_after_pre_commit_wrapped_ours_keeps_one_chain_and_pushes(rig: Rig) -> None:
    log = rig.tmp / "ran"
    rig.install()
    for name in HOOKS:
        pre_commit_wraps(rig.hooks, name, log)
    result = rig.install()  # the case: this used to make the two start each other
    for name in HOOKS:
        assert f"{name}: already installed; runs via pre-commit's migration mode" in (result.out)
        assert hookscripts.kind(rig.hooks / name) == "pre-commit"
        assert hookscripts.kind(rig.hooks / f"{name}.legacy") == "ours"
        assert not (rig.hooks / f"{name}.pre-agent-tracker").exists()
    sha = commit_with(rig.repo, "a.txt")
    assert rig.recorded() == [sha]
    done = push(rig.repo)
    assert done.returncode == 0, done.stderr
    assert remote_head(rig.remote) == sha
    assert log.read_text().splitlines() == ["pre-commit post-commit", "pre-commit pre-push"]
    [agent] = database_agents(rig.settings)
    assert agent["commits"] == 1
    how = "runs via pre-commit's migration mode as"
    assert hook_states(rig) == [
        f"post-commit: installed ({how} post-commit.legacy)",
        f"pre-push: installed ({how} pre-push.legacy)",
    ]


def test_an_outdated_copy_of_ours_under_pre_commit_is_updated_in_its_place(rig: Rig) -> None:
    pre_commit_wraps(rig.hooks, "post-commit", rig.tmp / "ran")
    legacy = rig.hooks / "post-commit.legacy"
    write_hook(legacy, "")
    legacy.write_text(hookscripts.render("post-commit", other_python(rig.tmp)))
    previous_version(legacy)
    assert hook_states(rig)[0].startswith("post-commit: outdated (runs via pre-commit's")
    result = rig.install()
    assert "post-commit: installed; runs via pre-commit's migration mode" in result.out
    assert legacy.read_text() == hookscripts.render("post-commit")
    sha = commit_with(rig.repo, "a.txt")
    assert rig.recorded() == [sha]


def test_installing_under_pre_commit_uses_its_migration_mode_and_keeps_its_legacy_hook(
    rig: Rig,
) -> None:
    log, theirs = rig.tmp / "ran", rig.tmp / "their-hook-ran"
    original = write_hook(rig.hooks / "pre-push", f'echo "$1" >> "{theirs}"')
    pre_commit_wraps(rig.hooks, "pre-push", log)  # theirs is now pre-push.legacy
    pre_commit_wraps(rig.hooks, "post-commit", log)
    result = rig.install()
    assert result.out.splitlines() == [
        "post-commit: installed; runs via pre-commit's migration mode as post-commit.legacy",
        "pre-push: installed; runs via pre-commit's migration mode as pre-push.legacy; "
        "existing hook kept as pre-push.pre-agent-tracker",
    ]
    assert (rig.hooks / "pre-push.pre-agent-tracker").read_bytes() == original
    sha = commit_with(rig.repo, "a.txt")
    done = push(rig.repo)
    assert done.returncode == 0, done.stderr
    assert theirs.read_text().split() == ["origin"]
    assert remote_head(rig.remote) == sha
    [agent] = database_agents(rig.settings)
    assert agent["commits"] == 1

    # and uninstall gives pre-commit its legacy hook back
    result = rig.cli("hooks", "uninstall", "--repo", str(rig.repo))
    assert result.code == 0, result.err
    assert (rig.hooks / "pre-push.legacy").read_bytes() == original
    assert not (rig.hooks / "post-commit.legacy").exists()
    assert hookscripts.kind(rig.hooks / "pre-push") == "pre-commit"
    assert sorted(p.name for p in rig.hooks.iterdir()) == [
        "post-commit",
        "pre-push",
        "pre-push.legacy",
    ]


def test_install_gives_pre_commit_back_its_place_that_an_older_install_had_taken(
    rig: Rig,
) -> None:
    log = rig.tmp / "ran"
    pre_commit_wraps(rig.hooks, "pre-push", log)
    # What an older agent-tracker did: pre-commit's hook moved aside, ours in front. The
    # next `pre-commit install` would have made ours pre-push.legacy: a loop.
    os.replace(rig.hooks / "pre-push", rig.hooks / "pre-push.pre-agent-tracker")
    write_hook(rig.hooks / "pre-push", f"# {hookscripts.MARKER} (pre-push): old\nexit 0")
    assert hook_states(rig)[1].startswith("pre-push: outdated (runs after the earlier pre-commit")
    result = rig.install()
    assert result.out.splitlines()[1] == (
        "pre-push: installed; runs via pre-commit's migration mode as pre-push.legacy; "
        "pre-commit's hook put back from pre-push.pre-agent-tracker"
    )
    assert hookscripts.kind(rig.hooks / "pre-push") == "pre-commit"
    assert hookscripts.kind(rig.hooks / "pre-push.legacy") == "ours"
    assert not (rig.hooks / "pre-push.pre-agent-tracker").exists()
    pre_commit_wraps(rig.hooks, "pre-push", log)  # pre-commit installs again: still no loop
    commit_with(rig.repo, "a.txt")
    done = push(rig.repo)
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == ["pre-commit pre-push"]


def test_lefthook_is_chained_and_our_stale_copy_it_renamed_is_removed(rig: Rig) -> None:
    log = rig.tmp / "ran"
    rig.install()
    for name in HOOKS:
        lefthook_wraps(rig.hooks, name, log)  # ours is now NAME.old, which lefthook never runs
    assert hook_states(rig)[0] == (
        "post-commit: inactive (not running: a copy sits in post-commit.old, which lefthook "
        "hook does not run)"
    )
    result = rig.install()
    assert result.out.splitlines() == [
        f"{name}: installed; stale copy {name}.old removed; existing hook kept as "
        f"{name}.pre-agent-tracker"
        for name in HOOKS
    ]
    assert not any(p.name.endswith(".old") for p in rig.hooks.iterdir())
    sha = commit_with(rig.repo, "a.txt")
    assert rig.recorded() == [sha]
    done = push(rig.repo)
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == ["lefthook post-commit", "lefthook pre-push"]


def test_our_scripts_never_look_like_lefthooks_or_pre_commits_own() -> None:
    for name in HOOKS:
        text = hookscripts.render(name)
        assert "LEFTHOOK" not in text  # lefthook would delete it as its own, without a copy
        assert "pre-commit.com" not in text
        assert hookscripts.MARKER in text[:512]


def test_a_copy_of_ours_kept_as_the_earlier_hook_is_removed_not_run_in_a_loop(rig: Rig) -> None:
    rig.install()
    shutil.copy(rig.hooks / "post-commit", rig.hooks / "post-commit.pre-agent-tracker")
    result = rig.install()
    assert result.out.splitlines()[0] == (
        "post-commit: already installed; stale copy post-commit.pre-agent-tracker removed"
    )
    sha = commit_with(rig.repo, "a.txt")
    assert rig.recorded() == [sha]


# -- core.hooksPath in the work tree (issue 9, item 6) ---------------------------------------


def porcelain(repo: Path) -> str:
    return git(repo, "status", "--porcelain", "--untracked-files=all")


def test_tracked_hooks_in_the_work_tree_are_refused_and_nothing_changes(rig: Rig) -> None:
    write_hook(rig.repo / ".githooks" / "pre-push", "exit 0")
    git(rig.repo, "add", ".githooks")
    git(rig.repo, "commit", "-q", "-m", "team hooks")
    git(rig.repo, "config", "core.hooksPath", ".githooks")
    before = snapshot(rig.repo / ".githooks")
    result = rig.cli("hooks", "install", "--repo", str(rig.repo))
    assert result.code == 1
    [line] = result.err.splitlines()
    assert line.startswith("agent-tracker: error: core.hooksPath is .githooks, inside the work")
    assert ".githooks/pre-push is tracked" in line
    assert "`agent-tracker flush || true` to .githooks/pre-push" in line
    assert snapshot(rig.repo / ".githooks") == before
    assert porcelain(rig.repo) == ""
    (rig.repo / "a.txt").write_text("a\n")
    git(rig.repo, "add", "a.txt")
    git(rig.repo, "commit", "-q", "-a", "-m", "a")
    assert git(rig.repo, "show", "--name-only", "--format=", "HEAD").split() == ["a.txt"]


def test_new_hooks_in_the_work_tree_are_refused_until_git_ignores_them(rig: Rig) -> None:
    git(rig.repo, "config", "core.hooksPath", ".githooks")
    result = rig.cli("hooks", "install", "--repo", str(rig.repo))
    assert result.code == 1
    assert "add /.githooks/post-commit /.githooks/pre-push to .git/info/exclude" in result.err
    assert not (rig.repo / ".githooks").exists()
    assert porcelain(rig.repo) == ""

    exclude = rig.repo / ".git" / "info" / "exclude"
    exclude.parent.mkdir(exist_ok=True)
    exclude.write_text("/.githooks/post-commit\n/.githooks/pre-push\n")
    rig.install()
    assert porcelain(rig.repo) == ""
    (rig.repo / "a.txt").write_text("a\n")
    git(rig.repo, "add", "-A")
    done = run_git(rig.repo, "commit", "-q", "-a", "-m", "a")
    assert done.returncode == 0, done.stderr
    settle(rig.repo)
    assert git(rig.repo, "show", "--name-only", "--format=", "HEAD").split() == ["a.txt"]
    assert rig.recorded() == [git(rig.repo, "rev-parse", "HEAD")]


def test_huskys_folder_is_refused_with_advice(rig: Rig) -> None:
    # husky 9's layout (the real husky runs in tests/faults/test_git.py)
    folder = rig.repo / ".husky" / "_"
    folder.mkdir(parents=True)
    (folder / ".gitignore").write_text("*")
    write_hook(folder / "h", 'n=$(basename "$0")')
    for name in HOOKS:
        write_hook(folder / name, '. "$(dirname "$0")/h"')
    git(rig.repo, "config", "core.hooksPath", ".husky/_")
    before = snapshot(folder)
    result = rig.cli("hooks", "install", "--repo", str(rig.repo))
    assert result.code == 1
    assert "husky's folder in the work tree" in result.err
    assert "`agent-tracker commit || true` to .husky/post-commit" in result.err
    assert snapshot(folder) == before


def test_hooks_in_the_git_folder_of_a_work_tree_at_the_home_folder_are_not_in_the_work_tree(
    rig: Rig,
) -> None:
    place = hookscripts.locate(rig.repo / ".git")
    assert (place.hooks, place.in_work_tree) == (rig.hooks, False)
    place = hookscripts.locate(rig.repo)
    assert (place.hooks, place.top, place.in_work_tree) == (rig.hooks, rig.repo, False)


# -- the whole command bounded in shell (issue 9, item 10) -----------------------------------


def test_a_stalled_interpreter_start_holds_git_no_longer_than_the_bound(rig: Rig) -> None:
    rig.install()
    started = rig.tmp / "started"
    # An interpreter that never gets to run a line of agent-tracker (so no alarm of its own).
    write_hook(rig.tmp / "stalled" / "python", f'echo $$ >> "{started}"\nexec sleep 60')
    bake_python(rig.hooks, str(rig.tmp / "stalled" / "python"))
    env = env_with(AGENT_TRACKER_HOOK_TIMEOUT="1")
    (rig.repo / "a.txt").write_text("a\n")
    git(rig.repo, "add", "a.txt")
    done = run_git(rig.repo, "commit", "-q", "-m", "a", env=env, deadline=8)
    assert done.returncode == 0, done.stderr
    done = run_git(rig.repo, "push", "-q", "origin", "main", env=env, deadline=8)
    assert done.returncode == 0, done.stderr
    assert remote_head(rig.remote) == git(rig.repo, "rev-parse", "HEAD")
    settle(rig.repo, deadline=8)
    pids = [int(p) for p in started.read_text().split()]
    assert len(pids) == 2
    assert not any(_alive(pid) for pid in pids)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not (Path("/proc").is_dir() and _zombie(pid))


HANG_IN_GIT = """
import os, time
spawn = os.posix_spawnp
def hang(*args, **kwargs):
    child = spawn("sleep", ["sleep", "60"], os.environ)
    with open({record!r}, "a") as f:
        f.write(f"{{os.getpid()}} {{child}}\\n")
    time.sleep(60)
os.posix_spawnp = hang
"""


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_the_watchdog_kills_the_tracker_and_the_git_it_started(
    shell: str, rig: Rig, tmp_path: Path
) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    rig.install()
    record, site = tmp_path / "pids", tmp_path / "site"
    site.mkdir()
    # The tracker hangs in its first git call, with a child process, as a stuck git would.
    (site / "sitecustomize.py").write_text(HANG_IN_GIT.format(record=str(record)))
    # 3 s, not 1: on a loaded machine the tracker must reach its git call before the bound.
    env = env_with(AGENT_TRACKER_HOOK_TIMEOUT="3", PYTHONPATH=str(site))
    hook = rig.hooks / "post-commit"
    commit_file(rig.repo, "a.txt", "a\n", "a")
    settle(rig.repo)  # the hook git itself ran for this commit
    started = time.monotonic()
    done = subprocess.run(
        [shell, str(hook)], cwd=rig.repo, env=env, capture_output=True, timeout=8, check=False
    )
    elapsed = time.monotonic() - started
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert elapsed < 5
    settle(rig.repo, deadline=8)  # the background work, ended by the watchdog
    [tracker, child] = [int(p) for p in record.read_text().split()]
    deadline = time.monotonic() + 5
    while (_alive(tracker) or _alive(child)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(tracker)
    assert not _alive(child)  # the process group went, not only the tracker


SLOW_COMMAND = """
import sys, time
from agent_tracker import cli, entry
run = cli.run
def slow(args):
    time.sleep(2)
    return run(args)
cli.run = slow
sys.exit(entry.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("command", ["migrate", "report", "rebuild"])
def test_an_exported_hook_timeout_never_kills_a_long_command_run_by_hand(command: str) -> None:
    env = env_with(AGENT_TRACKER_HOOK_TIMEOUT="1")
    done = subprocess.run(
        [sys.executable, "-c", SLOW_COMMAND, command],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode >= 0, f"killed by signal {-done.returncode}"
    assert "Alarm clock" not in done.stderr
    assert "Traceback" not in done.stderr


def test_the_bound_our_hook_scripts_set_does_end_the_command() -> None:
    env = env_with(AGENT_TRACKER_HOOK_BOUND="1")
    done = subprocess.run(
        [sys.executable, "-c", SLOW_COMMAND, "status"],
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == -9  # its whole process group, at the bound


@pytest.mark.parametrize("value", ["", "abc", "0", "-5", "1.5", "99999999999999999999999"])
def test_a_bad_hook_timeout_leaves_the_default_bound_and_the_hook_works(
    value: str, rig: Rig
) -> None:
    rig.install()
    sha = commit_with(rig.repo, "a.txt", env=env_with(AGENT_TRACKER_HOOK_TIMEOUT=value))
    assert rig.recorded() == [sha]


def test_the_hook_scripts_are_posix_sh() -> None:
    for shell in ("sh", "dash", "bash"):
        path = shutil.which(shell)
        if path is None:
            continue
        flags = ["--posix", "-n"] if shell == "bash" else ["-n"]
        for name in HOOKS:
            done = subprocess.run([path, *flags, "-c", hookscripts.render(name)], check=False)
            assert done.returncode == 0, (shell, name)
    for name in HOOKS:
        text = hookscripts.render(name)
        assert text.startswith("#!/bin/sh\n")
        for bashism in ("[[", "$(<", "function ", "local ", "==", "pipefail", "timeout "):
            assert bashism not in text, bashism


# -- old git (issue 9, item 15) --------------------------------------------------------------

REAL_GIT = shutil.which("git") or "/usr/bin/git"


def fake_git(folder: Path, version: str, *, echo_unknown: bool) -> Path:
    """A `git` that says it is VERSION and, like git before 2.31, knows no --path-format:
    either printing it back as rev-parse does with flags it does not know, or refusing it."""
    refuse = (
        'printf "%s\\n" "$arg"; shift_done=1'
        if echo_unknown
        else "echo \"error: unknown option '${arg#--}'\" >&2; exit 129"
    )
    write_hook(
        folder / "git",
        f"""case " $* " in *" version "*) echo "git version {version}"; exit 0 ;; esac
for arg in "$@"; do
    case $arg in --path-format*) {refuse} ;; esac
done
for arg in "$@"; do
    shift
    case $arg in --path-format*) ;; *) set -- "$@" "$arg" ;; esac
done
exec "{REAL_GIT}" "$@\"""",
    )
    return folder


@pytest.mark.parametrize("echo_unknown", [True, False])
def test_install_works_with_git_2_25_which_has_no_path_format(
    echo_unknown: bool, rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = fake_git(rig.tmp / "git-2.25", "2.25.1", echo_unknown=echo_unknown)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    assert run_git(rig.repo, "version").stdout.strip() == "git version 2.25.1"
    git(rig.repo, "config", "core.hooksPath", str(rig.tmp / "shared"))
    (rig.repo / "sub").mkdir()
    result = rig.install(rig.repo / "sub")
    assert result.out.splitlines() == ["post-commit: installed", "pre-push: installed"]
    assert all((rig.tmp / "shared" / name).is_file() for name in HOOKS)
    assert [s.state for s in hookscripts.status(rig.repo)] == ["installed", "installed"]
    sha = commit_with(rig.repo, "a.txt")
    assert rig.recorded() == [sha]


def test_install_on_a_git_older_than_2_25_says_what_is_needed(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "git-2.20"
    write_hook(
        folder / "git",
        'case " $* " in *" version "*) echo "git version 2.20.1"; exit 0 ;; esac\n'
        "echo \"error: unknown option 'is-inside-work-tree'\" >&2; exit 129",
    )
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    result = rig.cli("hooks", "install", "--repo", str(rig.repo))
    assert result.code == 1
    assert result.err.splitlines() == [
        "agent-tracker: error: hooks need git 2.25 or newer; this is git 2.20"
    ]


# -- in the background: git never waits, and nothing is lost, doubled or half done ----------


def commit_only(repo: Path, name: str, env: dict[str, str]) -> str:
    (repo / name).write_text(f"{name}\n")
    git(repo, "add", name)
    done = run_git(repo, "commit", "-q", "-m", f"add {name}", env=env)
    assert done.returncode == 0, done.stderr
    return git(repo, "rev-parse", "HEAD")


def markers(repo: Path) -> list[str]:
    folder = repo / ".git" / "agent-tracker"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_git_commit_and_push_return_while_the_tracker_still_works(rig: Rig) -> None:
    rig.install()
    env = slow_env(rig.tmp, SLOW_COMMIT="5", SLOW_FLUSH="5")
    started = time.monotonic()
    sha = commit_only(rig.repo, "a.txt", env)
    assert time.monotonic() - started < 4  # git did not wait for the 5 s of the tracker
    [marker] = markers(rig.repo)
    assert marker.startswith(f"commit-{sha}-")
    assert rig.recorded() == []  # not yet: it is being recorded in the background
    settle(rig.repo)
    assert rig.recorded() == [sha]
    assert markers(rig.repo) == []

    started = time.monotonic()
    done = run_git(rig.repo, "push", "-q", "origin", "main", env=env)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 4
    assert remote_head(rig.remote) == sha
    [marker] = markers(rig.repo)
    assert marker.startswith("flush-")
    settle(rig.repo)
    assert rig.recorded() == []
    [agent] = database_agents(rig.settings)
    assert agent["commits"] == 1


def test_in_line_hooks_finish_before_git_returns(rig: Rig) -> None:
    rig.install()
    env = slow_env(rig.tmp, SLOW_COMMIT="0.5", AGENT_TRACKER_HOOK_INLINE="1")
    sha = commit_only(rig.repo, "a.txt", env)
    assert rig.recorded() == [sha]  # no waiting: git waited
    done = run_git(rig.repo, "push", "-q", "origin", "main", env=env)
    assert done.returncode == 0, done.stderr
    [agent] = database_agents(rig.settings)
    assert agent["commits"] == 1
    assert markers(rig.repo) == []


def test_commits_in_quick_succession_are_each_recorded_once(rig: Rig) -> None:
    rig.install()
    env = slow_env(rig.tmp, SLOW_COMMIT="0.5")
    made = [commit_only(rig.repo, f"{n}.txt", env) for n in range(4)]
    assert len(markers(rig.repo)) >= 2  # they overlapped
    settle(rig.repo)
    assert sorted(rig.recorded()) == sorted(made)
    assert run_tracker("flush").returncode == 0
    [agent] = database_agents(rig.settings)
    assert agent["commits"] == 4


def test_commits_a_cherry_pick_re_applies_in_quick_succession_are_not_counted_again(
    rig: Rig,
) -> None:
    rig.install()
    commit_with(rig.repo, "base.txt")
    git(rig.repo, "checkout", "-q", "-b", "topic")
    picked = [commit_with(rig.repo, f"{n}.txt") for n in range(3)]
    git(rig.repo, "checkout", "-q", "main")
    before = rig.recorded()
    # Each recorder starts only after the next pick moved HEAD on: it must still find the
    # reflog entry of its own commit, not the newest one.
    # Another committer time: a pick made in the same second as its original would be it.
    env = slow_env(rig.tmp, SLOW_COMMIT="0.5", GIT_COMMITTER_DATE="2030-01-01T00:00:00Z")
    done = run_git(rig.repo, "cherry-pick", *picked, env=env)
    assert done.returncode == 0, done.stderr
    assert len(git(rig.repo, "log", "--format=%H", "topic..main").split()) == 3
    settle(rig.repo)
    assert rig.recorded() == before


def test_a_grade_right_after_a_commit_lands_on_it_though_appended_first(rig: Rig) -> None:
    rig.install()
    commit_with(rig.repo, "a.txt")
    assert run_tracker("flush").returncode == 0  # now `grade` can tell unrecorded commits
    env = slow_env(rig.tmp, SLOW_COMMIT="1", AGENT_TRACKER_AGENT="build", AGENT_TRACKER_MODEL="m")
    sha = commit_only(rig.repo, "b.txt", env)
    graded = run_tracker("grade", "excellence", "--by", "user", cwd=rig.repo)
    assert graded.returncode == 0, graded.stderr
    assert "never recorded" not in graded.stderr  # it waited for the hook still at work
    settle(rig.repo)
    pending = [(e["type"], e["hash"]) for e in Journal(rig.settings.journal_dir).pending_events()]
    assert pending == [("grade", sha), ("commit", sha)]  # the grade came first
    assert run_tracker("flush").returncode == 0
    db = LMDBDatabase.open_read(rig.settings.database_path, rig.settings.max_database_size)
    assert db is not None
    with db:
        agents = {(a["agent"], a["model"]): a for a in db.agents()}
    built = agents["build", "m"]
    assert (built["commits"], built["score"]) == (1, 5)  # the grade counts for its commit
    assert agents["unknown", "unknown"]["score"] == 0


def test_a_flush_by_hand_waits_for_the_hooks_and_then_flushes_the_rest(rig: Rig) -> None:
    rig.install()
    env = slow_env(rig.tmp, SLOW_COMMIT="1")
    sha = commit_only(rig.repo, "a.txt", env)
    [marker] = markers(rig.repo)
    assert marker.startswith(f"commit-{sha}-")
    done = run_tracker("flush", cwd=rig.repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("flushed 1 event (1 commit) in one transaction")
    assert rig.recorded() == []
    [agent] = database_agents(rig.settings)
    assert agent["commits"] == 1


def test_a_push_returning_while_its_flush_runs_leaves_nothing_half_done(rig: Rig) -> None:
    rig.install()
    made = [commit_with(rig.repo, f"{n}.txt") for n in range(3)]
    env = slow_env(rig.tmp, SLOW_FLUSH="1")
    done = run_git(rig.repo, "push", "-q", "origin", "main", env=env)
    assert done.returncode == 0, done.stderr
    assert len(markers(rig.repo)) == 1  # the push is done, its flush is not
    flushed = run_tracker("flush", "--format", "json", cwd=rig.repo)  # waits for it first
    assert flushed.returncode == 0, flushed.stderr
    assert markers(rig.repo) == []
    assert Journal(rig.settings.journal_dir).pending_count() == 0
    [agent] = database_agents(rig.settings)
    assert (agent["commits"], agent["xp"]) == (len(made), 5 * len(made))


def test_a_flush_the_hook_bound_ends_mid_transaction_is_applied_once_later(rig: Rig) -> None:
    rig.install()
    made = [commit_with(rig.repo, f"{n}.txt") for n in range(2)]
    env = slow_env(rig.tmp, SLOW_FLUSH="30", AGENT_TRACKER_HOOK_TIMEOUT="1")
    done = run_git(rig.repo, "push", "-q", "origin", "main", env=env)
    assert done.returncode == 0, done.stderr
    settle(rig.repo)  # killed at its bound, inside its write transaction
    assert database_agents(rig.settings) == []
    assert sorted(rig.recorded()) == sorted(made)  # every event still pending
    assert run_tracker("flush", cwd=rig.repo).returncode == 0
    assert run_tracker("flush", cwd=rig.repo).stdout == "nothing to flush\n"
    [agent] = database_agents(rig.settings)
    assert agent["commits"] == len(made)


def test_a_harness_ending_the_process_group_of_git_commit_ends_none_of_our_work(rig: Rig) -> None:
    rig.install()
    env = slow_env(rig.tmp, SLOW_COMMIT="0.5", SLOW_FLUSH="0.5")
    (rig.repo / "a.txt").write_text("a\n")
    git(rig.repo, "add", "a.txt")
    for args in (["commit", "-q", "-m", "a"], ["push", "-q", "origin", "main"]):
        # As Codex runs a shell command: a process group of its own, ended once it returns.
        proc = subprocess.Popen(
            ["git", "-C", str(rig.repo), *args],
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert proc.wait(timeout=GIT_DEADLINE) == 0
        with contextlib.suppress(ProcessLookupError):  # nothing was left in it
            os.killpg(proc.pid, signal.SIGKILL)
        settle(rig.repo)
    assert rig.recorded() == []  # recorded, then flushed
    [agent] = database_agents(rig.settings)
    assert agent["commits"] == 1


def test_the_fix_never_names_a_console_script_whose_interpreter_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A moved virtual environment: its python runs, but its `agent-tracker` script still
    starts with the old path on its #! line, so the fix is spelt `python -m`."""
    bin_dir = tmp_path / "moved" / "bin"
    python = bin_dir / "python"
    write_hook(python, f'exec "{sys.executable}" "$@"')
    script = bin_dir / "agent-tracker"
    script.write_text(f"#!{tmp_path / 'old' / 'bin' / 'python'}\nimport agent_tracker\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", path_without_tracker())
    monkeypatch.setattr(sys, "executable", str(python))
    assert hookscripts.command_name() == f"{python} -m agent_tracker"
    script.write_text(f"#!{python}\nimport agent_tracker\n")
    assert hookscripts.command_name() == str(script)
