"""Set-up that lasts: hooks that find the tracker without its virtual environment active,
`hooks install --global` (git's init.templateDir) and `hooks install --all DIR`.

Everything runs through the installed console script and real git (clone, init, commit) in
the throw-away HOME of conftest; the tests of `--global` give git a global config file there
(conftest points it at /dev/null) and take away conftest's GIT_TEMPLATE_DIR, which would
override the template folder being tested.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import commit_file, git
from test_hookscripts import (
    bake_python,
    commit_with,
    path_without_tracker,
    recorded,
    write_hook,
)

from agent_tracker import config, hookscope, hookscripts

#: The console script pip installed beside the Python that runs the tests.
SCRIPT = Path(sys.executable).parent / "agent-tracker"
DEADLINE = 60


def tracker(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )


def without_venv() -> dict[str, str]:
    """The environment of a shell where the virtual environment is not active."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = path_without_tracker()
    return env


@pytest.fixture
def journal(settings: config.Settings) -> Callable[[], list[str]]:
    return lambda: recorded(settings.journal_dir)


@pytest.fixture
def global_git(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A global git config file of the person's own, in the throw-away HOME."""
    monkeypatch.delenv("GIT_TEMPLATE_DIR")
    gitconfig = home / ".gitconfig"
    gitconfig.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    return gitconfig


def global_setting(key: str) -> str | None:
    done = subprocess.run(
        ["git", "config", "--global", "--get", key], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else None


def ours(hooks: Path) -> list[str]:
    return [n for n in ("post-commit", "pre-push") if hookscripts.kind(hooks / n) == "ours"]


# -- hooks without the virtual environment active --------------------------------------------


def test_hooks_installed_from_a_venv_record_commits_when_it_is_not_active(
    make_repo: Callable[..., Path], journal: Callable[[], list[str]]
) -> None:
    repo = make_repo()
    env = without_venv()
    done = tracker("hooks", "install", "--repo", str(repo), env=env)
    assert done.returncode == 0, done.stderr
    # The hooks run the venv's interpreter by its absolute path: no activation needed.
    assert hookscripts.recorded_program(repo / ".git" / "hooks" / "post-commit") == str(
        Path(sys.executable)
    )
    sha = commit_with(repo, "a.txt", env=env)
    assert journal() == [sha]


def test_when_the_recorded_python_is_gone_the_hooks_run_agent_tracker_from_path(
    make_repo: Callable[..., Path], journal: Callable[[], list[str]], tmp_path: Path
) -> None:
    repo = make_repo()
    assert tracker("hooks", "install", "--repo", str(repo)).returncode == 0
    gone = tmp_path / "moved-away" / ".venv" / "bin" / "python"
    bake_python(repo / ".git" / "hooks", str(gone))
    # The README's way: the venv's bin folder on PATH, the venv itself not activated.
    env = without_venv()
    env["PATH"] = f"{SCRIPT.parent}{os.pathsep}{env['PATH']}"
    status = tracker("hooks", "status", "--repo", str(repo), env=env)
    assert status.returncode == 1
    assert f"post-commit: broken (runs directly; the program it runs, {gone}, is gone" in (
        status.stdout
    )
    assert f"falls back to {SCRIPT} found on PATH" in status.stdout
    assert f"to fix: agent-tracker hooks install --repo {repo}" in status.stdout
    sha = commit_with(repo, "a.txt", env=env)
    assert journal() == [sha]


def test_with_the_recorded_python_gone_and_nothing_on_path_commits_still_succeed(
    make_repo: Callable[..., Path], journal: Callable[[], list[str]], tmp_path: Path
) -> None:
    repo = make_repo()
    assert tracker("hooks", "install", "--repo", str(repo)).returncode == 0
    bake_python(repo / ".git" / "hooks", str(tmp_path / "gone" / "python"))
    commit_with(repo, "a.txt", env=without_venv())
    assert journal() == []  # nothing recorded, and `hooks status` says "broken" (above)


# -- --global --------------------------------------------------------------------------------


def test_install_global_gives_new_clones_and_inits_the_hooks_and_uninstall_undoes_it(
    global_git: Path,
    make_repo: Callable[..., Path],
    bare_remote: Path,
    journal: Callable[[], list[str]],
    tmp_path: Path,
) -> None:
    upstream = make_repo("upstream", origin=str(bare_remote))
    commit_file(upstream, "README", "hi\n", "first")
    git(upstream, "push", "-q", "origin", "main")

    done = tracker("hooks", "install", "--global")
    assert done.returncode == 0, done.stderr
    template = hookscope.template_dir()
    assert done.stdout.splitlines()[:3] == [
        f"init.templateDir: set to {template} in your global git config",
        "post-commit: installed",
        "pre-push: installed",
    ]
    assert global_setting("init.templateDir") == str(template)
    assert tracker("hooks", "install", "--global").stdout.splitlines()[:2] == [
        f"init.templateDir: already {template}",
        "post-commit: already installed",
    ]
    status = tracker("hooks", "status", "--global")
    assert status.returncode == 0, status.stdout
    assert status.stdout.splitlines()[0] == (
        f"init.templateDir: {template} (from your global git config)"
    )

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare_remote), str(clone))
    assert ours(clone / ".git" / "hooks") == ["post-commit", "pre-push"]
    assert tracker("hooks", "status", "--repo", str(clone)).returncode == 0
    sha = commit_with(clone, "b.txt")
    assert journal() == [sha]
    fresh = tmp_path / "fresh"
    git(tmp_path, "init", "-q", str(fresh))
    assert ours(fresh / ".git" / "hooks") == ["post-commit", "pre-push"]
    # The rest of git's own template still arrives (a set template folder replaces it).
    defaults = hookscope.git_default_template()
    assert defaults is not None
    assert (fresh / ".git" / "info" / "exclude").read_bytes() == (
        defaults / "info" / "exclude"
    ).read_bytes()
    assert (clone / ".git" / "description").is_file()

    done = tracker("hooks", "uninstall", "--global")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "init.templateDir: unset in your global git config"
    assert global_setting("init.templateDir") is None
    assert not template.exists()
    later = tmp_path / "later"
    git(tmp_path, "init", "-q", str(later))
    assert ours(later / ".git" / "hooks") == []
    assert ours(clone / ".git" / "hooks") == ["post-commit", "pre-push"]  # made meanwhile
    assert tracker("hooks", "status", "--global").returncode == 1


