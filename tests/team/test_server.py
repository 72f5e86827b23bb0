"""agent_tracker.team.server against a real PostgreSQL server (tests/pgserver.py).

The reference for every total is a local `import` of the same facts in the same order
(tests/team/serverfacts.py): the pool must apply the merge rules `import` applies.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pgserver import PgServer

from agent_tracker import config, errors, report, totals
from agent_tracker.team import cells, schema, server
from team.serverfacts import Push, comparable, history, imported, machines_of, make

TEAM = {"ana": 2, "bo": 1, "cy": 1}  # three members on four machines


@pytest.fixture
def conn(pg_url: str) -> Iterator[Any]:
    connection = server.connect(pg_url)
    server.ensure_schema(connection)
    try:
        yield connection
    finally:
        connection.close()


def push_all(conn: Any, pushes: list[Push]) -> list[server.PushResult]:
    return [server.push(conn, member, dbid, batch) for member, dbid, batch in pushes]


def expected(pushes: list[Push]) -> tuple[dict[Any, Any], dict[str, Any]]:
    days, projects = imported(config.load(), pushes)
    return comparable(days), projects


def assert_pool_equals(conn: Any, pushes: list[Push], member: str | None = None) -> None:
    days, projects = expected(pushes)
    assert comparable(server.cells(conn, member=member)) == days
    pooled = server.projects(conn, member=member)
    assert set(pooled) == set(projects)
    for identity, record in projects.items():
        for key in ("commits", "tool_calls", "commit_tokens", "exts", "name"):
            assert pooled[identity][key] == record[key], (identity, key)


# -- the schema --------------------------------------------------------------------------------


def test_ensure_schema_creates_the_tables_once_and_says_its_version(pg_url: str) -> None:
    with server.connect(pg_url) as conn:
        assert server.ensure_schema(conn) == schema.SCHEMA_VERSION
        assert server.ensure_schema(conn) == schema.SCHEMA_VERSION
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema.SCHEMA,),
            )
        }
        assert tables == {"meta", "member", "machine", "fact", "cell", "summary"}
        assert server.members(conn) == []
        assert server.cells(conn) == []


def test_cell_columns_are_every_count_of_a_day_record() -> None:
    record = totals.day_record("h", "a", "m", "p", "2026-01-01", None)
    counts = {k for k, v in record.items() if isinstance(v, int) and not isinstance(v, bool)}
    assert counts == set(schema.CELL_COUNTS)
    assert list(schema.MIX_COLUMNS) == list(record["mix"])
    assert set(schema.SOURCE_COLUMNS) == set(report.SOURCES)
    assert max(schema.MIGRATIONS) == schema.SCHEMA_VERSION


def test_a_source_this_version_does_not_know_is_kept_and_summed(conn: Any) -> None:
    setup = SETUP
    for n, source in enumerate(["from-the-future", "from-the-future", "flag"]):
        fact = {**setup, "hash": f"{n:040x}", "ts": 1_780_000_000 + n, "source": source}
        server.push(conn, f"member{n}", f"{n:016x}", [make("commit", fact)])
    [cell] = server.cells(conn)
    assert cell["sources"] == {"from-the-future": 2, "flag": 1}
    assert cell["commits"] == 3


def test_reading_before_init_says_to_run_team_init(pg_url: str) -> None:
    with server.connect(pg_url) as conn, pytest.raises(server.TeamError) as caught:
        server.cells(conn)
    assert "team init" in str(caught.value)
    assert caught.value.exit_code == errors.EXIT_TEAM_SCHEMA


# -- merging -----------------------------------------------------------------------------------


def test_the_pool_equals_an_import_of_every_push(conn: Any) -> None:
    pushes = history(1, machines_of(TEAM))
    results = push_all(conn, pushes)
    assert sum(r.added for r in results) > 100
    assert sum(r.updated for r in results) > 0  # grown usage counts and newer grades
    assert_pool_equals(conn, pushes)
    assert server.members(conn) == sorted(TEAM)


def test_pushing_everything_again_changes_nothing(conn: Any) -> None:
    pushes = history(2, machines_of(TEAM))
    push_all(conn, pushes)
    before = server.cells(conn)
    again = push_all(conn, pushes)
    assert sum(r.added + r.updated for r in again) == 0
    assert sum(r.projects for r in again) == 0  # nothing changed: nothing recomputed
    assert server.cells(conn) == before


def test_the_order_of_pushes_does_not_matter(conn: Any, pg_server: PgServer) -> None:
    pushes = history(3, machines_of(TEAM))
    shuffled = list(pushes)
    random.Random(3).shuffle(shuffled)
    push_all(conn, shuffled)
    assert_pool_equals(conn, pushes)


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_facts_pushed_one_by_one_in_any_order_give_the_same_pool(conn: Any, seed: int) -> None:
    # Every push recomputes only the members and days it touched: a late grade, a late
    # amendment, a commit arriving after its grades must still land in the right cells.
    pushes = history(seed, machines_of(TEAM), commits=8)
    single = [(member, dbid, [fact]) for member, dbid, batch in pushes for fact in batch]
    random.Random(seed).shuffle(single)
    push_all(conn, single)
    assert_pool_equals(conn, pushes)


def test_one_members_cells_are_that_members_facts(conn: Any) -> None:
    pushes = history(4, machines_of(TEAM))
    push_all(conn, pushes)
    # bo's own commits, usage and the grades of them (whoever gave them); bo's grades of
    # teammates' commits count for those teammates.
    everything = comparable(server.cells(conn))
    mine = [comparable(server.cells(conn, member=m)) for m in TEAM]
    summed: dict[Any, dict[str, Any]] = {}
    for found in mine:
        for key, cell in found.items():
            if key not in summed:
                summed[key] = json.loads(json.dumps(cell))
                continue
            for name in schema.CELL_COUNTS:
                summed[key][name] += cell[name]
            for grade, n in cell["mix"].items():
                summed[key]["mix"][grade] += n
            for source, n in cell["sources"].items():
                summed[key]["sources"][source] = summed[key]["sources"].get(source, 0) + n
    assert summed == everything


#: The one setup and project of the small cases below.
SETUP = {"harness": "h", "agent": "a", "model": "m", "project": "p"}


def test_the_newer_grade_wins_whichever_arrives_first(conn: Any) -> None:
    commit = make(
        "commit",
        {
            **SETUP,
            "hash": "ab" * 20,
            "ts": 1_780_000_000,
            "source": "flag",
        },
    )
    old = make(
        "grade",
        {
            **SETUP,
            "hash": "ab" * 20,
            "by": "user",
            "grade": -1,
            "ts": 1_780_000_100,
        },
    )
    new = make("grade", dict(old[2], grade=5, ts=1_780_000_200))
    server.push(conn, "ana", "a" * 16, [commit, new])
    result = server.push(conn, "bo", "b" * 16, [old])
    assert (result.added, result.updated, result.unchanged) == (0, 0, 1)
    [cell] = server.cells(conn)
    assert (cell["score"], cell["mix"]["5"], cell["user_sum"]) == (5, 1, 5)
    result = server.push(
        conn, "bo", "b" * 16, [make("grade", dict(old[2], grade=2, ts=1_780_000_300))]
    )
    assert result.updated == 1
    [cell] = server.cells(conn)
    assert (cell["score"], cell["mix"]["5"], cell["mix"]["2"]) == (2, 0, 1)


def test_usage_counts_keep_the_largest_and_an_amended_commit_never_returns(conn: Any) -> None:
    setup = SETUP
    usage = make("usage", {**setup, "day": "2026-05-28", "tool_calls": 9, "commands": 1}, "c" * 16)
    server.push(conn, "ana", "c" * 16, [make("usage", dict(usage[2], tool_calls=12), "c" * 16)])
    server.push(conn, "ana", "c" * 16, [usage])  # an older snapshot
    first = make("commit", {**setup, "hash": "cd" * 20, "ts": 1_780_000_000})
    amended = make("commit", {**setup, "hash": "ef" * 20, "ts": 1_780_000_060})
    mark = make("replaced", {**setup, "hash": "cd" * 20, "by_hash": "ef" * 20, "ts": 1_780_000_060})
    server.push(conn, "ana", "c" * 16, [first])
    server.push(conn, "ana", "c" * 16, [mark, amended])
    server.push(conn, "ana", "c" * 16, [first])  # a stale retry
    commits = sum(cell["commits"] for cell in server.cells(conn))
    tools = sum(cell["tool_calls"] for cell in server.cells(conn))
    assert (commits, tools) == (1, 12)


def test_facts_that_are_not_facts_are_refused_and_nothing_is_written(conn: Any) -> None:
    good = make(
        "commit",
        {
            **SETUP,
            "hash": "ab" * 20,
            "ts": 1_780_000_000,
        },
    )
    bad = ("commit:xx:abab", "commit", {"project": "p"})
    with pytest.raises(server.TeamError, match="damaged"):
        server.push(conn, "ana", "a" * 16, [good, bad])
    with pytest.raises(server.TeamError, match="key"):
        server.push(conn, "ana", "a" * 16, [(good[0], "grade", good[2])])
    assert list(server.iter_facts(conn)) == []


# -- concurrency and crashes -------------------------------------------------------------------

PUSHER = r"""
import json, sys
from agent_tracker.team import server
url, path = sys.argv[1], sys.argv[2]
conn = server.connect(url)
try:
    for member, dbid, batch in json.load(open(path)):
        result = server.push(conn, member, dbid, [tuple(f) for f in batch])
        print(json.dumps(result.as_dict()), flush=True)
