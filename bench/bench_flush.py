"""Benchmark: flushing a large journal in one transaction against one transaction per event,
and against a bare py-lmdb script.

Targets:
1. `flush` applies 100,000 pending events in at most 1 s.
2. Per event, it is at least 50x cheaper than applying the same kind of events one LMDB
   write transaction (one fsync) each.
3. It takes at most 2.5x as long as a bare py-lmdb script that puts as many keys (each
   journal line under a key of its own) in one transaction (issue 10), and its peak RSS
   stays within 150 MiB (issue 10 asks that of 1,000,000 events: `--events 1000000`).

A realistic journal is generated directly (no 100k processes): ~90% tool calls, ~8%
commands, ~1.5% commits, ~0.5% grades of earlier commits, across a few setups, projects and
days. Each flush runs in a fresh child process against a fresh temporary home, so its time
and peak RSS are its own; the parent then checks the database against what it generated.

The bare baseline runs in a fresh child process too, interleaved with the flushes: it imports
lmdb, opens a fresh environment with the options a flush uses (sync and metasync on), puts
every journal line under a key of its own in one write transaction and commits. Both times
are measured inside the child, from before the work's imports (lmdb for the bare script; the
flush's own lazy imports) to the end, without the interpreter's start.

The per-event baseline applies events of the same journal with `flush.Applier`, one
`db.batch()` (one write transaction) per event, on a separate fresh database. With fsync per
transaction, 100k of them would take minutes, so it runs on an evenly spaced sample and the
per-event cost is extrapolated; the report says so.

Exit status: 0 when every target is met, 1 when one is missed, 2 when the benchmark could not
run or the flushed database is wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from random import Random
from typing import Any

from _benchlib import BenchError, enter, filesystem_of, isolated_env, machine, table

TARGET_SECONDS = 1.0
TARGET_RATIO = 50.0
TARGET_BARE_RATIO = 2.5
TARGET_RSS_MIB = 150.0
DAY = 86400

SETUPS = [
    ("opencode", "build", "anthropic/claude-sonnet-4-5"),
    ("opencode", "plan", "openai/gpt-5"),
    ("claude-code", "claude", "claude-opus-4-1"),
    ("codex", "default", "gpt-5-codex"),
    ("opencode", "reviewer", "google/gemini-2.5-pro"),
]
TOOLS = ("read", "edit", "bash", "grep", "glob", "write", "todowrite", "webfetch")
COMMANDS = ("pytest -q", "npm test", "cargo build", "make lint", "git status", "uv sync")
EXTS = (".py", ".ts", ".md", ".rs", ".toml")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Time `flush` of a large generated journal (one transaction) against applying "
            "events one write transaction each. Targets: flush <= "
            f"{TARGET_SECONDS:g} s and >= {TARGET_RATIO:g}x cheaper per event."
        ),
    )
    parser.add_argument(
        "--events", type=int, default=100_000, help="pending events to flush (default 100000)"
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=2000,
        help="events applied one transaction each for the baseline (default 2000)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="bulk flushes, each of the same journal into a fresh database (default 5)",
    )
    parser.add_argument("--setups", type=int, default=5, help="agent setups (default 5)")
    parser.add_argument("--projects", type=int, default=10, help="projects (default 10)")
    parser.add_argument("--days", type=int, default=30, help="days the events span (default 30)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--target-seconds",
        type=float,
        default=TARGET_SECONDS,
        help=f"longest accepted median flush time (default {TARGET_SECONDS:g})",
    )
    parser.add_argument(
        "--target-ratio",
        type=float,
        default=TARGET_RATIO,
        help=f"lowest accepted per-event speed-up over the baseline (default {TARGET_RATIO:g})",
    )
    parser.add_argument(
        "--tmp-dir",
        type=Path,
        default=None,
        help="where to make the temporary home (default: the system temp folder); fsync "
        "costs depend on its filesystem, so use one like your real home's",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run one flush under cProfile and print where its time goes (not timed)",
    )
    parser.add_argument(
        "--target-bare-ratio",
        type=float,
        default=TARGET_BARE_RATIO,
        help="highest accepted flush time over the bare py-lmdb script's "
        f"(default {TARGET_BARE_RATIO:g})",
    )
    parser.add_argument(
        "--target-rss-mib",
        type=float,
        default=TARGET_RSS_MIB,
        help=f"highest accepted peak RSS of the flush process (default {TARGET_RSS_MIB:g})",
    )
    parser.add_argument("--child-flush", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-bare", nargs=2, metavar=("JOURNAL", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_flush or args.child_bare:
        return args
    if args.events < 100 or args.sample < 10 or args.repeat < 1:
        parser.error("--events must be >= 100, --sample >= 10 and --repeat >= 1")
    if not 1 <= args.setups <= len(SETUPS):
        parser.error(f"--setups must lie in 1..{len(SETUPS)}")
    if args.projects < 1 or args.days < 1:
        parser.error("--projects and --days must be at least 1")
    return args


# -- the journal --------------------------------------------------------------------------


class Journal:
    """The generated journal lines and what flushing them must produce."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.counts: Counter[str] = Counter()
        #: (project, commit hash, party) -> the grade that must remain (the newest).
        self.final_grades: dict[tuple[str, str, str], int] = {}


