"""The benchmark suite of issue 10: every figure of its table against a baseline of the same run.

    python bench/suite.py --python /path/to/venv/bin/python          # full sizes, ~10 min
    python bench/suite.py --python /path/to/venv/bin/python --smoke  # tiny sizes, ~30 s

Each row times an agent-tracker command (or git with our hooks) and its baseline
interleaved (A B, then B A, ...) after warm-ups, and reports the median of each and their
difference or ratio, with the target and whether it is met. It measures the agent-tracker
installed in the environment of `--python` (default: the Python running the suite) through
its console script, git and the files it keeps; nothing here imports agent_tracker, so the
suite can measure any version. HOME, every AGENT_TRACKER_* setting and git's configuration
point into a temporary folder, deleted afterwards (`--keep` keeps it).

Exit status: 0 when every target is met (always in --smoke, which enforces none), 1 when
one is missed, 2 when a row could not be measured (its line says why).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from _benchlib import SCRIPT_NAME, BenchError, isolated_env
from _suitelib import (
    RSS_LAUNCHER,
    append_lines,
    change,
    describe,
    git,
    journal_empty,
    journal_holds,
    journal_lines,
    loadavg,
    make_repo,
    peak_rss_mib,
    processes_carrying,
    run,
)

HERE = Path(__file__).resolve().parent
#: Set in the environment of everything the suite starts, to find detached children.
TOKEN = "BENCH_SUITE_RUN"


@dataclass(frozen=True)
class Sizes:
    capture_runs: int  # interleaved runs of track tool / commit / grade / empty script
    capture_pending: int  # events already pending when they run
    commits: int  # git commits with and without hooks
    pushes: int  # git pushes with and without hooks
    push_pending: int  # events pending before each push
    flush_events: int
    flush_runs: int
    rss_events: int
    rss_runs: int
    year_scale: float  # gen_history.py --scale
    report_runs: int
    warmups: int


FULL = Sizes(
    capture_runs=30,
    capture_pending=2000,
    commits=21,
    pushes=9,
    push_pending=5000,
    flush_events=100_000,
    flush_runs=5,
    rss_events=1_000_000,
    rss_runs=3,
    year_scale=1.0,
    report_runs=11,
    warmups=2,
)
SMOKE = Sizes(
    capture_runs=1,
    capture_pending=20,
    commits=1,
    pushes=1,
    push_pending=50,
    flush_events=500,
    flush_runs=1,
    rss_events=1000,
    rss_runs=1,
    year_scale=0.001,
    report_runs=1,
    warmups=1,
)

ROWS = (
    "commit-hooks",
    "push-hooks",
    "track",
    "commit",
    "grade",
    "flush-rss",
    "flush-speed",
    "year-size",
    "report",
)


@dataclass
class Row:
    key: str
    figure: str
    kind: str  # "delta" (ms over the baseline), "ratio" (x the baseline) or "mib" (absolute)
    target: float
    measured: float | None = None  # median of the command (ms, or MiB)
    baseline: float | None = None  # median of its baseline (ms, or MiB)
    value: float | None = None  # what the target applies to
    spread: str = ""
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def met(self) -> bool | None:
        return None if self.value is None else self.value <= self.target


def quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 4:
        return min(values), max(values)
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


class Suite:
    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        self.args = args
        self.sizes: Sizes = SMOKE if args.smoke else FULL
        self.python = args.python
        self.script = str(Path(args.python).parent / SCRIPT_NAME)
        self.root = root
        self.pycache = root / "pycache"
        self.year_db: Path | None = None
        self.token = os.urandom(8).hex()

    # -- helpers -----------------------------------------------------------------------------

    def env(self, name: str) -> dict[str, str]:
        """A fresh home for one row. Bytecode is cached in a temporary prefix, filled by the
        warm-ups, as a pip-installed wheel ships its modules compiled (an editable install
        under PYTHONDONTWRITEBYTECODE would compile on every run)."""
        env = isolated_env(self.root / name)
        env[TOKEN] = self.token
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(self.pycache)
        return env

    def tracker(self, *args: str) -> list[str]:
        return [self.script, *args]

    def status(self, env: dict[str, str]) -> dict[str, int]:
        out = run(self.tracker("status", "--format", "json"), env=env, stdout=subprocess.PIPE)[1]
        data: dict[str, int] = json.loads(out)
        return data

    def check_flushed(self, env: dict[str, str], what: str) -> None:
        state = self.status(env)
        if state.get("pending_events") or state.get("quarantined_lines"):
            raise BenchError(
                f"{what}: {state.get('pending_events')} events still pending, "
                f"{state.get('quarantined_lines')} lines quarantined"
            )

    def wait_flushed(self, env: dict[str, str], journal: Path, started: float) -> float:
        """Milliseconds from `started` until no event is pending: the journal files hold no
        line (cheap to poll), then `status` agrees (it has the last word, whatever the files
        look like); quarantined lines are an error."""
        self.wait_until(lambda: journal_empty(journal), 120, "the flush")
        done = (time.perf_counter() - started) * 1000
        deadline = time.monotonic() + 120
        while True:
            state = self.status(env)
            if state.get("quarantined_lines"):
                raise BenchError(f"the flush quarantined {state['quarantined_lines']} lines")
            if not state.get("pending_events"):
                return done
            if time.monotonic() > deadline:
                raise BenchError(f"{state['pending_events']} events still pending after 120 s")
            time.sleep(0.05)
            done = (time.perf_counter() - started) * 1000

    def wait_quiet(self, bound: float = 30) -> None:
        """Until no process the suite started is left (a detached hook, its watchdog), so
        that no background work overlaps the next measurement."""
        marker = f"{TOKEN}={self.token}".encode()
        self.wait_until(lambda: processes_carrying(marker) == 0, bound, "the end of hook work")

    def wait_until(self, done: Callable[[], bool], bound: float, what: str) -> None:
        deadline = time.monotonic() + bound
        while not done():
            if time.monotonic() > deadline:
                raise BenchError(f"{what} did not happen within {bound:g} s")
            time.sleep(0.005)

    def pairs(self, runs: int) -> list[bool]:
        """Warm-ups then timed runs: True where the tracker goes first (alternating)."""
        return [i % 2 == 0 for i in range(self.sizes.warmups + runs)]

    # -- rows --------------------------------------------------------------------------------

    def commit_hooks(self, row: Row) -> None:
        """`git commit` of a one-line change, in a repository with our hooks and one without."""
        env = self.env("commit-hooks")
        journal = Path(env["AGENT_TRACKER_JOURNAL_DIR"])
        hooked = make_repo(self.root / "commit-hooks" / "with", env)
        plain = make_repo(self.root / "commit-hooks" / "without", env)
        run(self.tracker("hooks", "install", "--repo", str(hooked)), env=env)
        times: dict[str, list[float]] = {"with": [], "without": []}
        recorded: list[float] = []
        quiet: list[float] = []
        for i, first in enumerate(self.pairs(self.sizes.commits)):
            timed = i >= self.sizes.warmups
            for name in ("with", "without") if first else ("without", "with"):
                repo = hooked if name == "with" else plain
                change(repo, env, f"{name} {i}")
                started = time.perf_counter()
                ms = run(["git", "-C", str(repo), "commit", "-q", "-m", f"Change {i}"], env=env)[0]
                if name == "with":
                    sha = git(repo, env, "rev-parse", "HEAD").strip().encode()
                    # Detached or not, the hook's work ends before the next run starts: none
                    # of it may overlap the next measurement.
                    self.wait_until(partial(journal_holds, journal, sha), 30, "commit event")
                    in_journal = (time.perf_counter() - started) * 1000
                    self.wait_quiet()
                    if timed:
                        recorded.append(in_journal)
                        quiet.append((time.perf_counter() - started) * 1000)
                if timed:
                    times[name].append(ms)
        self.fill_delta(row, times["with"], times["without"])
        row.notes.append(
            f"commit event in the journal {statistics.median(recorded):.0f} ms, and every "
            f"process of the hook ended {statistics.median(quiet):.0f} ms, after `git commit` "
            "started (medians)"
        )

    def push_hooks(self, row: Row) -> None:
        """`git push` of one new commit to a local bare remote, with the pending events."""
        sizes = self.sizes
        pending = journal_lines(sizes.push_pending, seed=2)
        times: dict[str, list[float]] = {"with": [], "without": []}
        flushed: list[float] = []
        setups = {}
        for name in ("with", "without"):
            env = self.env(f"push-{name}")
            repo = make_repo(self.root / f"push-{name}" / "repo", env)
            remote = self.root / f"push-{name}" / "remote.git"
            run(["git", "init", "-q", "--bare", str(remote)], env=env)
            git(repo, env, "remote", "add", "local", str(remote))
            if name == "with":
                run(self.tracker("hooks", "install", "--repo", str(repo)), env=env)
            setups[name] = (env, repo, Path(env["AGENT_TRACKER_JOURNAL_DIR"]))
        for i, first in enumerate(self.pairs(sizes.pushes)):
            timed = i >= sizes.warmups
            for name in ("with", "without") if first else ("without", "with"):
                env, repo, journal = setups[name]
                change(repo, env, f"{name} {i}")
                git(repo, env, "commit", "-q", "-m", f"Change {i}")
                if name == "with":
                    sha = git(repo, env, "rev-parse", "HEAD").strip().encode()
                    self.wait_until(partial(journal_holds, journal, sha), 30, "commit event")
                    self.wait_quiet()
                else:
                    shutil.rmtree(journal, ignore_errors=True)  # nothing flushes it here
                append_lines(journal, pending)
                started = time.perf_counter()
                push = ["git", "-C", str(repo), "push", "-q", "local", "HEAD:refs/heads/main"]
                ms = run(push, env=env, timeout=300)[0]
                if name == "with":
                    done = self.wait_flushed(env, journal, started)
                    self.wait_quiet()
                    if timed:
                        flushed.append(done)
                if timed:
                    times[name].append(ms)
        self.fill_delta(row, times["with"], times["without"])
        row.notes.append(
            f"{sizes.push_pending:,} pending events in the database "
            f"{statistics.median(flushed):.0f} ms after `git push` started (median; the journal "
            "files polled every 5 ms, then `status` asked until it agrees)"
        )

    def capture(self, rows: dict[str, Row]) -> None:
        """`track tool`, `commit` and `grade` against a console script with an empty main()."""
        sizes = self.sizes
        env = self.env("capture")
        repo = make_repo(self.root / "capture" / "repo", env)
        journal = Path(env["AGENT_TRACKER_JOURNAL_DIR"])
        # A working session's worth of activity pending in this project, as between pushes.
        append_lines(journal, journal_lines(sizes.capture_pending, 3, "github.com/bench/app"))
        modules = self.root / "capture" / "modules"
        modules.mkdir()
        (modules / "_bench_empty.py").write_text("def main():\n    return 0\n", "utf-8")
        text = Path(self.script).read_text(encoding="utf-8")
        line = "from agent_tracker.entry import main"
        if line not in text:
            raise BenchError(f"{self.script} does not contain {line!r}")
        empty = self.root / "capture" / f"{SCRIPT_NAME}-empty"
        empty.write_text(text.replace(line, "from _bench_empty import main"), "utf-8")
        empty.chmod(0o755)
        env["PYTHONPATH"] = str(modules)  # both pay the same sys.path search
        track_args = ["track", "tool", "edit", "--agent", "build", "--model", "m"]
        commands = {
            "track": self.tracker(*track_args),
            "empty": [str(empty), *track_args],
            "commit": self.tracker("commit"),
            "grade": self.tracker("grade", "2", "--by", "user"),
        }
        # `grade` grades the commit `commit` recorded just before, as people do.
        orders = [
            ["track", "empty", "commit", "grade"],
            ["commit", "grade", "empty", "track"],
            ["empty", "track", "commit", "grade"],
            ["commit", "grade", "track", "empty"],
        ]
        times: dict[str, list[float]] = {name: [] for name in commands}
        for i in range(sizes.warmups + sizes.capture_runs):
            change(repo, env, f"capture {i}")
            git(repo, env, "commit", "-q", "-m", f"Change {i}")
            for name in orders[i % len(orders)]:
                ms = run(commands[name], env=env, cwd=repo)[0]
                if i >= sizes.warmups:
                    times[name].append(ms)
        lines = sum(1 for x in (journal / "live.jsonl").read_bytes().splitlines() if x.strip())
        expected = sizes.capture_pending + 3 * (sizes.warmups + sizes.capture_runs)
        if lines != expected:
            raise BenchError(f"expected {expected} journal lines after the runs, found {lines}")
        for key in ("track", "commit", "grade"):
            self.fill_ratio(rows[key], times[key], times["empty"])

    def flush_rss(self, row: Row) -> None:
        """Peak RSS of `flush` with many pending events; of a bare python+lmdb process."""
        sizes = self.sizes
        master = self.root / "flush-rss.jsonl"
        master.write_bytes(b"".join(journal_lines(sizes.rss_events, seed=4)))
        launcher = self.root / "rss_launcher.py"
        launcher.write_text(RSS_LAUNCHER, encoding="utf-8")
        bare_script = self.root / "bare_open.py"
        bare_script.write_text(BARE_OPEN, encoding="utf-8")
        floor_env = self.env("flush-rss-floor")
        floor = peak_rss_mib(launcher, ["/bin/sh", "-c", ":"], floor_env, self.root, 30)
        flush: list[float] = []
        bare: list[float] = []
        # No warm-ups: memory needs none, and flush-speed has filled the bytecode cache.
        for i in range(sizes.rss_runs):
            first = i % 2 == 0
            env = self.env(f"flush-rss-{i}")
            journal = Path(env["AGENT_TRACKER_JOURNAL_DIR"])
            journal.mkdir(parents=True, mode=0o700)
            shutil.copyfile(master, journal / "live.jsonl")
            (journal / "live.jsonl").chmod(0o600)
            for name in ("flush", "bare") if first else ("bare", "flush"):
                if name == "flush":
                    mib = peak_rss_mib(launcher, self.tracker("flush"), env, self.root, 900)
                    self.check_flushed(env, "after the flush")
                else:
                    target = self.root / f"bare-open-{i}"
                    mib = peak_rss_mib(
                        launcher, [self.python, str(bare_script), str(target)], env, self.root, 60
                    )
                (flush if name == "flush" else bare).append(mib)
            shutil.rmtree(self.root / f"flush-rss-{i}")
        row.measured = row.value = statistics.median(flush)
        row.baseline = statistics.median(bare)
        row.spread = f"{min(flush):.1f}-{max(flush):.1f} MiB"
        row.notes.append(
            f"{sizes.rss_events:,} events ({master.stat().st_size / 2**20:.0f} MiB of journal): "
            f"{row.value / row.baseline:.1f}x a bare python+lmdb process "
            f"({row.baseline:.1f} MiB); launcher floor {floor:.1f} MiB"
        )

    def flush_speed(self, row: Row) -> None:
        """`flush` of N pending events against py-lmdb putting N keys in one transaction."""
        sizes = self.sizes
        master = b"".join(journal_lines(sizes.flush_events, seed=5))
        bare_script = self.root / "bare_put.py"
        bare_script.write_text(BARE_PUT, encoding="utf-8")
        times: dict[str, list[float]] = {"flush": [], "bare": []}
        for i, first in enumerate(self.pairs(sizes.flush_runs)):
            env = self.env(f"flush-speed-{i}")
            journal = Path(env["AGENT_TRACKER_JOURNAL_DIR"])
            append_lines(journal, master)
            for name in ("flush", "bare") if first else ("bare", "flush"):
                if name == "flush":
                    ms = run(self.tracker("flush"), env=env, timeout=600)[0]
                    self.check_flushed(env, "after the flush")
                else:
                    target = self.root / f"bare-put-{i}"
                    command = [self.python, str(bare_script), str(target), str(sizes.flush_events)]
                    ms = run(command, env=env, timeout=600)[0]
                    shutil.rmtree(target)
                if i >= sizes.warmups:
                    times[name].append(ms)
            shutil.rmtree(self.root / f"flush-speed-{i}")
        self.fill_ratio(row, times["flush"], times["bare"])
        row.notes.append(
            f"`agent-tracker flush` of {sizes.flush_events:,} events, "
            f"{statistics.median(times['flush']):.0f} ms; bare script putting as many keys "
            f"(32-byte random keys, 100-byte values) in one transaction, both whole processes, "
            f"{statistics.median(times['bare']):.0f} ms"
        )

    def build_year(self) -> Path:
        if self.year_db is None:
            out = self.root / "year" / "history.lmdb"
            command = [self.python, str(HERE / "gen_history.py"), "--out", str(out)]
            command += ["--scale", f"{self.sizes.year_scale:g}", "--quiet"]
            env = self.env("year-gen")
            env["PYTHONPATH"] = str(HERE)
            ms = run(command, env=env, timeout=3600, stdout=subprocess.PIPE)[0]
            self.year_ms = ms
            self.year_db = out
        return self.year_db

    def year_size(self, row: Row) -> None:
        """data.mdb after gen_history.py, against the bytes of the keys and values it holds."""
        db = self.build_year()
        env = self.env("year-size")
        out = run([self.python, "-c", LMDB_PAYLOAD, str(db)], env=env, stdout=subprocess.PIPE)[1]
        payload = json.loads(out)
        size = (db / "data.mdb").stat().st_size / 2**20
        row.measured = row.value = size
        row.baseline = (payload["key_bytes"] + payload["value_bytes"]) / 2**20
        psize = payload["psize"]
        pages = payload["branch"] + payload["leaf"] + payload["overflow"]
        used = (payload["last_pgno"] + 1) * psize / 2**20
        row.notes.append(
            f"scale {self.sizes.year_scale:g}: {payload['entries']:,} entries, keys "
            f"{payload['key_bytes'] / 2**20:.1f} MiB + values {payload['value_bytes'] / 2**20:.1f}"
            f" MiB; file {size / row.baseline:.2f}x that; B-tree pages {pages * psize / 2**20:.1f}"
            f" MiB of the {used:.1f} MiB up to the last page used (the rest, "
            f"{used - pages * psize / 2**20:.1f} MiB, free pages); built in "
            f"{self.year_ms / 1000:.0f} s"
        )

    def report(self, row: Row) -> None:
        """`agent-tracker report` on the generated year against `python -c "import typer"`."""
        db = self.build_year()
        env = self.env("report")
        env["AGENT_TRACKER_DATABASE_PATH"] = str(db)
        commands = {"report": self.tracker("report"), "typer": [self.python, "-c", "import typer"]}
        times: dict[str, list[float]] = {"report": [], "typer": []}
        for i, first in enumerate(self.pairs(self.sizes.report_runs)):
            for name in ("report", "typer") if first else ("typer", "report"):
                ms, out = run(commands[name], env=env, cwd=self.root, stdout=subprocess.PIPE)
                if name == "report" and not out.strip():
                    raise BenchError("`agent-tracker report` printed nothing")
                if i >= self.sizes.warmups:
                    times[name].append(ms)
        self.fill_ratio(row, times["report"], times["typer"])

    # -- results -----------------------------------------------------------------------------

    def fill_delta(self, row: Row, measured: list[float], baseline: list[float]) -> None:
        row.measured = statistics.median(measured)
        row.baseline = statistics.median(baseline)
        row.value = row.measured - row.baseline
        low, high = quartiles([a - b for a, b in zip(measured, baseline, strict=True)])
        row.spread = f"{low:+.1f}..{high:+.1f} ms"

    def fill_ratio(self, row: Row, measured: list[float], baseline: list[float]) -> None:
        row.measured = statistics.median(measured)
        row.baseline = statistics.median(baseline)
        row.value = row.measured / row.baseline
        low, high = quartiles([a / b for a, b in zip(measured, baseline, strict=True)])
        row.spread = f"{low:.2f}-{high:.2f}x"


#: Opens (creating) an LMDB environment and writes one key: the floor of any flush.
BARE_OPEN = """\
import sys
import lmdb
env = lmdb.open(sys.argv[1], map_size=512 << 20, subdir=True)
with env.begin(write=True) as txn:
    txn.put(b"key", b"value")
