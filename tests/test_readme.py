"""Every ```sh block of README.md, run verbatim by bash in a throw-away HOME.

A block is looked up in `BLOCKS` by its first line (blanks squeezed). The entry says what
the test prepares first (`Runs.prepare`: a copy of the checkout, agent-tracker on PATH, a
repository at ~/code/myapp with a bare remote, some history, ...), what the block's output
must contain, and how long it may take; or why the block cannot run here (`CannotRun`),
which names it in the test report as skipped. A block without an entry fails, saying so:
add a line to `BLOCKS` (reusing the preparations below) when you add a block to the README.

The world each block starts from is a person's first day: HOME in a temporary folder with a
`~/.gitconfig` that has their name and nothing else, no system git config, no agent-tracker
or harness variables, and agent-tracker not on PATH (the test's own virtual environment is
taken off it) unless a preparation puts it there. The block runs with `bash -e -o pipefail`:
any command that fails fails the test, with the block's output.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hookwait import settle

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
#: The console scripts of the environment that runs the tests (agent-tracker among them).
VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Block:
    line: int  # where it starts in README.md (the ```sh line)
    text: str

    @property
    def key(self) -> str:
        return key(self.text.splitlines()[0])


def key(first_line: str) -> str:
    return " ".join(first_line.split())


def readme_blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    return [
        Block(text.count("\n", 0, found.start()) + 1, found[1])
        for found in re.finditer(r"(?ms)^```sh\n(.*?)^```$", text)
    ]


# -- the world a block runs in ---------------------------------------------------------------


@dataclass
class World:
    tmp: Path
    home: Path
    cwd: Path
    env: dict[str, str]

    @property
    def myapp(self) -> Path:
        return self.home / "code" / "myapp"


Prepare = Callable[[World], None]


def first_day(base: Path) -> World:
    tmp = base / "readme"  # conftest's HOME is base/home: a folder of our own beside it
    home = tmp / "home"
    home.mkdir(parents=True)
    (tmp / "tmp").mkdir()
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test Person\n\temail = test@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n"
    )
    dropped = ("GIT_", "AGENT_TRACKER_", "CLAUDE", "CODEX_", "OPENCODE", "PYTHON", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    path = [d for d in env.get("PATH", "").split(os.pathsep) if d and not _has_tracker(d)]
    env.update(
        HOME=str(home),
        PATH=os.pathsep.join(path),
        TMPDIR=str(tmp / "tmp"),
        GIT_CONFIG_NOSYSTEM="1",
        COLUMNS="100",
    )
    env.pop("NO_COLOR", None)
    return World(tmp, home, tmp, env)


def _has_tracker(folder: str) -> bool:
    return (Path(folder) / "agent-tracker").exists()


def run_in(world: World, script: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """`script` by bash in `world`; the whole process group is ended at `timeout`."""
    file = world.tmp / "block.sh"
    file.write_text(script)
    with subprocess.Popen(
        ["bash", "-e", "-o", "pipefail", str(file)],
        cwd=world.cwd,
        env=world.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            pytest.fail(f"the block ran longer than {timeout} s:\n{out}\n{err}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def git(world: World, *args: str, cwd: Path | None = None) -> None:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd or world.cwd,
        env=world.env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"


# -- preparations: each one thing a block takes for granted ----------------------------------


def checkout(world: World) -> None:
    """A copy of this checkout (what git would commit: tracked and new files), entered."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "-co", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    copy = world.tmp / "agent-tracker"
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    world.cwd = copy