def test_install_global_adds_to_a_template_folder_of_the_persons_own_and_chains_its_hook(
    global_git: Path, tmp_path: Path, journal: Callable[[], list[str]]
) -> None:
    theirs = tmp_path / "my-template"
    ran = tmp_path / "their-hook-ran"
    their_hook = write_hook(theirs / "hooks" / "post-commit", f'echo ran >> "{ran}"')
    (theirs / "description").write_text("mine\n")
    git(tmp_path, "config", "--global", "init.templateDir", str(theirs))

    done = tracker("hooks", "install", "--global")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:2] == [
        f"init.templateDir: {theirs} (from your global git config): our hooks added to it",
        "post-commit: installed; existing hook kept as post-commit.pre-agent-tracker",
    ]
    assert global_setting("init.templateDir") == str(theirs)  # left as it was
    assert not hookscope.template_dir().exists()

    repo = tmp_path / "new"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    assert (repo / ".git" / "description").read_text() == "mine\n"
    sha = commit_with(repo, "a.txt")
    assert journal() == [sha]
    assert ran.read_text() == "ran\n"  # theirs still runs, first

    done = tracker("hooks", "uninstall", "--global")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:2] == [
        f"init.templateDir: {theirs} (from your global git config) kept; our hooks removed from it",
        "post-commit: removed; earlier hook restored",
    ]
    assert (theirs / "hooks" / "post-commit").read_bytes() == their_hook
    assert sorted(p.name for p in (theirs / "hooks").iterdir()) == ["post-commit"]
    assert global_setting("init.templateDir") == str(theirs)


def test_install_global_under_a_global_hooks_path_changes_nothing_and_says_why(
    global_git: Path, tmp_path: Path
) -> None:
    git(tmp_path, "config", "--global", "core.hooksPath", str(tmp_path / "all-hooks"))
    before = global_git.read_bytes()
    done = tracker("hooks", "install", "--global")
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("agent-tracker: error: core.hooksPath is set in your global git")
    assert "run `agent-tracker hooks install` in any one repository instead" in line
    assert global_git.read_bytes() == before
    assert not hookscope.template_dir().exists()


def test_install_global_with_a_template_folder_that_is_not_there_says_so(
    global_git: Path, tmp_path: Path
) -> None:
    git(tmp_path, "config", "--global", "init.templateDir", str(tmp_path / "nowhere"))
    done = tracker("hooks", "install", "--global")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"agent-tracker: error: init.templateDir is {tmp_path / 'nowhere'} in your global git "
        "config, but there is no such folder: create it, or unset the setting, then install "
        "again"
    ]


@pytest.mark.parametrize(
    "args", [("--global", "--repo", "."), ("--all", ".", "--global"), ("--repo", ".", "--all", ".")]
)
def test_only_one_of_repo_global_and_all_is_taken(args: tuple[str, ...]) -> None:
    done = tracker("hooks", "install", *args)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "agent-tracker: error: --repo, --global and --all choose where: give only one of them"
    ]