env.close()
"""

#: Puts N random 32-byte keys with 100-byte values in one write transaction.
BARE_PUT = """\
import os, sys
import lmdb
env = lmdb.open(sys.argv[1], map_size=512 << 20, subdir=True)
value = b"v" * 100
with env.begin(write=True) as txn:
    for _ in range(int(sys.argv[2])):
        txn.put(os.urandom(16).hex().encode(), value)
env.close()
"""

#: Bytes of keys and values in a database, and its page counts (JSON on stdout).
LMDB_PAYLOAD = """\
import json, sys
import lmdb
env = lmdb.open(sys.argv[1], readonly=True, lock=False, subdir=True, max_dbs=64)
keys = values = 0
with env.begin() as txn:
    records = list(txn.cursor())
named = []
for key, value in records:
    try:  # a named database (if a layout uses them): count what it holds instead
        named.append(env.open_db(key, create=False))
    except lmdb.Error:
        keys += len(key)
        values += len(value)
with env.begin() as txn:
    for db in named:
        for key, value in txn.cursor(db):
            keys += len(key)
            values += len(value)
stat, info = env.stat(), env.info()
for db in named:
    with env.begin() as txn:
        sub = txn.stat(db)
    for name in ("branch_pages", "leaf_pages", "overflow_pages", "entries"):
        stat[name] += sub[name]
