"""Benchmark: `agent-tracker report` on a year of heavy use.

Targets, on the database of gen_history.py at --scale 1 (20 setups, 50 projects, 365 days,
100,000 commits, 200,000 grades, 2,000,000 tool calls, 200,000 commands):
1. `agent-tracker report` and `agent-tracker report --since 30d`, run through the INSTALLED
   console script with stdout to a pipe, each take at most 0.5 s wall (median of --runs)
   and at most 150 MB peak RSS (the largest of the runs).
2. Report cost follows setups and days, not events: with 10x the events on the same setups,
   projects and days (--scale 1 against --scale 0.1), `report.build` takes at most 2x the
   time (the `day:` records differ a little: more commits fill more (day, setup, project)
   cells, e.g. the unknown setup's).

Measured in the same run, as baselines: `agent-tracker --version` (interpreter start plus
the CLI's imports; every command pays it), `report.build(settings, Query(...))` alone in a
warm process, the text rendering alone, and the number of `day:` records the report reads.

Peak RSS is the child's own `VmHWM` from /proc, written at exit by a copy of the installed
console script with one `atexit` hook added (runs of that copy are separate from the timed
runs of the unmodified script). `os.wait4`'s `ru_maxrss` is NOT used, even though each child
is a fresh exec: on Linux, exec carries the high-water mark of the address space it replaces
into the new program's `maxrss`. `subprocess` spawns with vfork, whose address space is the
parent's, so a child's `ru_maxrss` is at least the parent's own peak RSS whatever the child
uses (with fork it would be the parent's RSS at the fork). The output shows both.

The databases are built by gen_history.py when missing (or with --rebuild). The report runs
with HOME and every AGENT_TRACKER_* setting in a temporary folder, the database path pointed
at the generated database and an empty journal (so no pending events are folded in).

Exit status: 0 when every target is met, 1 when one is missed, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

from _benchlib import SCRIPT_NAME, BenchError, find_console_script, isolated_env, machine, table
from gen_history import DAYS, default_out, read_manifest

HERE = Path(__file__).resolve().parent
TARGET_SECONDS = 0.5
TARGET_MB = 150.0
TARGET_EVENT_RATIO = 2.0
SMALL_FACTOR = 0.1
#: (label, arguments, checked against the targets)
COMMANDS = [
    ("--version", ["--version"], False),
    ("report", ["report"], True),
    ("report --format json", ["report", "--format", "json"], False),
    ("report --since 30d", ["report", "--since", "30d"], True),
]
HWM_HOOK = """\
import atexit as _bench_atexit


def _bench_hwm():
    import os

    with open("/proc/self/status") as status:
        hwm = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["BENCH_HWM_FILE"], "w") as out:
        out.write(hwm)