# -- --all DIR -------------------------------------------------------------------------------


def test_install_all_covers_every_repository_under_a_folder_and_skips_what_it_must(
    tmp_path: Path, bare_remote: Path, journal: Callable[[], list[str]]
) -> None:
    code = tmp_path / "code"
    plain = code / "app"
    git(tmp_path, "init", "-q", "-b", "main", str(plain))
    nested = code / "clients" / "acme" / "site"  # three folders down: the default depth
    git(tmp_path, "clone", "-q", str(bare_remote), str(nested))
    husky = code / "web"
    git(tmp_path, "init", "-q", str(husky))
    write_hook(husky / ".husky" / "_" / "h", "exit 0")
    git(husky, "config", "core.hooksPath", ".husky/_")
    for hidden in (code / ".cache" / "repo", code / "app2" / "node_modules" / "dep"):
        git(tmp_path, "init", "-q", str(hidden))
    too_deep = code / "a" / "b" / "c" / "d"
    git(tmp_path, "init", "-q", str(too_deep))
    (code / "link").symlink_to(plain)  # not followed: app is found once
    inside = plain / "vendor" / "lib"  # a repository inside a repository: its own business
    git(tmp_path, "init", "-q", str(inside))

    done = tracker("hooks", "install", "--all", str(code))
    assert done.returncode == 1, done.stderr  # one was skipped: not everything is covered
    lines = done.stdout.splitlines()
    assert lines[0] == f"{plain}: installed"
    assert lines[1] == f"{nested}: installed"
    assert lines[2].startswith(f"{husky}: skipped: core.hooksPath is .husky/_, husky's folder")
    assert lines[3:] == ["hooks in 2 of 3 repositories; 1 skipped"]
    for repo in (code / ".cache" / "repo", code / "app2" / "node_modules" / "dep", too_deep):
        assert ours(repo / ".git" / "hooks") == []
    assert ours(inside / ".git" / "hooks") == []
    sha = commit_with(plain, "a.txt")
    assert journal() == [sha]

    again = tracker("hooks", "install", "--all", str(code), "--depth", "4")
    assert again.stdout.splitlines()[:2] == [
        f"{too_deep}: installed",
        f"{plain}: already installed",
    ]
    assert ours(too_deep / ".git" / "hooks") == ["post-commit", "pre-push"]

    removed = tracker("hooks", "uninstall", "--all", str(code), "--depth", "4")
    assert removed.returncode == 0, removed.stdout + removed.stderr  # husky's: not ours
    assert removed.stdout.splitlines()[-1] == (
        "hooks removed from 3 of 4 repositories; 1 had none; 0 skipped"  # husky's
    )
    for repo in (plain, nested, too_deep):
        assert ours(repo / ".git" / "hooks") == []


def test_install_all_in_a_folder_without_repositories_is_a_one_line_error(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    done = tracker("hooks", "install", "--all", str(empty))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"agent-tracker: error: no git repository in {empty} or 3 folders below it "
        "(hidden folders and node_modules are not searched)"
    ]
    missing = tracker("hooks", "install", "--all", str(tmp_path / "nope"))
    assert missing.returncode == 1
    assert missing.stderr.splitlines() == [
        f"agent-tracker: error: {tmp_path / 'nope'} is not a folder"
    ]


def test_the_install_help_explains_global_and_all() -> None:
    done = tracker("hooks", "install", "--help", env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0
    for words in ("--global", "init.templateDir", "--all", "DIR", "--depth", "LEVELS"):
        assert words in done.stdout
    assert shutil.which("git")


def test_a_depth_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    done = tracker("hooks", "install", "--all", str(tmp_path), "--depth", "21")
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["agent-tracker: error: --depth: 21 is not between 0 and 20"]


def test_install_all_of_the_current_folder_names_each_repository_by_its_full_path(
    tmp_path: Path,
) -> None:
    code = tmp_path / "code"
    git(tmp_path, "init", "-q", str(code / "one"))
    git(tmp_path, "init", "-q", str(code / "two"))
    done = tracker("hooks", "install", "--all", ".", cwd=code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{code / 'one'}: installed",
        f"{code / 'two'}: installed",
        "hooks in 2 of 2 repositories; 0 skipped",
    ]


def test_hooks_for_a_repository_that_is_not_there_say_so_in_one_line(tmp_path: Path) -> None:
    missing, file = tmp_path / "nowhere", tmp_path / "notes.txt"
    file.write_text("")
    for where, why in ((missing, "does not exist"), (file, "is not a folder")):
        done = tracker("hooks", "status", "--repo", str(where))
        assert (done.returncode, done.stdout) == (1, "")
        assert done.stderr == f"agent-tracker: error: {where} {why}\n"