def generate(args: argparse.Namespace) -> Journal:
    from agent_tracker import events

    rng = Random(args.seed)
    setups = SETUPS[: args.setups]
    projects = [f"github.com/acme/service-{i:02d}" for i in range(args.projects)]
    out = Journal()
    commits: list[tuple[str, str]] = []  # (project, hash) of commits generated so far
    hashes: set[str] = set()
    start = time.time() - args.days * DAY
    step = args.days * DAY / args.events
    for i in range(args.events):
        ts = round(start + i * step, 3)
        setup = rng.choice(setups)
        project = rng.choice(projects)
        roll = rng.random()
        if roll < 0.005 and commits:
            kind = "grade"
            project, commit_hash = rng.choice(commits)
            by = rng.choice(("agent", "user"))
            grade = rng.choice((-1, 1, 2, 5))
            event = events.make(
                "grade", setup, project, ts=ts, hash=commit_hash, by=by, grade=grade
            )
            out.final_grades[(project, commit_hash, by)] = grade
        elif roll < 0.02:
            kind = "commit"
            commit_hash = f"{rng.getrandbits(160):040x}"
            while commit_hash in hashes:
                commit_hash = f"{rng.getrandbits(160):040x}"
            hashes.add(commit_hash)
            commits.append((project, commit_hash))
            event = events.make(
                "commit",
                setup,
                project,
                ts=ts,
                hash=commit_hash,
                subject=f"Fix flaky retry in worker pool (#{i})",
                author_time=int(ts),
                files=rng.randint(1, 12),
                insertions=rng.randint(1, 400),
                deletions=rng.randint(0, 200),
                exts={".py": 2},
                source="flag",
            )
        elif roll < 0.10:
            kind = "command"
            event = events.make("command", setup, project, ts=ts, name=rng.choice(COMMANDS))
        else:
            kind = "tool"
            event = events.make("tool", setup, project, ts=ts, name=rng.choice(TOOLS))
        out.counts[kind] += 1
        out.lines.append(events.encode(event))
    return out


def write_live(journal_dir: Path, lines: list[bytes]) -> None:
    """Put the whole journal in the live file at once (what many appends would leave)."""
    from agent_tracker.journal import LIVE
    from agent_tracker.paths import make_private_dir

    make_private_dir(journal_dir)
    fd = os.open(journal_dir / LIVE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, b"".join(lines))
    finally:
        os.close(fd)


# -- the bulk flush, in a child process -----------------------------------------------------


def peak_rss_kib() -> tuple[int, int | None]:
    """(getrusage ru_maxrss, /proc VmHWM) of this process in KiB; VmHWM None off Linux.

    On Linux a child's ru_maxrss starts at the RSS its parent had when it was spawned (the
    kernel carries the old high-water mark across exec), so with a parent holding the whole
    journal it overstates the child's own peak; VmHWM belongs to the new address space only.
    """
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":
        maxrss //= 1024  # bytes there, KiB on Linux
    try:
        status = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return maxrss, None
    hwm = next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), None)
    return maxrss, hwm