_bench_atexit.register(_bench_hwm)
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Time `agent-tracker report` (and --since 30d) through the installed console "
            "script on a generated year of heavy use. Targets: <= "
            f"{TARGET_SECONDS:g} s wall (median) and <= {TARGET_MB:g} MB peak RSS each."
        ),
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="scale of the database to build when missing (default 1, the full year); the "
        f"comparison database has {SMALL_FACTOR:g} of it",
    )
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument(
        "--db", type=Path, default=None, help="database (default: gen_history's for --scale)"
    )
    parser.add_argument(
        "--small-db",
        type=Path,
        default=None,
        help=f"comparison database with {SMALL_FACTOR:g}x the events (default: gen_history's)",
    )
    parser.add_argument(
        "--no-compare", action="store_true", help="skip the comparison with fewer events"
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="rebuild the databases even when present"
    )
    parser.add_argument(
        "-n", "--runs", type=int, default=5, help="timed runs of each command (default 5)"
    )
    parser.add_argument(
        "--warmups", type=int, default=2, help="untimed runs of each command first (default 2)"
    )
    parser.add_argument(
        "--target-seconds",
        type=float,
        default=TARGET_SECONDS,
        help=f"longest accepted median wall time (default {TARGET_SECONDS:g})",
    )
    parser.add_argument(
        "--target-mb",
        type=float,
        default=TARGET_MB,
        help=f"largest accepted peak RSS in MB of 10^6 bytes (default {TARGET_MB:g})",
    )
    parser.add_argument(
        "--target-event-ratio",
        type=float,
        default=TARGET_EVENT_RATIO,
        help="largest accepted ratio of report.build times, full / 10x fewer events "
        f"(default {TARGET_EVENT_RATIO:g})",
    )
    parser.add_argument(
        "--write-bytecode",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="let the children cache bytecode in a temporary PYTHONPYCACHEPREFIX, as an "
        "installed wheel ships it compiled (default: on)",
    )
    parser.add_argument(
        "--importtime-runs",
        type=int,
        default=3,
        help="runs of `python -X importtime` of the report to take the median of "
        "(default 3; 0 skips)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also print a cProfile of report.build (done anyway when a target is missed)",
    )
    parser.add_argument(
        "--build-runs",
        type=int,
        default=21,
        help="timed report.build calls per database and query in a warm process (default 21)",
    )
    parser.add_argument("--child-build", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dbs", nargs="*", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_build:
        return args
    if args.runs < 1 or args.warmups < 1 or args.build_runs < 1:
        parser.error("--runs, --warmups and --build-runs must be at least 1")
    if not 0 < args.scale <= 2:
        parser.error("--scale must lie in (0, 2]")
    if args.db is None:
        args.db = default_out(args.scale)
    if args.small_db is None:
        args.small_db = default_out(round(args.scale * SMALL_FACTOR, 6))
    return args


# -- databases --------------------------------------------------------------------------------


def ensure_database(path: Path, scale: float, seed: int, rebuild: bool) -> dict[str, Any]:
    """The manifest of the database at `path`, building it with gen_history.py if needed."""
    manifest = read_manifest(path)
    if manifest is not None and not rebuild:
        if manifest.get("scale") != scale or manifest.get("seed") != seed:
            raise BenchError(
                f"{path} was built with scale {manifest.get('scale')}, seed "
                f"{manifest.get('seed')}; wanted scale {scale:g}, seed {seed}: pass --rebuild"
            )
        return manifest
    if path.exists() and manifest is None:
        raise BenchError(f"{path} exists but was not made by gen_history.py")
    print(f"building {path} (scale {scale:g}) with gen_history.py ...", file=sys.stderr)
    command = [sys.executable, str(HERE / "gen_history.py"), "--out", str(path)]
    command += ["--scale", f"{scale:g}", "--seed", str(seed), "--force", "--quiet"]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"gen_history.py failed (exit {done.returncode})")
    print(done.stdout.rstrip(), file=sys.stderr)
    manifest = read_manifest(path)
    if manifest is None:
        raise BenchError(f"gen_history.py left no manifest in {path}")
    return manifest


def day_records(db_path: Path, map_size: int, since: str | None = None) -> int:
    """`day:` keys in the database (from `since` on, when given), counted on the raw cursor."""
    from agent_tracker.store import LMDBDatabase

    db = LMDBDatabase.open_read(db_path, map_size)
    if db is None:
        raise BenchError(f"no database at {db_path}")
    prefix = b"day:"
    start = prefix + (since.encode() if since else b"")
    count = 0
    with db, db.env.begin() as txn:
        cursor = txn.cursor()
        if cursor.set_range(start):
            for key in cursor.iternext(keys=True, values=False):
                if not bytes(key).startswith(prefix):
                    break
                count += 1
    return count


# -- running the CLI ----------------------------------------------------------------------------


def installed_editable() -> bool:
    try:
        raw = metadata.distribution("agent-tracker").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return False
    return bool(raw) and bool(json.loads(raw).get("dir_info", {}).get("editable"))


