"""The team pool at scale: fifty members, each a generated year of heavy use (issue 12).

One member's year is the report benchmark's database (`gen_history.py`, built through the
real capture -> journal -> flush path, at --scale 1: 100,000 commits, 200,000 grade events,
2.2M tool calls and commands, 50 projects, 20 setups). Each of --members members gets that
year's facts with their own machine id (usage keys) and their own commit hashes (so nothing
collides), on the same 50 projects (a team shares its repositories); what a sync would not
share is dropped (subjects, sessions) and projects are sent as their opaque pseudonym.

Measured, against a PostgreSQL server of the benchmark's own (tests/pgserver.py, durable
settings: fsync on, shared_buffers 1GB; 127.0.0.1 only):

- first push per member: everything but the last day, one `server.push` (one transaction);
- a later push of one day's work: the last day's facts of a member (target < 1 s);
- the team report: `server.cells` + `server.projects` + the ranking (`report._collect` and
  `ranking.rank`, as `report --team` uses them), for the whole team and for one member
  (target < 2 s);
- server-side table sizes (`pg_total_relation_size`).

Prints a table; exit 0 when both targets are met, 1 when one is missed, 2 when it cannot
run. `--members 3 --scale 0.05` is a quick smoke run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # tests/pgserver.py: the server fixture

from _benchlib import isolated_env, machine, p90, table  # noqa: E402
from gen_history import default_out, read_manifest  # noqa: E402

DAY_TARGET = 1.0
REPORT_TARGET = 2.0
#: What a sync never sends (the client's allow-list drops them; see issue 12).
PRIVATE = ("subject", "session", "note", "author_time")
Fact = tuple[str, str, dict[str, Any]]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=50, help="team size (default 50)")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="gen_history.py scale of each year (default 1)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--day-pushes", type=int, default=5, help="members that push a day")
    parser.add_argument("--report-runs", type=int, default=5)
    args = parser.parse_args(argv)
    if not 1 <= args.members <= 500:
        parser.error("--members must lie in 1..500")
    return args


def ensure_year(scale: float, seed: int) -> Path:
    import subprocess

    path = default_out(scale)
    manifest = read_manifest(path)
    if manifest is None or manifest.get("seed") != seed:
        print(f"building {path} with gen_history.py (scale {scale:g}) ...", file=sys.stderr)
        command = [sys.executable, str(HERE / "gen_history.py"), "--out", str(path)]
        command += ["--scale", f"{scale:g}", "--seed", str(seed), "--force", "--quiet"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return path


def year_facts(path: Path) -> list[Fact]:
    """Every fact of the generated year, as a sync would share it."""
    from agent_tracker import events, facts
    from agent_tracker.store import LMDBDatabase

    db = LMDBDatabase.open_read(path, 2 * 1024**3)
    if db is None:
        raise SystemExit(f"team_bench: no database at {path}")
    found: list[Fact] = []
    with db:
        for prefix, kind in facts.PREFIX_KIND.items():
            for key, fact in db.scan(prefix):
                body = {k: v for k, v in fact.items() if k not in PRIVATE}
                body["project"] = events.project_id(fact["project"])
                found.append((key, kind, body))
    return found


def _new_hash(member: int, old: str) -> str:
    return hashlib.blake2b(f"{member}:{old}".encode(), digest_size=20).hexdigest()


def member_facts(year: list[Fact], member: int) -> Iterator[Fact]:
    """The year as member `member` recorded it: their own machine id and commit hashes."""
    from agent_tracker import events

    dbid = events.short_hash("bench-machine", str(member))
    for key, kind, body in year:
        parts = key.split(":")
        if kind == "usage":
            parts[1] = dbid
            yield ":".join(parts), kind, body
            continue
        new = dict(body, hash=_new_hash(member, body["hash"]))
        for field in ("by_hash", "reverts"):
            if field in new:
                new[field] = _new_hash(member, new[field])
        parts[2] = new["hash"]
        yield ":".join(parts), kind, new


def split_last_day(facts_: Iterator[Fact]) -> tuple[list[Fact], list[Fact], str]:
    from agent_tracker import facts

    everything = list(facts_)
    # The last day somebody worked (usage recorded), not a day with a late grade only.
    last = max(body["day"] for _, kind, body in everything if kind == "usage")
    before = [f for f in everything if facts.day_of(f[1], f[2]) < last]
    day = [f for f in everything if facts.day_of(f[1], f[2]) == last]
    return before, day, last


class _PoolView:
    """The `scan` interface report._collect reads, over the server's cells and projects."""

    def __init__(self, cells: list[dict[str, Any]], projects: dict[str, Any]) -> None:
        self.cells = cells
        self.projects = projects

    def scan(
        self, prefix: str, start: str | None = None, stop: str | None = None
    ) -> Iterator[tuple[str, Any]]:
        if prefix == "project:":
            yield from ((f"project:{k}", v) for k, v in self.projects.items())
        elif prefix == "day:":
            yield from ((f"day:{c['day']}", c) for c in self.cells)


