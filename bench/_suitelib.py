"""Parts of bench/suite.py that do not measure anything themselves (standard library only).

The suite measures an agent-tracker installed in some virtual environment (`--python`)
through what a user runs: its console script, git with its hooks, and the files it keeps
(the journal's JSON lines, the LMDB folder). Nothing here imports agent_tracker: the
journal lines are written in their documented format (agent_tracker/events.py), so the
suite keeps working whatever the package's internals become.
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _benchlib import BenchError, filesystem_of

#: Longest any one child process may run before the suite gives up on it (seconds).
DEFAULT_TIMEOUT = 120.0

TOOLS = ("read", "edit", "bash", "grep", "glob", "write", "todowrite", "webfetch")
COMMANDS = ("pytest -q", "npm test", "cargo build", "make lint", "git status", "uv sync")
SETUPS = (
    ("opencode", "build", "anthropic/claude-sonnet-4-5"),
    ("opencode", "plan", "openai/gpt-5"),
    ("claude-code", "claude", "claude-opus-4-1"),
    ("codex", "default", "gpt-5-codex"),
    ("opencode", "reviewer", "google/gemini-2.5-pro"),
)


# -- processes ----------------------------------------------------------------------------


def run(
    command: list[str],
    *,
    env: dict[str, str],
    cwd: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    stdout: int = subprocess.DEVNULL,
) -> tuple[float, bytes]:
    """(wall milliseconds, stdout) of one run that must succeed; BenchError otherwise."""
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{' '.join(command[:4])} ... ran longer than {timeout:g} s") from exc
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip()[-2000:]
        raise BenchError(f"{' '.join(command[:6])} exited {done.returncode}: {err}")
    return elapsed, done.stdout or b""


def git(repo: Path, env: dict[str, str], *args: str) -> str:
    return run(["git", "-C", str(repo), *args], env=env, stdout=subprocess.PIPE)[1].decode()


def make_repo(path: Path, env: dict[str, str]) -> Path:
    """A git repository with one commit and an `origin` on GitHub (the project identity)."""
    path.mkdir(parents=True)
    git(path, env, "init", "-q", "-b", "main")
    git(path, env, "remote", "add", "origin", "git@github.com:bench/app.git")
    (path / "README.md").write_text("bench\n", encoding="utf-8")
    git(path, env, "add", "README.md")
    git(path, env, "commit", "-q", "-m", "Start")
    return path


def change(repo: Path, env: dict[str, str], text: str) -> None:
    """Stage a one-line change (what most commits look like to the post-commit hook)."""
    with (repo / "notes.py").open("a", encoding="utf-8") as handle:
        handle.write(f"# {text}\n")
    git(repo, env, "add", "notes.py")


RSS_LAUNCHER = """\
import os, sys
out, argv = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    try:
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
code = os.waitstatus_to_exitcode(status)
kib = usage.ru_maxrss // (1024 if sys.platform == "darwin" else 1)
with open(out, "w") as handle:
    handle.write(f"{kib} {code}")