def make_hwm_script(script: Path, root: Path) -> Path:
    """The installed console script's text with an atexit hook that writes VmHWM (KiB)."""
    lines = script.read_text(encoding="utf-8").splitlines(keepends=True)
    head = 0
    while head < len(lines) and lines[head].startswith("#"):
        head += 1  # shebang and coding line stay first
    copy = root / "bin" / f"{SCRIPT_NAME}-hwm"
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text("".join([*lines[:head], HWM_HOOK, *lines[head:]]), encoding="utf-8")
    copy.chmod(0o755)
    return copy


class Runner:
    def __init__(self, root: Path, env: dict[str, str], script: Path, hwm_script: Path) -> None:
        self.root = root
        self.env = env
        self.script = script
        self.hwm_script = hwm_script
        self.hwm_file = root / "hwm.txt"
        self.stderr_file = root / "stderr.txt"

    def run(self, args: list[str], *, hwm: bool = False) -> dict[str, Any]:
        """One run with stdout to a pipe (read to the end, as a consumer would).

        Returns wall seconds, stdout, wait4's ru_maxrss (KiB) and, for a run of the hooked
        copy (`hwm`), the child's own VmHWM (KiB).
        """
        env = self.env
        if hwm:
            env = dict(env, BENCH_HWM_FILE=str(self.hwm_file))
            self.hwm_file.unlink(missing_ok=True)
        command = [str(self.hwm_script if hwm else self.script), *args]
        with open(self.stderr_file, "wb") as stderr:
            start = time.perf_counter()
            proc = subprocess.Popen(
                command, cwd=self.root, env=env, stdout=subprocess.PIPE, stderr=stderr
            )
            assert proc.stdout is not None
            with proc.stdout:
                out = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err = self.stderr_file.read_text(errors="replace")
            raise BenchError(f"{' '.join(command)} exited {proc.returncode}: {err}")
        measured: dict[str, Any] = {
            "seconds": elapsed,
            "stdout": out,
            "maxrss_kib": usage.ru_maxrss,
        }
        if hwm:
            try:
                measured["hwm_kib"] = int(self.hwm_file.read_text())
            except (OSError, ValueError) as exc:
                raise BenchError(f"the VmHWM hook wrote nothing ({exc})") from None
        return measured


def check_output(label: str, stdout: bytes, manifest: dict[str, Any]) -> None:
    """The report must be a real one: JSON that covers every generated commit, text a table."""
    if label == "report --format json":
        data = json.loads(stdout)
        commits = data["coverage"]["commits"]
        if commits != manifest["events"]["commit"]:
            raise BenchError(f"report covers {commits} commits, generated {manifest['events']}")
        if len(data["groups"]) != manifest["setups"]:
            groups = len(data["groups"])
            raise BenchError(f"report has {groups} groups for {manifest['setups']} setups")
    elif label.startswith("report") and b"Evidence" not in stdout:
        raise BenchError(f"`{label}` printed no report:\n{stdout.decode()[:500]}")


def measure_cli(
    runners: list[Runner], targets: list[dict[str, Any]], runs: int, warmups: int
) -> None:
    """Per database and command: timed runs of the installed script and VmHWM runs of the
    hooked copy, interleaved across databases and commands (order reversed every round)."""
    for _ in range(warmups):
        for runner, target in zip(runners, targets, strict=True):
            for label, argv, _checked in COMMANDS:
                check_output(label, runner.run(argv)["stdout"], target["manifest"])
                runner.run(argv, hwm=True)
    for target in targets:
        target["cli"] = {
            label: {"seconds": [], "hwm_kib": [], "maxrss_kib": []} for label, _, _ in COMMANDS
        }
    pairs = [
        (runner, target, label, argv)
        for runner, target in zip(runners, targets, strict=True)
        for label, argv, _ in COMMANDS
    ]
    for i in range(runs):
        for runner, target, label, argv in pairs if i % 2 == 0 else reversed(pairs):
            slot = target["cli"][label]
            timed = runner.run(argv)
            slot["seconds"].append(timed["seconds"])
            slot["maxrss_kib"].append(timed["maxrss_kib"])
            slot["hwm_kib"].append(runner.run(argv, hwm=True)["hwm_kib"])


