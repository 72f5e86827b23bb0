"""Helpers shared by the benchmark scripts (standard library only).

Every benchmark runs against a temporary home folder: `isolated_env` builds an environment
in which HOME, the agent-tracker settings and git's configuration all point inside it, and no
agent-tracker, harness or git variable is inherited from the machine running the benchmark.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
from pathlib import Path

_STRIP_PREFIXES = ("AGENT_TRACKER_", "GIT_")
_STRIP_NAMES = ("CLAUDECODE", "OPENCODE", "NO_COLOR")


def isolated_env(root: Path) -> dict[str, str]:
    """A copy of os.environ with HOME and every tracker/git setting inside `root`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_STRIP_PREFIXES) and name not in _STRIP_NAMES
    }
    home = root / "home"
    templates = root / "git-templates"
    home.mkdir(parents=True, exist_ok=True)
    templates.mkdir(parents=True, exist_ok=True)
    tracker = home / ".config" / "opencode"
    env.update(
        {
            "HOME": str(home),
            # Explicit, so that nothing depends on the defaults resolving under HOME.
            "AGENT_TRACKER_CONFIG": str(tracker / "agent-tracker.toml"),
            "AGENT_TRACKER_DATABASE_PATH": str(tracker / "agent-tracker.lmdb"),
            "AGENT_TRACKER_JOURNAL_DIR": str(tracker / "agent-tracker.journal"),
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TEMPLATE_DIR": str(templates),
            "GIT_AUTHOR_NAME": "Bench Person",
            "GIT_AUTHOR_EMAIL": "bench@example.invalid",
            "GIT_COMMITTER_NAME": "Bench Person",
            "GIT_COMMITTER_EMAIL": "bench@example.invalid",
        }
    )
    return env


def enter(env: dict[str, str]) -> None:
    """Make `env` this process's environment (for benchmarks that run the package in-process)."""
    os.environ.clear()
    os.environ.update(env)


def p90(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain left/right aligned text table (first column left, the rest right)."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        parts = [
            str(cell).ljust(widths[i]) if i == 0 else str(cell).rjust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def filesystem_of(path: Path) -> str:
    """The filesystem type holding `path` (from /proc/mounts), or 'unknown'."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "unknown"
    best, kind = "", "unknown"
    target = str(path.resolve())
    for entry in mounts:
        fields = entry.split()
        if len(fields) < 3:
            continue
        mount = fields[1]
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) > len(best):
            best, kind = mount, fields[2]
    return kind


def machine() -> str:
    """Python version, usable CPUs (as `nproc` counts them) and the kernel."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"python {platform.python_version()} ({sys.executable}), nproc {cpus}, "
        f"{platform.system()} {platform.release()}"
    )


SCRIPT_NAME = "agent-tracker"


class BenchError(Exception):
    """The benchmark cannot run (no console script, no database, a failing command) or found
    wrong results: exit status 2."""


def find_console_script() -> Path:
    """The installed `agent-tracker` console script of the Python running the benchmark."""
    script = Path(sys.executable).parent / SCRIPT_NAME
    if not script.is_file():
        raise BenchError(
            f"no `{SCRIPT_NAME}` console script next to {sys.executable}; run this benchmark "
            "with the Python of the environment where agent-tracker is installed, e.g. "
            f"`/path/to/venv/bin/python bench/{Path(sys.argv[0]).name}`, after `pip install .`"
        )
    return script