sys.exit(code)
"""


def peak_rss_mib(
    launcher: Path, command: list[str], env: dict[str, str], cwd: Path, timeout: float
) -> float:
    """Peak RSS (MiB) of `command`, a child forked by a small launcher process.

    Not the child of this process: on Linux exec carries the high-water mark of the address
    space it replaces into ru_maxrss, and subprocess spawns with vfork, so a direct child's
    ru_maxrss is at least this (large) process's own peak. A fork of the small launcher
    starts from the launcher's few MiB instead (the suite prints that floor).
    """
    out = launcher.with_suffix(".out")
    out.unlink(missing_ok=True)
    run(
        [sys.executable, "-S", str(launcher), str(out), *command], env=env, cwd=cwd, timeout=timeout
    )
    kib, code = out.read_text().split()
    if code != "0":
        raise BenchError(f"{command[0]} exited {code} under the RSS launcher")
    return int(kib) / 1024


# -- journal lines, in the documented format of agent_tracker/events.py --------------------


def journal_lines(count: int, seed: int, project: str | None = None) -> list[bytes]:
    """`count` events: ~90% tool calls, ~8% commands, ~1.5% commits, ~0.5% grades of earlier
    commits, over 5 setups and 10 projects (or one `project`), in the last 30 days."""
    rng = random.Random(seed)
    projects = [project] if project else [f"github.com/acme/service-{i:02d}" for i in range(10)]
    commits: list[tuple[str, str]] = []
    now = time.time()
    start = now - 30 * 86400
    step = (now - 60 - start) / max(count, 1)
    lines = []
    for i in range(count):
        ts = start + i * step
        harness, agent, model = rng.choice(SETUPS)
        proj = rng.choice(projects)
        head = (
            f'{{"v":2,"id":"{rng.getrandbits(96):024x}","type":"%s","ts":{ts:.3f},'
            f'"harness":"{harness}","agent":"{agent}","model":"{model}","project":"%s"'
        )
        roll = rng.random()
        if roll < 0.005 and commits:
            proj, sha = rng.choice(commits)
            by = rng.choice(("agent", "user"))
            grade = rng.choice((-1, 1, 2, 5))
            tail = f',"hash":"{sha}","by":"{by}","grade":{grade}}}'
            kind = "grade"
        elif roll < 0.02:
            sha = f"{rng.getrandbits(160):040x}"
            commits.append((proj, sha))
            tail = (
                f',"source":"flag","hash":"{sha}","author_time":{int(ts)},'
                f'"subject":"Fix flaky retry in worker pool (#{i})","files":{rng.randint(1, 12)},'
                f'"insertions":{rng.randint(1, 400)},"deletions":{rng.randint(0, 200)},'
                '"exts":{".py":2}}'
            )
            kind = "commit"
        elif roll < 0.10:
            tail = f',"name":"{rng.choice(COMMANDS)}"}}'
            kind = "command"
        else:
            tail = f',"name":"{rng.choice(TOOLS)}"}}'
            kind = "tool"
        lines.append((head % (kind, proj) + tail + "\n").encode())
    return lines


def append_lines(journal_dir: Path, lines: list[bytes] | bytes) -> None:
    """Append whole lines to the live journal file, as capture commands would (O_APPEND)."""
    journal_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = lines if isinstance(lines, bytes) else b"".join(lines)
    fd = os.open(journal_dir / "live.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        # A leading newline: the live file need not end with one (appenders start lines so).
        os.write(fd, b"\n" + data)
    finally:
        os.close(fd)


def journal_holds(journal_dir: Path, needle: bytes) -> bool:
    """Whether a pending journal file (`*.jsonl` in the folder) contains `needle`."""
    try:
        paths = [path for path in journal_dir.iterdir() if path.name.endswith(".jsonl")]
    except FileNotFoundError:
        return False
    for path in paths:
        try:
            if needle in path.read_bytes():
                return True
        except FileNotFoundError:
            continue  # rotated or applied meanwhile
    return False


def journal_empty(journal_dir: Path) -> bool:
    """No pending journal file holds a line (cheap: sizes first)."""
    try:
        paths = [path for path in journal_dir.iterdir() if path.name.endswith(".jsonl")]
    except FileNotFoundError:
        return True
    for path in paths:
        try:
            if path.stat().st_size > 64 or path.read_bytes().strip(b" \t\r\n\x00"):
                return False
        except FileNotFoundError:
            continue  # applied meanwhile
    return True


def processes_carrying(marker: bytes) -> int:
    """How many live processes (but this one) have `marker` in their environment: the
    children of one suite run, detached ones included. 0 where /proc is missing."""
    count = 0
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]  # noqa: PTH208
    except OSError:
        return 0
    me = str(os.getpid())
    for pid in pids:
        if pid == me:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                if marker in handle.read():
                    count += 1
        except OSError:
            continue  # gone, or not ours to read
    return count


# -- the machine -----------------------------------------------------------------------------


def _first(path: str, prefix: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def device_of(path: Path) -> str:
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "unknown"
    best, device = "", "unknown"
    target = str(path.resolve())
    for entry in mounts:
        fields = entry.split()
        if (
            len(fields) >= 2
            and (target == fields[1] or target.startswith(fields[1].rstrip("/") + "/"))
            and len(fields[1]) > len(best)
        ):
            best, device = fields[1], f"{fields[0]} on {fields[1]}"
    return device


def fdatasync_us(folder: Path, rounds: int = 30) -> float:
    """Median microseconds of a 4 KiB write + fdatasync in `folder`."""
    path = folder / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    sync = getattr(os, "fdatasync", os.fsync)
    costs = []
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            os.pwrite(fd, os.urandom(4096), 0)
            sync(fd)
            costs.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(costs) * 1e6


PROBE = """\
import json, platform, sys
from importlib import metadata
import lmdb
info = {"python": platform.python_version(), "implementation": platform.python_implementation(),
        "py_lmdb": lmdb.__version__, "liblmdb": ".".join(map(str, lmdb.version()))}
dist = metadata.distribution("agent-tracker")
info["agent_tracker"] = dist.version
direct = dist.read_text("direct_url.json")
info["editable"] = bool(direct and json.loads(direct).get("dir_info", {}).get("editable"))
for name in ("typer", "rich", "orjson", "pydantic"):
    try:
        info[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        info[name] = None
print(json.dumps(info))
"""


def describe(python: str, env: dict[str, str], tmp: Path) -> list[str]:
    """Lines describing the machine, the measured environment and the temporary folder."""
    import json

    probe = json.loads(run([python, "-c", PROBE], env=env, stdout=subprocess.PIPE)[1])
    cpu = _first("/proc/cpuinfo", "model name") or platform.processor() or "unknown"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = _first("/proc/meminfo", "MemTotal")
    ram = f"{int(mem.split()[0]) / 1024**2:.1f} GiB" if mem else "unknown"
    git_version = run(["git", "--version"], env=env, stdout=subprocess.PIPE)[1].decode().strip()
    libs = ", ".join(
        f"{name} {probe[name]}" for name in ("typer", "rich", "orjson", "pydantic") if probe[name]
    )
    return [
        f"CPU: {cpu}; {os.cpu_count()} logical CPUs, {usable} usable; RAM {ram}",
        f"OS: {platform.platform()}; {git_version}",
        f"measured: {python} -> agent-tracker {probe['agent_tracker']} "
        f"({'editable' if probe['editable'] else 'regular'} install), "
        f"{probe['implementation']} {probe['python']}, py-lmdb {probe['py_lmdb']} "
        f"(LMDB {probe['liblmdb']}); {libs}",
        f"temp folder: {tmp} on {filesystem_of(tmp)} ({device_of(tmp)}), "
        f"fdatasync of 4 KiB {fdatasync_us(tmp):.0f} us (median)",
        f"suite run by: python {platform.python_version()} ({sys.executable})",
    ]


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"
