"""Benchmark: the capture hot path against an empty console script.

Target: `agent-tracker track tool edit --agent build --model m`, run through the INSTALLED
console script, has a median wall time of at most 1.5x that of a console script whose
`main()` does nothing, in the same environment and the same run.

The baseline is the installed console script's own text with its import line pointed at a
temporary module `_bench_empty` whose `main()` returns 0; the folder holding that module is
on PYTHONPATH for both commands, so both pay for the same interpreter start, `site`, `.pth`
files, `import re` of the script wrapper and the same sys.path search. The two commands run
interleaved (A B, then B A) after warm-ups, inside a temporary git repository, with HOME and
every agent-tracker setting in a temporary folder.

Exit status: 0 when the target is met, 1 when it is missed, 2 when the benchmark could not run.
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
from importlib import metadata
from pathlib import Path

from _benchlib import (
    SCRIPT_NAME,
    BenchError,
    find_console_script,
    isolated_env,
    machine,
    p90,
    table,
)

IMPORT_LINE = "from agent_tracker.entry import main"
COMMAND = ["track", "tool", "edit", "--agent", "build", "--model", "m"]
TARGET_RATIO = 1.5
TOP_IMPORTS = 8


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Time `agent-tracker track tool ...` through the installed console script against "
            f"a console script with an empty main(). Target: median ratio <= {TARGET_RATIO}."
        ),
    )
    parser.add_argument(
        "-n", "--runs", type=int, default=40, help="timed runs of each command (default 40)"
    )
    parser.add_argument(
        "--warmups", type=int, default=3, help="untimed runs of each command first (default 3)"
    )
    parser.add_argument(
        "--target",
        type=float,
        default=TARGET_RATIO,
        help=f"highest accepted median ratio tracker/baseline (default {TARGET_RATIO})",
    )
    parser.add_argument(
        "--write-bytecode",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=(
            "let the child processes cache bytecode (unset PYTHONDONTWRITEBYTECODE, cache in "
            "a temporary PYTHONPYCACHEPREFIX) as an installed wheel would (default: on); "
            "--no-write-bytecode runs with the environment exactly as given"
        ),
    )
    parser.add_argument(
        "--importtime-runs",
        type=int,
        default=5,
        help="runs of `python -X importtime` to take the median of (default 5; 0 skips)",
    )
    args = parser.parse_args(argv)
    if args.runs < 2 or args.warmups < 1:
        parser.error("--runs must be at least 2 and --warmups at least 1")
    return args


def installed_editable() -> bool:
    try:
        raw = metadata.distribution("agent-tracker").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return False
    if not raw:
        return False
    info = json.loads(raw)
    return bool(info.get("dir_info", {}).get("editable"))


def make_baseline(script: Path, root: Path) -> tuple[Path, Path]:
    """(baseline script, module folder for PYTHONPATH): the same wrapper, an empty main()."""
    text = script.read_text(encoding="utf-8")
    if IMPORT_LINE not in text:
        raise BenchError(f"{script} does not contain the line {IMPORT_LINE!r}")
    modules = root / "modules"
    modules.mkdir()
    (modules / "_bench_empty.py").write_text("def main():\n    return 0\n", encoding="utf-8")
    bindir = root / "bin"
    bindir.mkdir()
    baseline = bindir / f"{SCRIPT_NAME}-empty"
    baseline.write_text(text.replace(IMPORT_LINE, "from _bench_empty import main"), "utf-8")
    baseline.chmod(0o755)
    return baseline, modules


def make_repo(root: Path, env: dict[str, str]) -> Path:
    repo = root / "repo"
    repo.mkdir()
    for args in (
        ["init", "-q"],
        ["remote", "add", "origin", "git@github.com:bench/app.git"],
    ):
        subprocess.run(["git", "-C", str(repo), *args], env=env, check=True)
    return repo


def run_once(command: list[str], repo: Path, env: dict[str, str]) -> float:
    """Wall time of one run in milliseconds; raises BenchError when it fails."""
    start = time.perf_counter_ns()
    done = subprocess.run(
        command, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    elapsed = (time.perf_counter_ns() - start) / 1e6
    if done.returncode != 0:
        raise BenchError(
            f"{' '.join(command)} exited {done.returncode}: {done.stderr.decode(errors='replace')}"
        )
    return elapsed


def importtime(command: list[str], repo: Path, env: dict[str, str]) -> dict[str, tuple[int, int]]:
    """module -> (self us, cumulative us) from one `python -X importtime` run."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *command],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"-X importtime run failed: {done.stderr}")
    found: dict[str, tuple[int, int]] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|")
        found[name.strip()] = (int(self_us), int(cumulative_us))
    return found