except server.TeamError as exc:
    print(exc, file=sys.stderr)
    sys.exit(exc.exit_code)
"""


def pusher(url: str, pushes: list[Push], tmp: Path, name: str) -> subprocess.Popen[str]:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(pushes))
    env = {k: v for k, v in os.environ.items() if not k.startswith("COV")}
    return subprocess.Popen(
        [sys.executable, "-c", PUSHER, url, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_eight_pushes_at_once_give_exact_totals(conn: Any, pg_url: str, tmp_path: Path) -> None:
    machines = machines_of({f"m{n}": 1 for n in range(8)})
    pushes = history(5, machines, commits=25)
    per_machine = [[p for p in pushes if p[1] == dbid] for _, dbid in machines]
    workers = [pusher(pg_url, mine, tmp_path, f"w{n}") for n, mine in enumerate(per_machine)]
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
    assert_pool_equals(conn, pushes)


def test_a_push_killed_anywhere_then_pushed_again_gives_exact_totals(
    conn: Any, pg_url: str, pg_server: PgServer, tmp_path: Path
) -> None:
    pushes = history(6, machines_of(TEAM), commits=60)
    rng = random.Random(6)
    killed = 0
    for attempt in range(6):
        worker = pusher(pg_url, pushes, tmp_path, f"k{attempt}")
        time.sleep(rng.uniform(0.05, 1.2))
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            killed += 1
        worker.communicate(timeout=60)
    assert killed  # at least one push died on its way
    push_all(conn, pushes)
    assert_pool_equals(conn, pushes)


def test_a_push_held_open_then_killed_commits_nothing(
    conn: Any, pg_url: str, pg_server: PgServer, tmp_path: Path
) -> None:
    pushes = history(7, machines_of({"ana": 1}))
    project = sorted({fact[2]["project"] for fact in pushes[0][2]})[0]
    with pg_server.admin(pg_url.rsplit("/", 1)[1]) as admin:  # the push waits at this lock
        admin.execute("BEGIN")
        admin.execute("SELECT pg_advisory_xact_lock(%s)", (cells.project_lock(project),))
        worker = pusher(pg_url, pushes[:1], tmp_path, "held")
        _wait_for(lambda: _waiting_on_lock(admin), "the push to reach the project lock")
        worker.send_signal(signal.SIGKILL)
        worker.communicate(timeout=30)
        admin.execute("ROLLBACK")
    assert list(server.iter_facts(conn)) == []
    push_all(conn, pushes)
    assert_pool_equals(conn, pushes)


def test_the_server_stopped_during_a_push_then_a_push_again_gives_exact_totals(
    pg_url: str, pg_server: PgServer, tmp_path: Path
) -> None:
    pushes = history(8, machines_of(TEAM))
    project = sorted({fact[2]["project"] for fact in pushes[0][2]})[0]
    dbname = pg_url.rsplit("/", 1)[1]
    with server.connect(pg_url) as conn:
        server.ensure_schema(conn)
    try:
        with pg_server.admin(dbname) as admin:
            admin.execute("BEGIN")
            admin.execute("SELECT pg_advisory_xact_lock(%s)", (cells.project_lock(project),))
            worker = pusher(pg_url, pushes[:1], tmp_path, "stopped")
            _wait_for(lambda: _waiting_on_lock(admin), "the push to reach the project lock")
            threading.Thread(target=pg_server.stop, daemon=True).start()
            _, err = worker.communicate(timeout=60)
    except Exception:  # noqa: BLE001 - the admin connection dies with the server
        pass
    finally:
        _wait_for(lambda: not (pg_server.data / "postmaster.pid").exists(), "the server to stop")
        pg_server.start()
    assert worker.returncode == errors.EXIT_TEAM_UNREACHABLE, err
    assert "cannot reach the team server 127.0.0.1" in err
    with server.connect(pg_url) as conn:
        assert list(server.iter_facts(conn)) == []
        push_all(conn, pushes)
        assert_pool_equals(conn, pushes)


def _waiting_on_lock(admin: Any) -> bool:
    row = admin.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    ).fetchone()
    return bool(row[0])


def _wait_for(condition: Any, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# -- bad connections ---------------------------------------------------------------------------


def test_a_wrong_password_is_refused_with_exit_77_and_the_password_never_shown(
    pg_server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg_server.create_role("pat", password="right-secret")
    dbname = pg_server.create_database(owner="pat")
    monkeypatch.setenv("PGPASSWORD", "wrong-secret")
    with pytest.raises(server.TeamError) as caught:
        server.connect(pg_server.url(dbname, user="pat"))
    message = str(caught.value)
    assert caught.value.exit_code == errors.EXIT_TEAM_AUTH
    assert f"127.0.0.1:{pg_server.port}/{dbname}" in message
    assert "secret" not in message
    assert "\n" not in message
    monkeypatch.setenv("PGPASSWORD", "right-secret")
    server.connect(pg_server.url(dbname, user="pat")).close()


def test_nothing_listening_is_unreachable_with_exit_69() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(server.TeamError) as caught:
            server.connect(f"postgresql://tracker@127.0.0.1:{port}/pool", timeout=3)
    assert caught.value.exit_code == errors.EXIT_TEAM_UNREACHABLE
    assert f"cannot reach the team server 127.0.0.1:{port}/pool" in str(caught.value)


def test_a_server_that_never_answers_times_out_with_exit_69() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts the connection, never says a word
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(server.TeamError) as caught:
            server.connect(f"postgresql://tracker@127.0.0.1:{port}/pool", timeout=2)
    assert caught.value.exit_code == errors.EXIT_TEAM_UNREACHABLE
    assert time.monotonic() - started < 15


def test_tls_required_by_us_and_refused_by_the_server_is_exit_77(pg_server: PgServer) -> None:
    url = pg_server.url(pg_server.create_database(), sslmode="require")
    with pytest.raises(server.TeamError) as caught:
        server.connect(url)
    assert caught.value.exit_code == errors.EXIT_TEAM_AUTH
    assert "SSL" in str(caught.value)
    assert "sslmode" in str(caught.value)


def test_a_server_older_than_supported_is_refused_with_exit_65(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No PostgreSQL 12 here: the seam `server_version` stands in for one.
    monkeypatch.setattr(server, "server_version", lambda conn: 120017)
    with server.connect(pg_url) as conn, pytest.raises(server.TeamError) as caught:
        server.ensure_schema(conn)
    assert caught.value.exit_code == errors.EXIT_TEAM_SCHEMA
    assert "PostgreSQL 12" in str(caught.value)
    assert "13 or newer" in str(caught.value)


def test_a_schema_newer_than_the_tool_is_refused_with_exit_65(
    conn: Any, pg_url: str, pg_server: PgServer
) -> None:
    with pg_server.admin(pg_url.rsplit("/", 1)[1]) as admin:
        admin.execute("UPDATE agent_tracker.meta SET value = '99' WHERE key = 'schema_version'")
    for attempt in (
        lambda: server.ensure_schema(conn),
        lambda: server.push(conn, "ana", "a" * 16, []),
        lambda: server.cells(conn),
    ):
        with pytest.raises(server.TeamError) as caught:
            attempt()
        assert caught.value.exit_code == errors.EXIT_TEAM_SCHEMA
        assert "schema version 99, newer than this agent-tracker's" in str(caught.value)


# -- privileges (docs/team-server.md) ----------------------------------------------------------


def test_a_member_role_with_the_documented_privileges_can_push_and_read(
    conn: Any, pg_url: str, pg_server: PgServer
) -> None:
    dbname = pg_url.rsplit("/", 1)[1]
    pg_server.create_role("member_one")
    with pg_server.admin(dbname) as admin:
        for statement in _documented_grants(dbname, "member_one"):
            admin.execute(statement)
    pushes = history(9, machines_of({"ana": 1}))
    with server.connect(pg_server.url(dbname, user="member_one")) as member:
        assert server.ensure_schema(member) == schema.SCHEMA_VERSION
        push_all(member, pushes)
    assert_pool_equals(conn, pushes)


def test_a_role_without_privileges_is_refused_with_exit_77(
    conn: Any, pg_url: str, pg_server: PgServer
) -> None:
    dbname = pg_url.rsplit("/", 1)[1]
    pg_server.create_role("stranger")
    with pg_server.admin(dbname) as admin:
        admin.execute(f'GRANT CONNECT ON DATABASE "{dbname}" TO stranger')
    with (
        server.connect(pg_server.url(dbname, user="stranger")) as other,
        pytest.raises(server.TeamError) as caught,
    ):
        server.cells(other)
    assert caught.value.exit_code == errors.EXIT_TEAM_AUTH
    assert "docs/team-server.md" in str(caught.value)


def _documented_grants(dbname: str, role: str) -> list[str]:
    """The grants of docs/team-server.md's "A member's role", read from the page itself."""
    page = (Path(__file__).parents[2] / "docs" / "team-server.md").read_text()
    block = page.split("<!-- member-grants -->", 1)[1].split("```sql", 1)[1].split("```", 1)[0]
    text = block.replace("agent_tracker_pool", dbname).replace("agent_tracker_member", role)
    return [s.strip() for s in text.split(";") if s.strip() and not s.strip().startswith("--")]


# -- psycopg stays out of everything else -------------------------------------------------------


def test_importing_the_server_module_does_not_import_psycopg() -> None:
    code = "import sys, agent_tracker.team.server; sys.exit('psycopg' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# -- the scale benchmark stays runnable --------------------------------------------------------


@pytest.mark.slow
def test_the_team_benchmark_runs_on_a_tiny_team(pg_server: PgServer) -> None:
    bench = Path(__file__).resolve().parents[2] / "bench" / "team_bench.py"
    done = subprocess.run(
        [sys.executable, str(bench), "--members", "2", "--scale", "0.01", "--day-pushes", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: a target missed (noisy CI)
    for row in ("first push per member", "push of one day's work", "team report", "table fact"):
        assert row in done.stdout