def child_flush(profile: bool) -> int:
    """Run one flush in this (fresh) process; print its time, RSS and result as JSON."""
    from agent_tracker import config
    from agent_tracker.flush import flush

    settings = config.load()
    before = peak_rss_kib()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    start = time.perf_counter()
    result = flush(settings)
    seconds = time.perf_counter() - start
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(15)
    json.dump(
        {
            "seconds": seconds,
            "rss_before_kib": before,
            "rss_peak_kib": peak_rss_kib(),
            "result": vars(result),
        },
        sys.stdout,
    )
    return 0


def child_bare(journal_file: str, db_path: str) -> int:
    """Put every line of `journal_file` under a key of its own in one LMDB write transaction,
    as a bare py-lmdb script would; print its time and peak RSS as JSON."""
    start = time.perf_counter()
    import lmdb

    Path(db_path).mkdir(parents=True, exist_ok=True)
    env = lmdb.open(db_path, map_size=512 << 20, subdir=True, sync=True, metasync=True)
    puts = 0
    with open(journal_file, "rb") as lines, env.begin(write=True) as txn:
        for puts, line in enumerate(lines, start=1):
            txn.put(b"line:%09d" % puts, line)
    env.close()
    seconds = time.perf_counter() - start
    json.dump({"seconds": seconds, "rss_peak_kib": peak_rss_kib(), "puts": puts}, sys.stdout)
    return 0