def base_env(root: Path, bytecode: bool) -> dict[str, str]:
    env = isolated_env(root)
    journal = root / "journal"
    journal.mkdir(mode=0o700)
    env["AGENT_TRACKER_JOURNAL_DIR"] = str(journal)  # empty: no pending events
    if bytecode:
        # As in bench_capture.py: an installed wheel ships compiled bytecode, so the children
        # may cache theirs (in a temporary prefix, filled by the warm-ups).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    return env


def db_env(env: dict[str, str], target: dict[str, Any]) -> dict[str, str]:
    return dict(
        env,
        AGENT_TRACKER_DATABASE_PATH=str(target["db"].resolve()),
        AGENT_TRACKER_MAX_DATABASE_SIZE=str(target["manifest"]["max_database_size"]),
    )


# -- in process: the phases of one CLI run, and report.build alone ------------------------------


#: Run with `python -c` in a fresh child whose environment names the full database: one
#: `agent-tracker report` through `cli.run`, in process, timed by phase. Only `sys`, `time`
#: and `io` come first (and `json`, which the CLI imports anyway, after), so the import phase
#: is the CLI's own.
PHASES_CODE = """\
import io, sys, time

t0 = time.perf_counter()
from agent_tracker import cli
phases = {"import agent_tracker.cli": time.perf_counter() - t0}
from agent_tracker import report, reportview


def timed(name, function):
    def wrapper(*a, **k):
        start = time.perf_counter()
        try:
            return function(*a, **k)
        finally:
            phases[name] = time.perf_counter() - start
    return wrapper


report.build = timed("report.build", report.build)
reportview.table = timed("render the text table", reportview.table)
stdout, sys.stdout = sys.stdout, io.StringIO()  # not a terminal, as in a pipe
try:
    start = time.perf_counter()
    code = cli.run(["report"])
    run = time.perf_counter() - start
finally:
    sys.stdout = stdout
if code != 0:
    raise SystemExit(f"cli.run(['report']) returned {code}")
phases["Typer dispatch and the rest of cli.run"] = (
    run - phases["report.build"] - phases["render the text table"]
)
import json

json.dump(phases, sys.stdout)
"""


def child_build(args: argparse.Namespace) -> int:
    """In a child: `report.build` for the default query and `--since 30d` on each database
    of --dbs, and the text and JSON rendering of its result, alternating between the
    databases, --build-runs times after one untimed round. Prints JSON on stdout (cProfile
    output, when asked, on stderr)."""
    import io

    from agent_tracker import config, render, report, reportview

    queries = {
        "all": report.Query(),
        "since 30d": report.Query(since=report.parse_day("30d", date.today())),
    }
    dbs = [
        config.load(flags={"database_path": path, "max_database_size": size})
        for path, size in zip(args.dbs[::2], args.dbs[1::2], strict=True)
    ]
    times: dict[tuple[int, str, str], list[float]] = {}
    for round_ in range(args.build_runs + 1):
        for index, settings in enumerate(dbs):
            for name, query in queries.items():
                t0 = time.perf_counter()
                data = report.build(settings, query)
                t1 = time.perf_counter()
                stdout, sys.stdout = sys.stdout, io.StringIO()
                try:
                    reportview.table(render.console(), data)  # what the CLI does
                finally:
                    sys.stdout = stdout
                t2 = time.perf_counter()
                json.dumps(data.as_dict(), indent=2, sort_keys=True)
                t3 = time.perf_counter()
                if round_ == 0:
                    continue  # untimed
                for part, seconds in (("build", t1 - t0), ("render", t2 - t1), ("json", t3 - t2)):
                    times.setdefault((index, name, part), []).append(seconds)
    out = {
        "warm": [
            {
                name: {part: statistics.median(times[(index, name, part)]) for part in PARTS}
                for name in queries
            }
            for index in range(len(dbs))
        ],
    }
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        report.build(dbs[0], report.Query())
        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(15)
    json.dump(out, sys.stdout)
    return 0


