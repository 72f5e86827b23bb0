"""Test isolation and real-world helpers.

Every test runs with HOME in a temporary folder, git configured only by the test (no global
or system config, no templates), pinned author and committer, and no agent-tracker or
harness variables inherited from the machine that runs the tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent_tracker import config, events
from agent_tracker.entry import main

_STRIP_PREFIXES = ("AGENT_TRACKER_", "GIT_", "CLAUDE_CODE_", "CODEX_", "OPENCODE_")
_STRIP_NAMES = ("CLAUDECODE", "OPENCODE", "NO_COLOR")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    templates = tmp_path / "git-templates"
    templates.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    for name in list(os.environ):
        if name.startswith(_STRIP_PREFIXES) or name in _STRIP_NAMES:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    # Session-end hooks flush in the background; tests that read the live journal after
    # such a hook must not race that flush. The test of the flush itself turns it back on.
    monkeypatch.setenv("AGENT_TRACKER_AUTO_FLUSH", "0")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_TEMPLATE_DIR", str(templates))
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test Person")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.invalid")
    monkeypatch.chdir(work)
    yield home
    assert not (work / "~").exists(), "a literal '~' folder was created in the working folder"


@pytest.fixture
def home(isolated_home: Path) -> Path:
    return isolated_home


@pytest.fixture
def settings() -> config.Settings:
    return config.load()


def git(repo: Path, *args: str, stdin: str | None = None, check: bool = True) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


def commit_file(repo: Path, name: str, text: str, message: str) -> str:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """A new git repository under the test's folder, with `origin` when given."""

    def make(name: str = "repo", origin: str | None = None) -> Path:
        repo = tmp_path / "work" / name
        repo.mkdir(parents=True)
        git(repo, "init", "-q", "-b", "main")
        if origin:
            git(repo, "remote", "add", "origin", origin)
        return repo

    return make


@pytest.fixture
def bare_remote(tmp_path: Path) -> Path:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    return remote


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run agent-tracker in this process, as the console script would."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def run_tracker(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """Run agent-tracker as a separate process (`python -m agent_tracker`)."""
    return subprocess.run(
        [sys.executable, "-m", "agent_tracker", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def commit_event(
    setup: tuple[str, str, str], project: str, sha: str, **fields: object
) -> dict[str, object]:
    """A `commit` journal event with plausible defaults for the fields tests do not vary."""
    values: dict[str, object] = {
        "hash": sha,
        "subject": "s",
        "author_time": 1,
        "files": 1,
        "insertions": 1,
        "deletions": 0,
        "exts": {},
        "source": "flag",
    }
    values.update(fields)
    return events.make("commit", setup, project, **values)


def db_entries(settings: config.Settings) -> dict[bytes, bytes]:
    """Every key and value of the central database, read-only, as text keys and JSON
    values whatever the on-disk format (see tests/rawdb.py)."""
    import rawdb

    return rawdb.db_entries(settings)


def setup_totals(settings: config.Settings, setup: tuple[str, str, str]) -> dict[str, Any]:
    """The stored totals record of one setup (harness, agent, model); it must exist."""
    from agent_tracker.store import LMDBDatabase

    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    assert db is not None
    with db:
        record = db.get_agent(events.setup_id(*setup))
    assert record is not None
    return record