def run_bare(root: Path, journal_file: Path, events: int) -> dict[str, Any]:
    env = isolated_env(root)
    done = subprocess.run(
        [sys.executable, __file__, "--child-bare", str(journal_file), str(root / "bare.lmdb")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"the bare py-lmdb child failed:\n{done.stderr}")
    measured: dict[str, Any] = json.loads(done.stdout)
    if measured["puts"] != events:
        raise BenchError(f"the bare py-lmdb child put {measured['puts']} keys, not {events}")
    return measured


def run_flush(root: Path, journal: Journal, *, profile: bool = False) -> dict[str, Any]:
    env = isolated_env(root)
    write_live(Path(env["AGENT_TRACKER_JOURNAL_DIR"]), journal.lines)
    done = subprocess.run(
        [sys.executable, __file__, "--child-flush", *(["--profile"] if profile else [])],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"the flush child failed:\n{done.stderr}")
    measured: dict[str, Any] = json.loads(done.stdout)
    measured["stderr"] = done.stderr
    measured["checks"] = verify(env, journal, measured["result"])
    return measured


def verify(env: dict[str, str], journal: Journal, result: dict[str, Any]) -> int:
    """Check the flushed database against the generated journal; returns checks passed."""
    from agent_tracker import config
    from agent_tracker.journal import Journal as TrackerJournal
    from agent_tracker.store import LMDBDatabase

    enter(env)
    settings = config.load()
    counts = journal.counts
    graded = {(project, commit_hash) for project, commit_hash, _ in journal.final_grades}
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    if db is None:
        raise BenchError(f"no database at {settings.database_path} after the flush")
    with db:
        agents = db.agents()

        def total(field: str) -> int:
            return sum(record[field] for record in agents)

        usage = [value for _, value in db.scan("usage:")]
        expected: list[tuple[str, object, object]] = [
            ("events applied", result["applied"], len(journal.lines)),
            ("lines quarantined", result["quarantined"], 0),
            ("duplicates", result["duplicates"], 0),
            ("segments", result["segments"], 1),
            ("setups", len(agents), len({line_setup(line) for line in journal.lines})),
            ("tool_calls over agents", total("tool_calls"), counts["tool"]),
            ("commands over agents", total("commands"), counts["command"]),
            ("commits over agents", total("commits"), counts["commit"]),
            (
                "xp over agents",
                total("xp"),
                counts["tool"] + 2 * counts["command"] + 5 * counts["commit"],
            ),
            ("score over agents", total("score"), sum(journal.final_grades.values())),
            ("grades over agents", total("grades"), len(journal.final_grades)),
            ("graded commits over agents", total("graded_commits"), len(graded)),
            ("tool_calls over usage facts", sum(u["tool_calls"] for u in usage), counts["tool"]),
            ("commands over usage facts", sum(u["commands"] for u in usage), counts["command"]),
            ("commit facts", sum(1 for _ in db.scan("commit:")), counts["commit"]),
            ("grade facts", sum(1 for _ in db.scan("communication:")), len(journal.final_grades)),
            (
                "commits over projects",
                sum(p["commits"] for _, p in db.scan("project:")),
                counts["commit"],
            ),
        ]
    pending = TrackerJournal(settings.journal_dir).pending_count()
    expected.append(("events still pending", pending, 0))
    wrong = [f"{name}: got {got}, expected {want}" for name, got, want in expected if got != want]
    if wrong:
        raise BenchError("the flushed database is wrong:\n  " + "\n  ".join(wrong))
    return len(expected)


def line_setup(line: bytes) -> tuple[str, str, str]:
    event = json.loads(line)
    return (event["harness"], event["agent"], event["model"])


# -- the baseline: one write transaction per event -------------------------------------------


def run_baseline(root: Path, journal: Journal, sample: int) -> list[float]:
    """Seconds per event, applying an evenly spaced sample one transaction each."""
    from agent_tracker import config, events
    from agent_tracker.flush import Applier
    from agent_tracker.store import LMDBDatabase

    env = isolated_env(root)
    enter(env)
    settings = config.load()
    stride = max(1, len(journal.lines) // sample)
    chosen = [events.decode(line) for line in journal.lines[::stride][:sample]]
    per_event: list[float] = []
    with LMDBDatabase.open_write(settings.database_path, settings.max_database_size) as db:
        dbid = db.dbid
        for event in chosen:
            start = time.perf_counter()
            with db.batch() as batch:
                Applier(batch, dbid).apply([event])
            per_event.append(time.perf_counter() - start)
        if db.write_transactions != len(chosen):
            raise BenchError(
                f"baseline made {db.write_transactions} transactions for {len(chosen)} events"
            )
    return per_event


def fsync_cost(root: Path, rounds: int = 50) -> float:
    """Median microseconds of a 4 KiB write + fdatasync where the databases live."""
    path = root / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    sync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync
    costs = []
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            os.pwrite(fd, os.urandom(4096), 0)
            sync(fd)
            costs.append(time.perf_counter() - start)
    finally:
        os.close(fd)
    return statistics.median(costs) * 1e6


# -- report -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_flush:
        return child_flush(args.profile)
    if args.child_bare:
        return child_bare(*args.child_bare)
    original_env = dict(os.environ)
    try:
        with tempfile.TemporaryDirectory(prefix="agent-tracker-bench-", dir=args.tmp_dir) as tmp:
            root = Path(tmp)
            enter(isolated_env(root / "generate"))
            started = time.perf_counter()
            journal = generate(args)
            generated_in = time.perf_counter() - started
            journal_file = root / "journal.jsonl"
            journal_file.write_bytes(b"".join(journal.lines))
            runs, bare = [], []
            for i in range(args.repeat):  # interleaved: a noisy machine slows both alike
                runs.append(run_flush(root / f"flush-{i}", journal))
                bare.append(run_bare(root / f"bare-{i}", journal_file, len(journal.lines)))
            per_event = run_baseline(root / "baseline", journal, args.sample)
            fs = filesystem_of(root)
            sync_us = fsync_cost(root)
            profile = run_flush(root / "profile", journal, profile=True) if args.profile else None
    except BenchError as exc:
        print(f"bench_flush: error: {exc}", file=sys.stderr)
        return 2
    finally:
        enter(original_env)
    code = report(
        args, journal, generated_in, runs, bare, per_event, f"{fs}, fdatasync {sync_us:.0f} us"
    )
    if profile is not None:
        print()
        print(f"cProfile of one more flush ({profile['seconds']:.3f} s with profiling on):")
        print(profile["stderr"].rstrip())
    return code


def report(
    args: argparse.Namespace,
    journal: Journal,
    generated_in: float,
    runs: list[dict[str, Any]],
    bare: list[dict[str, Any]],
    per_event: list[float],
    fs: str,
) -> int:
    n = len(journal.lines)
    size_mb = sum(len(line) for line in journal.lines) / 1e6
    seconds = [run["seconds"] for run in runs]
    flush_s = statistics.median(seconds)
    bulk_us = flush_s / n * 1e6
    base_us = statistics.mean(per_event) * 1e6
    base_median_us = statistics.median(per_event) * 1e6
    ratio = base_us / bulk_us
    bare_seconds = [run["seconds"] for run in bare]
    bare_s = statistics.median(bare_seconds)
    bare_ratio = flush_s / bare_s
    bare_hwm = [run["rss_peak_kib"][1] or run["rss_peak_kib"][0] for run in bare]
    hwm = [run["rss_peak_kib"][1] for run in runs]
    maxrss_mib = max(run["rss_peak_kib"][0] for run in runs) / 1024
    own = None not in hwm
    peak_mib = max(hwm) / 1024 if own else maxrss_mib
    before_mib = statistics.median(run["rss_before_kib"][1 if own else 0] for run in runs) / 1024
    mix = ", ".join(f"{journal.counts[k]} {k}" for k in ("tool", "command", "commit", "grade"))
    puts = runs[0]["result"]["puts"]

    print(f"flush benchmark: {machine()}; temp folder on {fs}")
    print(
        f"journal: {n} events ({mix}) in {size_mb:.1f} MB, {args.setups} setups, "
        f"{args.projects} projects, {args.days} days; generated in {generated_in:.1f} s"
    )
    print(
        f"bulk flush: {args.repeat} run(s), each a fresh process and database; "
        f"{runs[0]['checks']} correctness checks passed after each; {puts} puts"
    )
    print()
    rows = [
        [
            "bulk flush (1 transaction)",
            f"{n}",
            f"{flush_s:.3f}",
            f"{bulk_us:.2f}",
        ],
        [
            "bare py-lmdb (1 transaction)",
            f"{n}",
            f"{bare_s:.3f}",
            f"{bare_s / n * 1e6:.2f}",
        ],
        [
            "baseline (1 transaction/event)",
            f"{len(per_event)} (sample)",
            f"{sum(per_event):.3f}",
            f"{base_us:.2f}",
        ],
    ]
    print(table(["method", "events", "seconds", "us/event"], rows))
    print(f"bulk flush seconds per run: {', '.join(f'{s:.3f}' for s in seconds)} (median above)")
    print(
        f"bare py-lmdb seconds per run: {', '.join(f'{s:.3f}' for s in bare_seconds)}; "
        f"peak RSS {max(bare_hwm) / 1024:.1f} MiB"
    )
    print(
        f"baseline: measured on {len(per_event)} evenly spaced events, NOT all {n}; "
        f"mean {base_us:.0f} us, median {base_median_us:.0f} us per transaction; "
        f"extrapolated to {n} events: {base_us * n / 1e6:.0f} s"
    )
    print(
        f"peak RSS of the flush process: {peak_mib:.1f} MiB "
        f"({before_mib:.1f} MiB after imports, before the flush; "
        + (
            f"VmHWM of the child; its getrusage ru_maxrss, {maxrss_mib:.1f} MiB, is not used "
            "because on Linux it starts at the parent's RSS at spawn)"
            if own
            else "getrusage ru_maxrss)"
        )
    )
    print()
    time_ok = flush_s <= args.target_seconds
    ratio_ok = ratio >= args.target_ratio
    bare_ok = bare_ratio <= args.target_bare_ratio
    rss_ok = peak_mib <= args.target_rss_mib
    print(
        f"flush of {n} events: {flush_s:.3f} s  target <= {args.target_seconds:g} s  "
        f"{'PASS' if time_ok else 'FAIL'}"
    )
    print(
        f"per-event speed-up over the baseline: {ratio:.0f}x  target >= {args.target_ratio:g}x  "
        f"{'PASS' if ratio_ok else 'FAIL'}"
    )
    print(
        f"flush time over the bare py-lmdb script's: {bare_ratio:.2f}x  "
        f"target <= {args.target_bare_ratio:g}x  {'PASS' if bare_ok else 'FAIL'}"
    )
    print(
        f"peak RSS of the flush process: {peak_mib:.1f} MiB  target <= "
        f"{args.target_rss_mib:g} MiB  {'PASS' if rss_ok else 'FAIL'}"
    )
    return 0 if time_ok and ratio_ok and bare_ok and rss_ok else 1


if __name__ == "__main__":
    sys.exit(main())
