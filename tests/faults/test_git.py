"""Git under pressure: rebase, linked worktrees, core.hooksPath, the real pre-commit and husky.

Every case installs our hooks with `agent-tracker hooks install` (a real process), drives
real git, and then checks that each commit made is in the journal exactly once, that every
push went through, and after the pre-push flush that the database holds exactly those
commits. Issue 9, items 5, 6, 10 and 15; the unit tests are in tests/test_hookscripts.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hookwait import settle

from agent_tracker import config
from agent_tracker.journal import Journal
from agent_tracker.store import LMDBDatabase
from faults.conftest import Ledger, has_traceback, tracker

HOOKS = ("post-commit", "pre-push")
#: A git command that takes longer than this is held: fail instead of waiting forever.
DEADLINE = 60
#: Git commands whose hooks go on in the background: waited for (bounded) before the test
#: looks at the journal or the database.
BACKGROUND = frozenset({"commit", "push", "rebase", "cherry-pick", "am", "merge", "pull"})


class Git:
    """Runs git with a deadline and keeps what it printed, to count tracebacks."""

    def __init__(self) -> None:
        self.output = ""

    def __call__(
        self, repo: Path, *args: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=DEADLINE,
            check=False,
        )
        self.output += done.stdout + done.stderr
        if check:
            assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
        if args[0] in BACKGROUND:
            settle(repo)
        return done

    def commit(self, repo: Path, name: str) -> str:
        (repo / name).write_text(f"{name}\n")
        self(repo, "add", name)
        self(repo, "commit", "-q", "-m", f"add {name}")
        return self(repo, "rev-parse", "HEAD").stdout.strip()


@pytest.fixture
def run() -> Git:
    return Git()


def install(repo: Path, run: Git) -> subprocess.CompletedProcess[str]:
    done = tracker("hooks", "install", "--repo", str(repo))
    run.output += done.stdout + done.stderr
    return done


def journal_hashes(settings: config.Settings) -> Counter[str]:
    events = Journal(settings.journal_dir).pending_events()
    return Counter(str(e["hash"]) for e in events if e["type"] == "commit")


def database_commits(settings: config.Settings) -> Counter[str]:
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    if db is None:
        return Counter()
    with db:
        return Counter(key.rsplit(":", 1)[-1] for key, _ in db.scan("commit:"))


def check_once(
    ledger: Ledger, fault: str, expected: str, made: list[str], seen: Counter[str], run: Git
) -> None:
    """Record the case's figures, then require each commit made exactly once in `seen`."""
    lost = sum(1 for sha in made if seen[sha] == 0)
    duplicated = sum(count - 1 for count in seen.values() if count > 1)
    stray = sorted(set(seen) - set(made))
    tracebacks = int(has_traceback(run.output))
    ledger.record(
        fault,
        expected,
        checked=len(made),
        lost=lost,
        duplicated=duplicated,
        tracebacks=tracebacks,
    )
    assert (lost, duplicated, stray, tracebacks) == (0, 0, [], 0), run.output


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    return remote


@pytest.fixture
def repo(make_repo, origin: Path, run: Git) -> Path:  # type: ignore[no-untyped-def]
    path: Path = make_repo("repo", origin=str(origin))
    return path


# -- rebase ----------------------------------------------------------------------------------


@pytest.mark.parametrize("exec_", [False, True], ids=["rebase", "rebase-exec"])
def test_rebase_records_new_work_once_and_rewritten_commits_not_again_item5(
    exec_: bool, repo: Path, settings: config.Settings, ledger: Ledger, run: Git
) -> None:
    """Fault: post-commit during `git rebase` (with `--exec` making commits of its own).
    Expected: every original commit and every commit `--exec` makes, each exactly once; the
    picks the rebase rewrites are not counted again (that work was counted when first
    committed: `agent-tracker commit --help`)."""
    assert install(repo, run).returncode == 0
    made = [run.commit(repo, "base.txt")]
    run(repo, "checkout", "-q", "-b", "feature")
    made += [run.commit(repo, f"f{i}.txt") for i in range(3)]
    run(repo, "checkout", "-q", "main")
    made.append(run.commit(repo, "m.txt"))
    run(repo, "checkout", "-q", "feature")
    args = ["--exec", "git commit -q --allow-empty -m exec"] if exec_ else []
    run(repo, "rebase", "-q", *args, "main")
    log = run(repo, "log", "--format=%H %s", "main..feature").stdout.splitlines()
    made += [line.split()[0] for line in log if line.endswith(" exec")]
    rewritten = [line.split()[0] for line in log if not line.endswith(" exec")]
    assert (len(made), len(rewritten)) == (8 if exec_ else 5, 3)
    seen = journal_hashes(settings)
    check_once(
        ledger,
        f"post-commit during git rebase{' --exec' if exec_ else ''} (item 5)",
        "originals and --exec commits journalled exactly once, rewritten picks not again",
        made,
        seen,
        run,
    )
    done = run(repo, "push", "-q", "origin", "main", "feature")
    assert done.returncode == 0
    assert database_commits(settings) == Counter(made)