def quick_start(world: World) -> None:
    """The README's Quick start done, in its folder: agent-tracker is in `.venv/bin` there,
    and not on PATH."""
    checkout(world)
    [block] = [b for b in readme_blocks() if b.key == QUICK_START]
    done = run_in(world, block.text, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not shutil.which("agent-tracker", path=world.env["PATH"])


def tracker_on_path(world: World) -> None:
    """agent-tracker installed (the test's own) and on PATH, as pipx would leave it."""
    world.env["PATH"] = f"{VENV_BIN}{os.pathsep}{world.env['PATH']}"


def myapp(world: World) -> None:
    """~/code/myapp: a clone of a bare remote (so `git push` has somewhere to go) with one
    commit pushed and a change staged for the next commit."""
    remote = world.tmp / "remotes" / "myapp.git"
    git(world, "init", "-q", "--bare", str(remote))
    git(world, "clone", "-q", str(remote), str(world.myapp))
    (world.myapp / "app.py").write_text("print('hello')\n")
    git(world, "add", "app.py", cwd=world.myapp)
    git(world, "commit", "-q", "-m", "First", cwd=world.myapp)
    git(world, "push", "-q", "origin", "main", cwd=world.myapp)
    stage_a_change(world)


def stage_a_change(world: World) -> None:
    login = world.myapp / "login.py"
    login.write_text(login.read_text() + "# more\n" if login.exists() else "def login(): ...\n")
    git(world, "add", "login.py", cwd=world.myapp)


def another_repo(world: World) -> None:
    git(world, "init", "-q", str(world.home / "code" / "tools" / "scripts"))


def in_myapp(world: World) -> None:
    world.cwd = world.myapp


def history(world: World) -> None:
    """Some recorded work: the README's "In your own repositories" block, run in myapp with
    agent-tracker already on PATH, then another change staged."""
    [block] = [b for b in readme_blocks() if b.key == OWN_REPOSITORIES]
    done = run_in(world, block.text, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    settle(world.myapp)
    stage_a_change(world)


def old_database(world: World) -> None:
    """~/old/db.lmdb: another agent-tracker database with a setup's tool calls in it."""
    env = {
        **world.env,
        "AGENT_TRACKER_DATABASE_PATH": str(world.home / "old" / "db.lmdb"),
        "AGENT_TRACKER_JOURNAL_DIR": str(world.home / "old" / "journal"),
    }
    script = "agent-tracker track tool edit --agent old --model m\nagent-tracker flush\n"
    done = run_in(World(world.tmp, world.home, world.cwd, env), script, timeout=60)
    assert done.returncode == 0, done.stderr


def desktop_export(world: World) -> None:
    """desktop.jsonl in the current folder: an export made on another machine."""
    other = first_day(world.tmp / "desktop")
    tracker_on_path(other)
    script = (
        "agent-tracker track tool edit --agent desk --model m\nagent-tracker flush\n"
        f"agent-tracker export > {world.cwd / 'desktop.jsonl'}\n"
    )
    done = run_in(other, script, timeout=60)
    assert done.returncode == 0, done.stderr


def some_tests_only(world: World) -> None:
    """pytest (run by the block) collects one fast test, not the whole suite with this file
    in it: the install and the test run are what the block shows."""
    world.env["PYTEST_ADDOPTS"] = (
        "-q -p no:cacheprovider --no-cov tests/test_cli.py -k test_version_and_help"
    )


# -- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Runs:
    prepare: tuple[Prepare, ...] = ()
    expect: tuple[str, ...] = ()  # in the block's standard output
    needs: tuple[str, ...] = ()  # programs this machine may lack: skipped, naming them
    timeout: float = 60


@dataclass(frozen=True)
class CannotRun:
    reason: str


QUICK_START = key("# make a virtual environment, install agent-tracker into it, run the demo")
OWN_REPOSITORIES = key(
    'export PATH="$PWD/.venv/bin:$PATH" # in the clone, after the Quick start: agent-tracker '
    "on PATH"
)
ALL_AT_ONCE = key(
    "agent-tracker hooks install --all ~/code # every repository under ~/code (3 folders down)"
)

BLOCKS: dict[str, Runs | CannotRun] = {
    key("pipx install . # or: pip install . / uv tool install ."): Runs(
        (checkout,), needs=("pipx",), timeout=300
    ),
    QUICK_START: Runs((checkout,), expect=("Which setup should I use next?",), timeout=300),
    key(
        "# make a virtual environment, install agent-tracker editable with its test tools, "
        "run tests"
    ): Runs((checkout, some_tests_only), expect=("1 passed",), timeout=300),
    OWN_REPOSITORIES: Runs(
        (quick_start, myapp),
        # The commit reached the report: recorded by the hook, though nothing is activated.
        expect=("1 graded by you", "anthropic/claude-sonnet-4-5"),
        timeout=120,
    ),
    key(
        "agent-tracker hooks install --all ~/code # every repository under ~/code (3 folders down)"
    ): (
        Runs(
            (tracker_on_path, myapp, another_repo, in_myapp),
            expect=("hooks in 2 of 2 repositories; 0 skipped", "post-commit: installed"),
        )
    ),
    key("agent-tracker integrate codex --print # show what would be written, write nothing"): Runs(
        (tracker_on_path,)
    ),
    key("agent-tracker integrate claude-code # hooks in ~/.claude/settings.json"): Runs(
        (tracker_on_path,)
    ),
    key("agent-tracker integrate codex # hooks in ~/.codex/hooks.json"): Runs((tracker_on_path,)),
    key("agent-tracker integrate opencode # a plugin in ~/.config/opencode/plugins/"): Runs(
        (tracker_on_path,)
    ),
    key('agent-tracker status # "last claude-code: ... main@anthropic/..."'): Runs(
        (tracker_on_path,), expect=("pending events",)
    ),
    key("agent-tracker report # ranked setups, with a recommendation"): Runs(
        (tracker_on_path, myapp, history, in_myapp),
        expect=("anthropic/claude-sonnet-4-5",),
        timeout=120,
    ),
    key("agent-tracker doctor # what needs you, each with its fix; exit 1 if anything does"): Runs(
        (tracker_on_path, myapp, history, in_myapp),
        expect=("All is well.", '"healthy": true', "flushed  commit", "nothing pending"),
        timeout=120,
    ),
    key(
        "agent-tracker report --format html > report.html # one page with charts; open it in a "
        "browser"
    ): Runs((tracker_on_path, myapp, history, in_myapp), timeout=120),
    key(
        "agent-tracker --install-completion # completion for your shell (bash, zsh, fish); "
        "restart it"
    ): Runs((tracker_on_path,), expect=("completion installed",)),
    key("agent-tracker migrate # the per-project database here, if any"): Runs(
        (tracker_on_path, old_database)
    ),
    key("mkdir /tmp/legacy && cd /tmp/legacy && npm install lmdb # the plugin's own reader"): (
        CannotRun(
            "needs npm and the network (npm install lmdb) and a database written by the "
            "TypeScript plugin, and writes to /tmp/legacy outside the throw-away folders; "
            "tests/test_exchange.py runs the same export script when the npm lmdb package "
            "is at hand"
        )
    ),
    key("agent-tracker export > laptop.jsonl # also --since, --until, --project"): Runs(
        (tracker_on_path, desktop_export)
    ),
    key(
        'agent-tracker config set team_member "Ada Lovelace" # the name teammates see (default: '
        "git's user.name)"
    ): Runs(
        (tracker_on_path,),
        expect=("team_member = Ada Lovelace", "share_project_names = false"),
    ),
    key("python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/pytest"): (
        CannotRun(
            "runs the whole test suite (this test included) and then benchmarks that take "
            "minutes; its install-and-test line is the Quick start's second block, run above, "
            "and `.ci/run` runs the rest"
        )
    ),
}


# -- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("block", readme_blocks(), ids=lambda b: f"line{b.line}")
def test_the_readme_block_runs_verbatim(block: Block, tmp_path: Path) -> None:
    entry = BLOCKS.get(block.key)
    if entry is None:
        pytest.fail(
            f"README.md line {block.line}: no entry in tests/test_readme.py BLOCKS for the block "
            f"starting {block.key!r}: add one (what it needs first, or why it cannot run)"
        )
    if isinstance(entry, CannotRun):
        pytest.skip(f"README.md line {block.line} cannot run here: {entry.reason}")
    world = first_day(tmp_path)
    missing = [p for p in entry.needs if not shutil.which(p, path=world.env["PATH"])]
    if missing:
        pytest.skip(f"README.md line {block.line} needs {', '.join(missing)}, not installed here")
    for prepare in entry.prepare:
        prepare(world)
    done = run_in(world, block.text, entry.timeout)
    shown = f"README.md line {block.line}:\n{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, shown
    for text in entry.expect:
        assert text in done.stdout, shown
    if world.myapp.exists():
        settle(world.myapp)  # no hook left working in a folder about to be removed


def test_every_entry_of_the_table_names_a_block_of_the_readme() -> None:
    keys = {b.key for b in readme_blocks()}
    assert [k for k in BLOCKS if k not in keys] == []


def test_the_own_repositories_block_needs_no_tracker_on_path(tmp_path: Path) -> None:
    """What the issue found: after the Quick start, agent-tracker is not on PATH; the block
    works only because its first line puts it there."""
    world = first_day(tmp_path)
    quick_start(world)
    myapp(world)
    [block] = [b for b in readme_blocks() if b.key == OWN_REPOSITORIES]
    without_first_line = block.text.split("\n", 1)[1]
    done = run_in(world, without_first_line, timeout=60)
    assert done.returncode == 127  # bash: agent-tracker: command not found
    assert "agent-tracker: command not found" in done.stderr