print(json.dumps({"key_bytes": keys, "value_bytes": values, "entries": stat["entries"],
    "psize": stat["psize"], "branch": stat["branch_pages"], "leaf": stat["leaf_pages"],
    "overflow": stat["overflow_pages"], "last_pgno": info["last_pgno"]}))
"""


def make_rows(sizes: Sizes) -> dict[str, Row]:
    pushes = f"{sizes.push_pending:,}"
    return {
        "commit-hooks": Row("commit-hooks", "`git commit` with our hooks vs without", "delta", 15),
        "push-hooks": Row(
            "push-hooks",
            f"`git push` to a local bare remote, {pushes} events pending, vs without hooks",
            "delta",
            100,
        ),
        "track": Row(
            "track", "`agent-tracker track tool ...` vs an empty console script", "ratio", 1.15
        ),
        "commit": Row("commit", "`agent-tracker commit` vs an empty console script", "ratio", 1.4),
        "grade": Row("grade", "`agent-tracker grade` vs an empty console script", "ratio", 1.4),
        "flush-rss": Row(
            "flush-rss",
            f"peak memory of `flush` with {sizes.rss_events:,} pending events",
            "mib",
            150,
        ),
        "flush-speed": Row(
            "flush-speed",
            f"`flush` of {sizes.flush_events:,} events vs a bare py-lmdb script putting as "
            "many keys in one transaction",
            "ratio",
            2.5,
        ),
        "year-size": Row(
            "year-size", "`data.mdb` after the generated year of heavy use", "mib", 110
        ),
        "report": Row(
            "report", '`report` on that year vs `python -c "import typer"`', "ratio", 2.5
        ),
    }


def fmt(value: float | None, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "delta":
        return f"{value:+.1f} ms"
    if kind == "ratio":
        return f"{value:.2f}x"
    if kind == "ms":
        return f"{value:.1f} ms"
    return f"{value:.1f} MiB"


def render(rows: list[Row], enforce: bool) -> str:
    lines = [
        "| figure | measured | baseline | result | target | spread (IQR of pairs) | |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        unit = "MiB" if row.kind == "mib" else "ms"
        if row.error:
            verdict = "ERROR"
        elif not enforce:
            verdict = "(smoke)"
        else:
            verdict = "met" if row.met else "missed"
        target = {"delta": f"<= +{row.target:g} ms", "ratio": f"<= {row.target:g}x"}.get(
            row.kind, f"<= {row.target:g} MiB"
        )
        lines.append(
            f"| {row.figure} | {fmt(row.measured, unit.lower())} | "
            f"{fmt(row.baseline, unit.lower())} | {fmt(row.value, row.kind)} | "
            f"{target} | {row.spread or '-'} | {verdict} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure every figure of issue 10 against a baseline of the same run.",
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="Python of the virtual environment whose agent-tracker to measure (its "
        "`agent-tracker` console script must sit next to it; default: this Python)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes, one run each, no targets enforced"
    )
    parser.add_argument(
        "--only", nargs="+", choices=ROWS, default=None, help="measure only these rows"
    )
    parser.add_argument(
        "--tmp-dir", type=Path, default=None, help="where to make the temporary folder"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    # Not resolved: a venv's python is a symbolic link to the base interpreter.
    args.python = str(Path(args.python).absolute())
    if not (Path(args.python).parent / SCRIPT_NAME).is_file():
        parser.error(f"no `{SCRIPT_NAME}` console script next to {args.python}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="agent-tracker-suite-", dir=args.tmp_dir))
    try:
        suite = Suite(args, root)
        rows = make_rows(suite.sizes)
        wanted = set(args.only or ROWS)
        load_start = loadavg()
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        smoke = " (SMOKE: tiny sizes, no targets enforced)" if args.smoke else ""
        print(f"agent-tracker benchmark suite, {stamp}{smoke}")
        for line in describe(args.python, suite.env("describe"), root):
            print(f"  {line}")
        sys.stdout.flush()
        steps: list[tuple[tuple[str, ...], Callable[[], None]]] = [
            (("commit-hooks",), lambda: suite.commit_hooks(rows["commit-hooks"])),
            (("push-hooks",), lambda: suite.push_hooks(rows["push-hooks"])),
            (("track", "commit", "grade"), lambda: suite.capture(rows)),
            (("flush-speed",), lambda: suite.flush_speed(rows["flush-speed"])),
            (("flush-rss",), lambda: suite.flush_rss(rows["flush-rss"])),
            (("year-size",), lambda: suite.year_size(rows["year-size"])),
            (("report",), lambda: suite.report(rows["report"])),
        ]
        for keys, step in steps:
            if not wanted.intersection(keys):
                continue
            t0 = time.perf_counter()
            try:
                step()
            except (BenchError, OSError, ValueError, KeyError) as exc:
                for key in keys:
                    rows[key].error = f"{type(exc).__name__}: {exc}"
            print(f"  ... {', '.join(keys)}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        chosen = [rows[key] for key in ROWS if key in wanted]
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    s = suite.sizes
    print(
        f"  runs (medians of, after {s.warmups} warm-ups, interleaved with the baseline): "
        f"capture {s.capture_runs}, git commit {s.commits}, git push {s.pushes}, "
        f"flush {s.flush_runs}, flush RSS {s.rss_runs}, report {s.report_runs}; "
        f"load average {load_start} at the start, {loadavg()} at the end; "
        f"took {time.perf_counter() - started:.0f} s"
    )
    print()
    print(render(chosen, enforce=not args.smoke))
    print()
    for row in chosen:
        for note in row.notes:
            print(f"- {row.key}: {note}")
        if row.error:
            print(f"- {row.key}: ERROR {row.error}")
    if args.json:
        args.json.write_text(json.dumps([asdict(row) for row in chosen], indent=2) + "\n")
    if any(row.error for row in chosen):
        return 2
    if args.smoke:
        return 0
    return 0 if all(row.met for row in chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