PARTS = ("build", "render", "json")


def measure_build(
    env: dict[str, str], root: Path, targets: list[dict[str, Any]], args: argparse.Namespace
) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child-build", "--build-runs", str(args.build_runs)]
    command += ["--dbs"]
    for target in targets:
        command += [str(target["db"].resolve()), str(target["manifest"]["max_database_size"])]
    if args.profile:
        command.append("--profile")
    done = subprocess.run(
        command, cwd=root, env=db_env(env, targets[0]), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"the report.build child failed:\n{done.stderr}")
    measured: dict[str, Any] = json.loads(done.stdout)
    for target, warm in zip(targets, measured["warm"], strict=True):
        target["warm"] = warm
    measured["profile"] = done.stderr
    return measured


def measure_phases(env: dict[str, str], root: Path, runs: int) -> dict[str, float]:
    """Median of each phase over `runs` fresh children (see PHASES_CODE)."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", PHASES_CODE],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise BenchError(f"the phases child failed:\n{done.stderr}")
        phases = json.loads(done.stdout)
        phases[REST] = wall - sum(phases.values())
        phases[WALL] = wall
        samples.append(phases)
    return {name: statistics.median(s[name] for s in samples) for name in samples[0]}


REST = "interpreter start, site, exit (the child's wall minus the above)"
WALL = "wall of the child"


def importtime(runner: Runner, runs: int) -> dict[str, tuple[float, float]]:
    """module -> (median self ms, median cumulative ms) of `python -X importtime` + report."""
    samples = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", str(runner.script), "report"],
            cwd=runner.root,
            env=runner.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(f"-X importtime run failed: {done.stderr[-2000:]}")
        found = {}
        for line in done.stderr.splitlines():
            if not line.startswith("import time:") or "[us]" in line:
                continue
            own, cumulative, name = line[len("import time:") :].split("|")
            found[name.rstrip()] = (int(own), int(cumulative))
        samples.append(found)
    names = set().union(*samples)
    return {
        name: (
            statistics.median(s[name][0] for s in samples if name in s) / 1000,
            statistics.median(s[name][1] for s in samples if name in s) / 1000,
        )
        for name in names
    }


# -- the whole run ------------------------------------------------------------------------------


def own_hwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_build:
        return child_build(args)
    if not Path("/proc/self/status").exists():
        print("bench_report: error: peak RSS needs Linux's /proc (VmHWM)", file=sys.stderr)
        return 2
    try:
        script = find_console_script()
        targets = [
            {
                "label": "full",
                "db": args.db,
                "manifest": ensure_database(args.db, args.scale, args.seed, args.rebuild),
            }
        ]
        if not args.no_compare:
            small_scale = round(args.scale * SMALL_FACTOR, 6)
            manifest = ensure_database(args.small_db, small_scale, args.seed, args.rebuild)
            targets.append({"label": "small", "db": args.small_db, "manifest": manifest})
        from agent_tracker.report import parse_day

        since = parse_day("30d", date.today())  # as the CLI works out `--since 30d`
        for target in targets:
            size = target["manifest"]["max_database_size"]
            target["since"] = since
            target["day_records"] = day_records(target["db"], size)
            target["day_records_30d"] = day_records(target["db"], size, since)
        with tempfile.TemporaryDirectory(prefix="agent-tracker-bench-report-") as tmp:
            root = Path(tmp)
            env = base_env(root, args.write_bytecode)
            hwm_script = make_hwm_script(script, root)
            runners = [Runner(root, db_env(env, t), script, hwm_script) for t in targets]
            measure_cli(runners, targets, args.runs, args.warmups)
            built = measure_build(env, root, targets, args)
            built["phases"] = measure_phases(db_env(env, targets[0]), root, args.runs)
            imports = importtime(runners[0], args.importtime_runs)
        code = report(args, targets, built, imports, own_hwm_kib())
        if code != 0 and not args.profile:
            # A target was missed: show where report.build spends its time.
            args.profile = True
            with tempfile.TemporaryDirectory(prefix="agent-tracker-bench-report-") as tmp:
                env = base_env(Path(tmp), args.write_bytecode)
                built["profile"] = measure_build(env, Path(tmp), targets[:1], args)["profile"]
        if args.profile:
            print()
            print("cProfile of one report.build (default query) on the full database:")
            print(built["profile"].rstrip())
    except BenchError as exc:
        print(f"bench_report: error: {exc}", file=sys.stderr)
        return 2
    return code


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def _mb(kib: float) -> str:
    return f"{kib * 1024 / 1e6:.1f}"


def describe(target: dict[str, Any]) -> str:
    m = target["manifest"]
    e = m["events"]
    return (
        f"{target['db']}: scale {m['scale']:g} (seed {m['seed']}, built {m['built_at']}): "
        f"{m['events_total']:,} events ({e['tool']:,} tool calls, {e['command']:,} commands, "
        f"{e['commit']:,} commits, {e['grade']:,} grades), {m['setups']} setups, "
        f"{m['projects']} projects, {m['active_days']} active days of {DAYS}, "
        f"{m['used_bytes'] / 1e6:.0f} MB; {target['day_records']:,} day: records "
        f"({target['day_records_30d']:,} from {target['since']} on)"
    )


def report(
    args: argparse.Namespace,
    targets: list[dict[str, Any]],
    built: dict[str, Any],
    imports: dict[str, tuple[float, float]],
    parent_hwm_kib: int,
) -> int:
    full = targets[0]
    small = targets[1] if len(targets) > 1 else None
    cli = full["cli"]
    print(f"report benchmark: {machine()}")
    print(
        f"{args.runs} timed runs of each command after {args.warmups} warm-up(s), stdout to a "
        f"pipe, interleaved across commands and databases; install: "
        f"{'editable' if installed_editable() else 'regular'}; bytecode cache: "
        f"{'on' if args.write_bytecode else 'as the environment says'}"
    )
    print(f"database:   {describe(full)}")
    if small is not None:
        print(f"comparison: {describe(small)}")
    print()
    base = statistics.median(cli["--version"]["seconds"])
    headers = ["agent-tracker ...", "median ms", "max ms", "- --version", "peak RSS MB"]
    if small is not None:
        headers.append(f"median ms, {small['manifest']['scale']:g}x events")
    rows = []
    for label, _argv, _checked in COMMANDS:
        slot = cli[label]
        median = statistics.median(slot["seconds"])
        row = [
            label,
            _ms(median),
            _ms(max(slot["seconds"])),
            "" if label == "--version" else f"+{_ms(median - base)}",
            _mb(max(slot["hwm_kib"])),
        ]
        if small is not None:
            row.append(_ms(statistics.median(small["cli"][label]["seconds"])))
        rows.append(row)
    print(table(headers, rows))
    maxrss = max(max(slot["maxrss_kib"]) for t in targets for slot in t["cli"].values())
    print(
        f"peak RSS: the child's own VmHWM, largest of {args.runs} runs (of the installed "
        f"script's text plus an atexit hook). Not wait4's ru_maxrss of the timed runs (up to "
        f"{_mb(maxrss)} MB): that includes the peak of the process that spawned them "
        f"(this benchmark's VmHWM: {_mb(parent_hwm_kib)} MB)."
    )

    phases = built["phases"]
    wall = statistics.median(cli["report"]["seconds"])
    print()
    print(
        f"Where the time of `agent-tracker report` goes: `python -c` running cli.run(['report'])"
        f" in a fresh process, timed by phase, median of {args.runs} (the console script adds "
        "`import re` and little else):"
    )
    rows = [[name, f"{seconds * 1000:.0f}"] for name, seconds in phases.items()]
    print(table(["phase", "ms"], rows))
    print()
    print(
        f"report.build alone in a warm process (median of {args.build_runs}, databases "
        "alternating), and rendering its result:"
    )
    rows = []
    for target in targets:
        for name, q in target["warm"].items():
            records = target["day_records"] if name == "all" else target["day_records_30d"]
            rows.append(
                [
                    f"{target['manifest']['events_total']:,} events, {name}",
                    f"{records:,}",
                    f"{q['build'] * 1000:.1f}",
                    f"{q['build'] / max(records, 1) * 1e6:.1f}",
                    f"{q['render'] * 1000:.1f}",
                    f"{q['json'] * 1000:.1f}",
                ]
            )
    print(
        table(["query", "day records", "build ms", "us/record", "text table ms", "json ms"], rows)
    )
    ok = True
    if small is not None:
        events_ratio = full["manifest"]["events_total"] / small["manifest"]["events_total"]
        records_ratio = full["day_records"] / max(small["day_records"], 1)
        build_ratio = full["warm"]["all"]["build"] / small["warm"]["all"]["build"]
        wall_ratio = wall / statistics.median(small["cli"]["report"]["seconds"])
        print(
            f"{events_ratio:.0f}x the events, {records_ratio:.2f}x the day records: "
            f"report.build {build_ratio:.2f}x the time, `agent-tracker report` {wall_ratio:.2f}x"
        )
        scaling_ok = build_ratio <= args.target_event_ratio
        ok &= scaling_ok
    if imports:
        _print_imports(imports, args.importtime_runs)
    print()
    for label, _argv, checked in COMMANDS:
        if not checked:
            continue
        seconds = statistics.median(cli[label]["seconds"])
        mb = max(cli[label]["hwm_kib"]) * 1024 / 1e6
        time_ok = seconds <= args.target_seconds
        mem_ok = mb <= args.target_mb
        ok &= time_ok and mem_ok
        print(
            f"agent-tracker {label}: {seconds:.3f} s  target <= {args.target_seconds:g} s  "
            f"{'PASS' if time_ok else 'FAIL'};  peak {mb:.1f} MB  target <= "
            f"{args.target_mb:g} MB  {'PASS' if mem_ok else 'FAIL'}"
        )
    if small is not None:
        print(
            f"report.build with {events_ratio:.0f}x the events: {build_ratio:.2f}x the time  "
            f"target <= {args.target_event_ratio:g}x  {'PASS' if scaling_ok else 'FAIL'}"
        )
    return 0 if ok else 1


def _print_imports(imports: dict[str, tuple[float, float]], runs: int) -> None:
    # `-X importtime` indents a module's name by its nesting depth: one space is the top.
    top_level = {n.strip(): v for n, v in imports.items() if not n.startswith("  ")}
    total = sum(own for own, _ in imports.values())
    packages: dict[str, float] = {}
    for name, (own, _) in imports.items():
        root = name.strip().split(".")[0]
        packages[root] = packages.get(root, 0.0) + own
    ranked = sorted(packages.items(), key=lambda item: -item[1])[:8]
    print()
    print(
        f"imports of `agent-tracker report` (median of {runs} `-X importtime` runs): "
        f"{total:.0f} ms in {len(imports)} modules; by top-level package (sum of self times):"
    )
    print("  " + ", ".join(f"{name} {ms:.0f}" for name, ms in ranked))
    outer = sorted(top_level.items(), key=lambda item: -item[1][1])[:6]
    print(
        "  outermost imports by cumulative ms: "
        + ", ".join(f"{name} {cum:.0f}" for name, (_, cum) in outer)
    )


if __name__ == "__main__":
    sys.exit(main())
