"""`agent-tracker team sync` and `report --team` end to end, as a person runs them.

Where bench/team_bench.py measures the server's side (`server.push`, the cells), this one
measures what a member waits for: the console script reading a year of heavy use from the
central LMDB database (gen_history.py's, copied), choosing what to push against the
watermark, and pushing it, against a PostgreSQL server of its own (tests/pgserver.py):

- the first sync of the whole year;
- a sync with nothing new (the cost of the selection alone: every fact read and digested);
- a sync of one day's work (a day of commits and grades imported first) (target < 1 s);
- `report --team --format json` (target < 2 s).

Run: `python bench/gen_history.py --out /tmp/history.lmdb` once, then
`python bench/team_sync_bench.py /tmp/history.lmdb`. Prints a table; exit 1 when a target
is missed, 2 when it cannot run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # tests/pgserver.py: the server fixture

TRACKER = str(Path(sys.executable).parent / "agent-tracker")
DAY_TARGET = 1.0
REPORT_TARGET = 2.0


def run(env: dict[str, str], *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [TRACKER, *args], env=env, capture_output=True, text=True, timeout=3600, check=False
    )
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"agent-tracker {' '.join(args)} failed: {done.stderr}")
    return took, done.stdout


def day_of_work(path: Path, commits: int) -> None:
    lines = []
    project = "github.com/bench/today"
    for n in range(commits):
        sha = f"{n:040x}"
        base = {"v": 2, "harness": "opencode", "agent": "build", "model": "m", "project": project}
        ts = time.time() - 3600 + n
        lines.append({**base, "kind": "commit", "hash": sha, "ts": ts, "source": "flag"})
        for by in ("agent", "user"):
            lines.append({**base, "kind": "grade", "hash": sha, "ts": ts + 1, "by": by, "grade": 2})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database", type=Path, help="a database made by gen_history.py")
    parser.add_argument("--day-commits", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if not (args.database / "data.mdb").exists():
        print(f"no database at {args.database}: run bench/gen_history.py first", file=sys.stderr)
        return 2
    import pgserver

    try:
        server = pgserver.start_server()
    except BaseException as exc:  # noqa: BLE001 - pytest.skip outside pytest
        print(f"cannot start PostgreSQL: {exc}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="team-sync-bench-"))
    try:
        home = work / "home"
        db = home / ".config" / "opencode" / "agent-tracker.lmdb"
        db.parent.mkdir(parents=True)
        shutil.copytree(args.database, db)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_TRACKER_", "PG"))}
        env.update(
            HOME=str(home),
            AGENT_TRACKER_TEAM_DATABASE_URL=server.url(server.create_database()),
            AGENT_TRACKER_TEAM_MEMBER="bench",
            AGENT_TRACKER_AUTO_SYNC="0",
            GIT_CONFIG_GLOBAL=os.devnull,
        )
        rows = []
        took, out = run(env, "team", "sync")
        rows.append(("first sync (whole year)", took, out.strip()))
        nothing = [run(env, "team", "sync")[0] for _ in range(args.runs)]
        rows.append(("sync, nothing new (median)", sorted(nothing)[len(nothing) // 2], ""))
        day = work / "day.jsonl"
        day_of_work(day, args.day_commits)
        run(env, "import", str(day))
        took, out = run(env, "team", "sync")
        rows.append(("sync of one day's work", took, out.strip()))
        reports = [run(env, "report", "--team", "--format", "json")[0] for _ in range(args.runs)]
        report_time = sorted(reports)[len(reports) // 2]
        rows.append(("report --team (median)", report_time, ""))
        for name, seconds, note in rows:
            print(f"{name:<30} {seconds:8.2f} s  {note}")
        day_time = rows[2][1]
        print(f"targets: day sync < {DAY_TARGET} s, report --team < {REPORT_TARGET} s")
        return 0 if day_time < DAY_TARGET and report_time < REPORT_TARGET else 1
    finally:
        server.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