# -- linked worktrees ------------------------------------------------------------------------


def test_commits_in_linked_worktrees_are_recorded_once_and_any_push_flushes_them(
    repo: Path, tmp_path: Path, settings: config.Settings, ledger: Ledger, run: Git
) -> None:
    """Fault: hooks installed from a linked worktree, commits in three work trees at once.
    Expected: one set of hooks (in the common git folder), each commit once, pushes pass."""
    run.commit(repo, "base.txt")  # before the hooks: not recorded, not expected
    made: list[str] = []
    trees = [tmp_path / "work" / f"tree{i}" for i in range(2)]
    for i, tree in enumerate(trees):
        run(repo, "worktree", "add", "-q", "-b", f"b{i}", str(tree))
    assert install(trees[0], run).returncode == 0
    assert sorted(p.name for p in (repo / ".git" / "hooks").iterdir()) == [
        "post-commit",
        "pre-push",
    ]
    for round_ in range(2):
        for where in (repo, *trees):
            made.append(run.commit(where, f"{where.name}-{round_}.txt"))
    check_once(
        ledger,
        "commits in a main and two linked worktrees (items 5, 6)",
        "each commit journalled once, whatever work tree made it",
        made,
        journal_hashes(settings),
        run,
    )
    run(trees[1], "push", "-q", "origin", "b1", "b0", "main")
    assert database_commits(settings) == Counter(made)


# -- core.hooksPath --------------------------------------------------------------------------


def test_a_shared_core_hooks_path_folder_serves_two_repositories(
    make_repo, tmp_path: Path, settings: config.Settings, ledger: Ledger, run: Git
) -> None:  # type: ignore[no-untyped-def]
    """Fault: `core.hooksPath` in the global config, one folder for every repository,
    outside any work tree. Expected: installed once, commits of both recorded once."""
    shared = tmp_path / "shared-hooks"
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text(f"[core]\n\thooksPath = {shared}\n")
    env = {**os.environ, "GIT_CONFIG_GLOBAL": str(gitconfig)}
    repos = [make_repo(f"r{i}", origin=str(tmp_path / f"r{i}.git")) for i in range(2)]
    for i in range(2):
        subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / f"r{i}.git")], check=True)
    done = tracker("hooks", "install", "--repo", str(repos[0]), env=env)
    assert done.returncode == 0, done.stderr
    again = tracker("hooks", "install", "--repo", str(repos[1]), env=env)
    assert again.stdout.splitlines() == [
        "post-commit: already installed",
        "pre-push: already installed",
    ]
    made = []
    for r in repos * 2:
        (r / f"{len(made)}.txt").write_text("x\n")
        run(r, "add", "-A", env=env)
        run(r, "commit", "-q", "-m", "x", env=env)
        made.append(run(r, "rev-parse", "HEAD").stdout.strip())
    check_once(
        ledger,
        "core.hooksPath folder shared by two repositories (item 6)",
        "each commit of both repositories journalled once",
        made,
        journal_hashes(settings),
        run,
    )
    for r in repos:
        run(r, "push", "-q", "origin", "main", env=env)
    assert database_commits(settings) == Counter(made)


# -- the real pre-commit ---------------------------------------------------------------------

PRE_COMMIT_CONFIG = """repos:
-   repo: local
    hooks:
    -   id: note-commit
        name: note commit
        entry: sh -c 'echo commit >> "{log}"'
        language: system
        stages: [post-commit]
        always_run: true
        pass_filenames: false
    -   id: note-push
        name: note push
        entry: sh -c 'echo push >> "{log}"'
        language: system
        stages: [pre-push]
        always_run: true
        pass_filenames: false
"""


def pre_commit(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("git") is None:  # pragma: no cover - git is everywhere here
        pytest.skip("git is missing")
    try:
        import pre_commit  # noqa: F401  (installed by the dev extra)
    except ImportError:  # pragma: no cover
        pytest.skip("pre-commit is not installed (pip install -e '.[dev]')")
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )


@pytest.mark.parametrize("order", ["ours-first", "pre-commit-first"])
def test_real_pre_commit_and_our_hooks_never_start_each_other_item5(
    order: str, repo: Path, tmp_path: Path, settings: config.Settings, ledger: Ledger, run: Git
) -> None:
    """Fault: the real pre-commit wraps our hooks in its migration mode (ours becomes
    `<hook>.legacy`) and `hooks install` runs again (the issue's loop), or pre-commit was
    there first. Expected: pushes pass within the deadline, pre-commit's hooks and ours
    both run, each commit recorded once."""
    log = tmp_path / "pre-commit-ran"
    (repo / ".pre-commit-config.yaml").write_text(PRE_COMMIT_CONFIG.format(log=log))
    run(repo, "add", ".pre-commit-config.yaml")
    run(repo, "commit", "-q", "-m", "pre-commit config")
    steps = ["ours", "pre-commit", "ours"] if order == "ours-first" else ["pre-commit", "ours"]
    for step in steps:
        if step == "ours":
            done = install(repo, run)
        else:
            done = pre_commit(repo, "install", "-t", "post-commit", "-t", "pre-push")
        assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in (repo / ".git" / "hooks").iterdir()) == [
        "post-commit",
        "post-commit.legacy",
        "pre-push",
        "pre-push.legacy",
    ]
    status = tracker("hooks", "status", "--repo", str(repo))
    assert status.stdout.count("runs via pre-commit's migration mode as") == 2, status.stdout
    made = [run.commit(repo, f"{i}.txt") for i in range(3)]
    check_once(
        ledger,
        f"real pre-commit wraps our hooks, {order} (item 5)",
        "no loop; pushes pass; pre-commit's hooks run; each commit once",
        made,
        journal_hashes(settings),
        run,
    )
    done = run(repo, "push", "-q", "origin", "main")
    assert done.returncode == 0
    assert log.read_text().split() == ["commit"] * 3 + ["push"]
    assert Counter(made) <= database_commits(settings)
    assert database_commits(settings)[made[0]] == 1
    # Running pre-commit's installer once more changes nothing and still no loop.
    assert pre_commit(repo, "install", "-t", "pre-push").returncode == 0
    assert run(repo, "push", "-q", "origin", "main").returncode == 0


# -- the real husky --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def husky_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """husky from the npm registry in a temporary folder, or a skip that says why."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("husky: Node.js/npm are not installed")
    folder = tmp_path_factory.mktemp("husky")
    try:
        done = subprocess.run(
            [npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", "husky@9"],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            env={**os.environ, "npm_config_update_notifier": "false"},
        )
    except subprocess.TimeoutExpired:
        pytest.skip("husky: npm install took longer than 180 s")
    script = folder / "node_modules" / "husky" / "bin.js"
    if done.returncode != 0 or not script.is_file():
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"husky: npm install failed: {reason}")
    return script


def test_real_husky_folder_is_refused_and_the_repository_stays_untouched_item6(
    repo: Path, husky_bin: Path, tmp_path: Path, settings: config.Settings, ledger: Ledger, run: Git
) -> None:
    """Fault: husky points core.hooksPath at `.husky/_` in the work tree. Expected: install
    refuses in one line with advice, writes nothing, `git status` stays clean, `git commit
    -a` commits nothing of ours, husky's own hook still runs and the push passes."""
    log = tmp_path / "husky-ran"
    done = subprocess.run(
        ["node", str(husky_bin)], cwd=repo, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert run(repo, "config", "core.hooksPath").stdout.strip() == ".husky/_"
    (repo / ".husky" / "pre-push").write_text(f'echo push >> "{log}"\n')
    run(repo, "add", ".husky")
    run(repo, "commit", "-q", "-m", "husky")
    before = {p: p.read_bytes() for p in (repo / ".husky").rglob("*") if p.is_file()}
    clean = run(repo, "status", "--porcelain", "--untracked-files=all").stdout

    done = install(repo, run)
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith("agent-tracker: error: core.hooksPath is .husky/_, husky's folder")
    assert not has_traceback(done.stderr)
    after = {p: p.read_bytes() for p in (repo / ".husky").rglob("*") if p.is_file()}
    assert after == before
    assert run(repo, "status", "--porcelain", "--untracked-files=all").stdout == clean

    (repo / "a.txt").write_text("a\n")
    run(repo, "add", "a.txt")
    run(repo, "commit", "-q", "-a", "-m", "a")
    assert run(repo, "show", "--name-only", "--format=", "HEAD").stdout.split() == ["a.txt"]
    assert run(repo, "push", "-q", "origin", "main").returncode == 0
    assert log.read_text().split() == ["push"]
    ledger.record(
        "hooks install into husky's .husky/_ in the work tree (item 6)",
        "refused with advice; no file written; status clean; commit -a and push unaffected",
        checked=len(before),
        lost=sum(1 for p in before if after.get(p) != before[p]),
        tracebacks=int(has_traceback(run.output)),
    )
    assert journal_hashes(settings) == Counter()  # nothing of ours ran: nothing half-recorded