def import_report(
    tracker: list[str], baseline: list[str], repo: Path, env: dict[str, str], runs: int
) -> None:
    """Print the imports only the tracker pays for, largest cumulative time first."""
    samples = [importtime(tracker, repo, env) for _ in range(runs)]
    shared = set(importtime(baseline, repo, env))
    names = set(samples[0]).difference(shared)
    med = {
        name: (
            statistics.median(s[name][0] for s in samples if name in s),
            statistics.median(s[name][1] for s in samples if name in s),
        )
        for name in names
    }
    ranked = sorted(med.items(), key=lambda item: -item[1][1])[:TOP_IMPORTS]
    rows = [[name, f"{cum / 1000:.2f}", f"{own / 1000:.2f}"] for name, (own, cum) in ranked]
    extra = sum(own for own, _ in med.values()) / 1000
    print()
    print(
        f"Imports of the tracker command that the baseline does not make "
        f"(median of {runs} `-X importtime` runs; times nest, so cumulative includes children):"
    )
    print(table(["module", "cumulative ms", "self ms"], rows))
    by_self = sorted(med.items(), key=lambda item: -item[1][0])[:TOP_IMPORTS]
    print("largest self times: " + ", ".join(f"{n} {own / 1000:.2f}" for n, (own, _) in by_self))
    print(f"{len(names)} extra modules, {extra:.2f} ms of import time in total (sum of self)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        script = find_console_script()
        editable = installed_editable()
        with tempfile.TemporaryDirectory(prefix="agent-tracker-bench-") as tmp:
            root = Path(tmp)
            env = isolated_env(root)
            baseline, modules = make_baseline(script, root)
            env["PYTHONPATH"] = str(modules)
            if os.environ.get("PYTHONDONTWRITEBYTECODE") and editable:
                print(
                    "warning: PYTHONDONTWRITEBYTECODE is set and agent-tracker is installed "
                    "editable: without --write-bytecode its modules are compiled from source "
                    "on every run (unless a current __pycache__ happens to exist), which a "
                    "pip-installed wheel never does",
                    file=sys.stderr,
                )
            if args.write_bytecode:
                # Fair, not flattering: pip compiles a wheel's modules to .pyc at install time,
                # so an installed agent-tracker never compiles on start. An editable install
                # under PYTHONDONTWRITEBYTECODE would recompile our modules in every run. The
                # cache goes to a temporary prefix (not into the source tree) and serves both
                # commands alike; the warm-up runs below fill it before anything is timed.
                env.pop("PYTHONDONTWRITEBYTECODE", None)
                env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
            repo = make_repo(root, env)
            tracker_cmd = [str(script), *COMMAND]
            baseline_cmd = [str(baseline), *COMMAND]
            for _ in range(args.warmups):
                run_once(tracker_cmd, repo, env)
                run_once(baseline_cmd, repo, env)
            times: dict[str, list[float]] = {"tracker": [], "baseline": []}
            for i in range(args.runs):
                order = [("tracker", tracker_cmd), ("baseline", baseline_cmd)]
                for name, command in order if i % 2 == 0 else reversed(order):
                    times[name].append(run_once(command, repo, env))
            live = Path(env["AGENT_TRACKER_JOURNAL_DIR"]) / "live.jsonl"
            appended = sum(1 for x in live.read_bytes().splitlines() if x) if live.exists() else 0
            if appended != args.warmups + args.runs:
                raise BenchError(
                    f"expected {args.warmups + args.runs} journal lines, found {appended}"
                )
            report(args, times, editable)
            if args.importtime_runs > 0:
                import_report(tracker_cmd, baseline_cmd, repo, env, args.importtime_runs)
    except BenchError as exc:
        print(f"bench_capture: error: {exc}", file=sys.stderr)
        return 2
    ratio = statistics.median(times["tracker"]) / statistics.median(times["baseline"])
    return 0 if ratio <= args.target else 1


def report(args: argparse.Namespace, times: dict[str, list[float]], editable: bool) -> None:
    rows = [
        [
            name,
            f"{statistics.median(values):.1f}",
            f"{p90(values):.1f}",
            f"{min(values):.1f}",
        ]
        for name, values in (
            ("agent-tracker track tool", times["tracker"]),
            ("empty main() baseline", times["baseline"]),
        )
    ]
    ratio = statistics.median(times["tracker"]) / statistics.median(times["baseline"])
    verdict = "PASS" if ratio <= args.target else "FAIL"
    print(f"capture benchmark: {machine()}")
    print(
        f"{args.runs} interleaved runs each after {args.warmups} warm-ups; "
        f"install: {'editable' if editable else 'regular'}; "
        f"bytecode cache: {'on' if args.write_bytecode else 'as the environment says'}"
    )
    print()
    print(table(["command", "median ms", "p90 ms", "min ms"], rows))
    print()
    print(
        f"ratio of medians (tracker / baseline): {ratio:.2f}  "
        f"target <= {args.target:.2f}  {verdict}"
    )


if __name__ == "__main__":
    sys.exit(main())