def team_report(conn: Any, member: str | None) -> tuple[float, int, str]:
    from agent_tracker import report
    from agent_tracker.ranking import rank
    from agent_tracker.team import server

    started = time.perf_counter()
    cells = server.cells(conn, member=member)
    projects = server.projects(conn, member=member)
    query = report.Query()
    built = report.Report(query=query, since=None, until=None)
    report._collect(built, _PoolView(cells, projects), query)  # type: ignore[arg-type]
    built.ranking = rank(built.groups, query.by, query.top)
    took = time.perf_counter() - started
    return took, len(cells), built.recommendation


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from pgserver import PgServer, find_binaries

        from agent_tracker.team import server
    except ImportError as exc:
        print(f"team_bench: cannot run: {exc} (pip install -e '.[dev]')", file=sys.stderr)
        return 2
    binaries = find_binaries()
    if binaries is None:
        print("team_bench: no PostgreSQL server binaries (apt-get install postgresql)")
        return 2
    root = Path(tempfile.mkdtemp(prefix="agent-tracker-team-bench-"))
    os.environ.update(isolated_env(root))
    year_path = ensure_year(args.scale, args.seed)
    started = time.perf_counter()
    year = year_facts(year_path)
    print(f"one member's year: {len(year):,} facts ({time.perf_counter() - started:.1f} s to read)")
    pg = PgServer(binaries)
    pg.options = "-c max_connections=40 -c shared_buffers=1GB -c max_wal_size=8GB"
    try:
        pg.init()
        pg.start()
        pg.create_role("tracker")
        dbname = pg.create_database()
        conn = server.connect(pg.url(dbname))
        server.ensure_schema(conn)
        return run(args, conn, pg, dbname, year)
    finally:
        pg.cleanup()


def run(args: argparse.Namespace, conn: Any, pg: Any, dbname: str, year: list[Fact]) -> int:
    from agent_tracker.team import server

    first: list[float] = []
    held: dict[int, list[Fact]] = {}
    last = ""
    for n in range(args.members):
        before, day, last = split_last_day(member_facts(year, n))
        if n < args.day_pushes:
            held[n] = day
        else:
            before += day
        t0 = time.perf_counter()
        result = server.push(conn, f"member-{n:02d}", f"machine-{n:02d}", before)
        first.append(time.perf_counter() - t0)
        print(
            f"  member {n + 1}/{args.members}: first push of {len(before):,} facts in "
            f"{first[-1]:.1f} s ({result.added:,} added, {result.members} cells recomputed)",
            file=sys.stderr,
            flush=True,
        )
    day_times: list[float] = []
    day_sizes: list[int] = []
    for n, day in held.items():
        t0 = time.perf_counter()
        server.push(conn, f"member-{n:02d}", f"machine-{n:02d}", day)
        day_times.append(time.perf_counter() - t0)
        day_sizes.append(len(day))
    again = time.perf_counter()
    server.push(conn, "member-00", "machine-00", held.get(0, []))
    again = time.perf_counter() - again
    team_runs = [team_report(conn, None) for _ in range(args.report_runs)]
    member_runs = [team_report(conn, "member-00") for _ in range(args.report_runs)]
    sizes = table_sizes(conn)
    team_time = statistics.median(t for t, _, _ in team_runs)
    rows = [
        ["members x facts each", f"{args.members} x {len(year):,}", ""],
        [
            "first push per member (median / p90 / max)",
            f"{statistics.median(first):.1f} / {p90(first):.1f} / {max(first):.1f} s",
            "",
        ],
        [
            f"push of one day's work ({last}, {statistics.median(day_sizes or [0]):,.0f} facts; "
            "median / max)",
            f"{statistics.median(day_times or [0]):.2f} / {max(day_times or [0]):.2f} s",
            f"< {DAY_TARGET:g} s",
        ],
        ["the same day pushed again (no change)", f"{again:.2f} s", ""],
        [
            f"team report: cells + projects + ranking ({team_runs[0][1]:,} cells; median)",
            f"{team_time:.2f} s",
            f"< {REPORT_TARGET:g} s",
        ],
        [
            f"--member report ({member_runs[0][1]:,} cells; median)",
            f"{statistics.median(t for t, _, _ in member_runs):.2f} s",
            "",
        ],
    ]
    rows += [[f"table {name}", f"{size / 1024**2:,.0f} MiB", ""] for name, size in sizes]
    print(table(["what", "measured", "target"], rows))
    print(f"recommendation: {team_runs[0][2]}")
    print(machine())
    ok = (max(day_times or [0]) < DAY_TARGET) and team_time < REPORT_TARGET
    return 0 if ok else 1


def table_sizes(conn: Any) -> list[tuple[str, int]]:
    rows = conn.execute(
        "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'agent_tracker' AND c.relkind = 'r' ORDER BY 2 DESC"
    ).fetchall()
    total = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    return [(name, size) for name, size in rows] + [("(whole database)", total)]


if __name__ == "__main__":
    sys.exit(main())
