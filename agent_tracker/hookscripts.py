"""Installing our git hooks: `post-commit` (runs `commit`) and `pre-push` (runs `flush`).

Invariants:
- The hooks folder is the one git uses (`git rev-parse --git-path hooks`), so
  `core.hooksPath` and linked worktrees are honoured.
- Our scripts carry `MARKER`; a file without it is foreign. A foreign hook is never deleted:
  install moves it to `<hook>.pre-agent-tracker`, our script runs it first with the same
  arguments and input and keeps its exit status; uninstall moves it back.
- Installing twice changes nothing; uninstall removes only our scripts.
- The scripts ship in the package (`agent_tracker/hooks` in the wheel; the top-level
  `hooks/` folder in a checkout). Installing bakes in the Python that runs agent-tracker, so
  the hooks work even when the tool is not on PATH inside git.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from agent_tracker import gitinfo
from agent_tracker.errors import GitError, TrackerError

HOOKS = ("post-commit", "pre-push")
MARKER = "agent-tracker-hook v1"
LEGACY_SUFFIX = ".pre-agent-tracker"
PYTHON_PLACEHOLDER = "@AGENT_TRACKER_PYTHON@"


@dataclass(frozen=True)
class HookState:
    name: str
    path: Path
    state: str  # "installed", "missing", "foreign", "outdated"
    chained: bool


def template(name: str) -> str:
    """The text of one hook script as shipped."""
    packaged = resources.files("agent_tracker").joinpath("hooks", name)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    checkout = Path(__file__).resolve().parent.parent / "hooks" / name
    try:
        return checkout.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TrackerError(f"hook script {name!r} is missing from this installation") from None


def render(name: str, python: str | None = None) -> str:
    # The template quotes the path in '...'; a quote inside it must not end the string.
    quoted = (python or sys.executable).replace("'", "'\\''")
    return template(name).replace(PYTHON_PLACEHOLDER, quoted)


def hooks_dir(repo: Path) -> Path:
    """The folder git runs this repository's hooks from."""
    args = ("rev-parse", "--path-format=absolute", "--git-path", "hooks")
    try:
        found = gitinfo.output(str(repo), *args, honour_env=False)
    except GitError as exc:
        if "not installed" in str(exc):
            raise
        raise GitError(f"{repo} is not a git repository") from None
    return Path(found.strip())


def _is_ours(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(512)
    except (FileNotFoundError, IsADirectoryError):
        return False
    return MARKER in head


def _write_executable(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.agent-tracker.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o755)
    os.replace(tmp, path)


def status(repo: Path) -> list[HookState]:
    directory = hooks_dir(repo)
    states = []
    for name in HOOKS:
        path = directory / name
        chained = (directory / f"{name}{LEGACY_SUFFIX}").exists()
        if not path.exists():
            state = "missing"
        elif not _is_ours(path):
            state = "foreign"
        elif path.read_text(encoding="utf-8") != render(name):
            state = "outdated"
        else:
            state = "installed"
        states.append(HookState(name, path, state, chained))
    return states


def install(repo: Path) -> list[tuple[str, str]]:
    """Install both hooks; returns (hook, what happened) pairs."""
    directory = hooks_dir(repo)
    gitinfo.pin(gitinfo.find_project(str(repo), honour_env=False), str(repo), honour_env=False)
    directory.mkdir(parents=True, exist_ok=True)
    done = []
    for name in HOOKS:
        path = directory / name
        legacy = directory / f"{name}{LEGACY_SUFFIX}"
        wanted = render(name)
        if path.exists() and not _is_ours(path):
            if legacy.exists():
                raise TrackerError(
                    f"{path} is not ours and {legacy.name} already exists; move one of them "
                    "away by hand, then install again"
                )
            os.replace(path, legacy)
            _write_executable(path, wanted)
            done.append((name, f"installed; existing hook kept as {legacy.name}"))
        elif path.exists() and path.read_text(encoding="utf-8") == wanted:
            done.append((name, "already installed"))
        else:
            _write_executable(path, wanted)
            done.append((name, "installed"))
    return done


def uninstall(repo: Path) -> list[tuple[str, str]]:
    """Remove our hooks and put back any hook we had kept."""
    directory = hooks_dir(repo)
    done = []
    for name in HOOKS:
        path = directory / name
        legacy = directory / f"{name}{LEGACY_SUFFIX}"
        if not _is_ours(path):
            done.append((name, "not ours, left alone" if path.exists() else "not installed"))
            continue
        path.unlink()
        if legacy.exists():
            os.replace(legacy, path)
            done.append((name, "removed; earlier hook restored"))
        else:
            done.append((name, "removed"))
    return done
