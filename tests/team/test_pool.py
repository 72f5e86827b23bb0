"""Pooling through a real PostgreSQL server, as people use it: the installed console script,
one throw-away HOME per machine, real git repositories with our hooks, real commits.

The oracle is the union computed by hand: the generator records what each machine did
(commits per setup, user grades, tool calls and commands), and `export` from every machine
`import`ed into one more HOME gives the personal report of the union, which the team report
must equal group for group (same ranking, same figures: the same method on the same facts).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pgserver import PgServer

pytestmark = pytest.mark.slow

TRACKER = str(Path(sys.executable).parent / "agent-tracker")
SETUPS = (
    ("opencode", "build", "anthropic/claude-sonnet-4-5"),
    ("claude-code", "default", "anthropic/claude-opus-4-1"),
    ("codex", "default", "openai/gpt-5-codex"),
)
GRADES = {"bad": -1, "neutral": 1, "good": 2, "excellence": 5}
SHARED_REMOTE = "https://github.com/team/app.git"
#: Figures of a group that must match the union exactly.
FIGURES = (
    "label",
    "rank",
    "commits",
    "user_graded",
    "user_mean",
    "expected_grade",
    "interval",
    "p_best",
    "agent_graded",
    "graded_commits",
    "score",
    "grades",
    "mix",
    "xp",
    "tool_calls",
    "commands",
    "reverted",
    "user_projects",
)


@dataclass
class Machine:
    name: str
    member: str
    home: Path
    url: str
    repos: dict[str, Path] = field(default_factory=dict)
    #: What this machine did, per setup label: commits, user grade sum and count, tools, cmds.
    did: dict[str, Counter[str]] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_PROCESS")}
        env.update(
            HOME=str(self.home),
            AGENT_TRACKER_TEAM_DATABASE_URL=self.url,
            AGENT_TRACKER_TEAM_MEMBER=self.member,
            AGENT_TRACKER_AUTO_SYNC="0",  # syncs happen when a test says so
        )
        env.update(extra)
        return env

    def run(
        self, *args: str, cwd: Path | None = None, check: bool = True, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [TRACKER, *args],
            cwd=cwd or self.home,
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{self.name}: agent-tracker {' '.join(args)}: {done.stderr}")
        return done

    def git(self, repo: Path, *args: str, **extra: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(repo), *args],
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
        return done.stdout.strip()

    def repo(self, name: str, remote: str | None) -> Path:
        if name not in self.repos:
            path = self.home / "src" / name
            path.mkdir(parents=True)
            self.git(path, "init", "-q", "-b", "main")
            if remote:
                self.git(path, "remote", "add", "origin", remote)
            self.run("hooks", "install", cwd=path)
            self.repos[name] = path
        return self.repos[name]

    def work(self, repo: Path, setup: tuple[str, str, str], step: int, grade: str | None) -> str:
        """Tool calls, a command and a real commit by `setup`, maybe graded by the user."""
        harness, agent, model = setup
        label = f"{agent}@{model} ({harness})"
        did = self.did.setdefault(label, Counter())
        as_agent = {
            "AGENT_TRACKER_HARNESS": harness,
            "AGENT_TRACKER_AGENT": agent,
            "AGENT_TRACKER_MODEL": model,
        }
        tools = 1 + step % 3
        for _ in range(tools):
            self.run("track", "tool", "edit", cwd=repo, **as_agent)
        self.run("track", "command", "pytest", cwd=repo, **as_agent)
        (repo / f"f{step}.py").write_text(f"x = {step}\n")
        self.git(repo, "add", "-A")
        self.git(repo, "commit", "-q", "-m", f"change {step} by {self.member}", **as_agent)
        sha = self.git(repo, "rev-parse", "HEAD")
        did["commits"] += 1
        did["tool_calls"] += tools
        did["commands"] += 1
        if grade is not None:
            # As a harness would (its setup in the environment): a grade that reaches the
            # journal before the background post-commit hook still counts for this setup.
            self.run("grade", grade, "--by", "user", "--commit", sha, cwd=repo, **as_agent)
            did["user_graded"] += 1
            did["user_sum"] += GRADES[grade]
        return sha

    def flush(self) -> None:
        out = self.run("flush").stdout
        assert "busy" not in out

    def sync(self, **extra: str) -> subprocess.CompletedProcess[str]:
        return self.run("team", "sync", **extra)

    def team_report(self, *args: str) -> dict[str, Any]:
        return json.loads(self.run("report", "--team", "--format", "json", *args).stdout)

    def report(self, *args: str) -> dict[str, Any]:
        return json.loads(self.run("report", "--format", "json", *args).stdout)


def make_machines(root: Path, url: str, layout: list[tuple[str, str]]) -> list[Machine]:
    machines = []
    for name, member in layout:
        home = root / name
        home.mkdir(parents=True)
        machines.append(Machine(name, member, home, url))
    return machines


FOUR = [("ada-laptop", "ada"), ("ada-desktop", "ada"), ("bob-box", "bob"), ("cy-mac", "cy")]


def generate(machines: list[Machine], seed: int, commits: int = 5) -> None:
    """Each machine works in the team's shared project and in a solo one of its own."""
    rng = random.Random(seed)
    for machine in machines:
        shared = machine.repo("app", SHARED_REMOTE)
        solo = machine.repo("solo", None)
        for step in range(commits):
            repo = shared if step % 2 == 0 else solo
            setup = SETUPS[rng.randrange(len(SETUPS))]
            grade = rng.choice([None, "bad", "neutral", "good", "excellence", "good"])
            machine.work(repo, setup, step, grade)
        machine.flush()


def union_by_hand(machines: list[Machine]) -> dict[str, Counter[str]]:
    total: dict[str, Counter[str]] = {}
    for machine in machines:
        for label, counts in machine.did.items():
            total.setdefault(label, Counter()).update(counts)
    return total


def union_report(tmp_path: Path, machines: list[Machine], *args: str) -> dict[str, Any]:
    """The personal report of every machine's facts imported into one more HOME."""
    oracle = Machine("oracle", "nobody", tmp_path / "oracle", machines[0].url)
    oracle.home.mkdir(exist_ok=True)
    files = []
    for machine in machines:
        path = tmp_path / f"{machine.name}.jsonl"
        path.write_text(machine.run("export").stdout)
        files.append(str(path))
    oracle.run("import", *files)
    return oracle.report(*args)


def figures(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [{key: group[key] for key in FIGURES} for group in report["groups"]]


def check_union(report: dict[str, Any], by_hand: dict[str, Counter[str]]) -> None:
    groups = {group["label"]: group for group in report["groups"]}
    assert set(groups) == set(by_hand)
    for label, counts in by_hand.items():
        group = groups[label]
        assert group["commits"] == counts["commits"], label
        assert group["tool_calls"] == counts["tool_calls"], label
        assert group["commands"] == counts["commands"], label
        assert group["user_graded"] == counts["user_graded"], label
        assert group["xp"] == counts["tool_calls"] + 2 * counts["commands"] + 5 * counts["commits"]
        if counts["user_graded"]:
            expected_mean = counts["user_sum"] / counts["user_graded"]
            assert group["user_mean"] == pytest.approx(expected_mean, abs=1e-3), label
    assert report["coverage"]["commits"] == sum(c["commits"] for c in by_hand.values())


def cells_snapshot(pg_server: PgServer, url: str) -> list[tuple[Any, ...]]:
    """Every day cell and fact on the server, for comparisons before and after."""
    dbname = url.rsplit("/", 1)[1].split("?", maxsplit=1)[0]
    with pg_server.admin(dbname) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) "
                "FROM information_schema.tables WHERE table_name IN ('cell', 'fact') "
                "AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
            ).fetchall()
        ]
        assert len(tables) == 2, tables
        found: list[tuple[Any, ...]] = []
        for table in tables:
            rows = conn.execute(f"SELECT to_jsonb(t) - 'synced_at' FROM {table} t").fetchall()
            found += sorted((table, json.dumps(row[0], sort_keys=True)) for row in rows)
    return found


# -- the pool ---------------------------------------------------------------------------------


def test_three_members_on_four_machines_see_one_ranking_equal_to_the_union(
    tmp_path: Path, pg_url: str
) -> None:
    machines = make_machines(tmp_path, pg_url, FOUR)
    generate(machines, seed=12, commits=6)
    assert "schema version" in machines[0].run("team", "init").stdout
    for machine in machines:
        line = machine.sync().stdout.strip()
        assert line.startswith("synced ")
        assert line.endswith(f"as member {machine.member}")
    reports = [machine.team_report() for machine in machines]
    first = figures(reports[0])
    assert first
    for other in reports[1:]:
        assert figures(other) == first  # every machine sees the same ranking and totals
    by_hand = union_by_hand(machines)
    check_union(reports[0], by_hand)
    assert figures(union_report(tmp_path, machines)) == first
    assert reports[0]["recommendation"] == union_report(tmp_path, machines)["recommendation"]
    assert reports[0]["query"]["team"] is True
    schema = json.loads((Path(__file__).parents[2] / "docs" / "report-schema.json").read_text())
    jsonschema.validate(reports[0], schema, format_checker=jsonschema.FormatChecker())
    # One member's machines together: ada's two machines, and nobody else's work.
    ada = machines[0].team_report("--member", "ada")
    check_union(ada, union_by_hand(machines[:2]))
    # The shared repository, named as its remote: found under its pseudonym (3 commits each).
    shared = machines[3].team_report("--project", "github.com/team/app")
    assert shared["coverage"]["commits"] == 3 * len(machines)
    # Text, CSV and Markdown come from the same report.
    text = machines[2].run("report", "--team").stdout
    assert first[0]["label"] in text


def test_syncing_twice_or_from_scratch_changes_nothing(
    tmp_path: Path, pg_server: PgServer, pg_url: str
) -> None:
    machines = make_machines(tmp_path, pg_url, FOUR[:2])
    generate(machines, seed=3, commits=4)
    for machine in machines:
        machine.sync()
    before = cells_snapshot(pg_server, pg_url)
    report = machines[0].team_report()
    for machine in machines:
        assert machine.sync().stdout.startswith("nothing new to sync")
    assert cells_snapshot(pg_server, pg_url) == before
    # A lost watermark pushes everything again: the server's merge makes it a no-op.
    for machine in machines:
        (
            machine.home / ".config" / "opencode" / "agent-tracker.journal" / "team-sync.state"
        ).unlink()
        line = machine.sync().stdout
        assert "(0 added, 0 updated)" in line
    assert cells_snapshot(pg_server, pg_url) == before
    assert figures(machines[1].team_report()) == figures(report)


def test_a_server_made_again_or_restored_is_refilled_by_the_next_sync(
    tmp_path: Path, pg_server: PgServer, pg_url: str
) -> None:
    """The watermark is about one pool: a database emptied and made again has a new pool
    id, and a sync run by hand sends everything again although nothing is new here; after
    a restore (same pool, facts missing), `--full` sends everything."""
    machines = make_machines(tmp_path, pg_url, FOUR[:2])
    generate(machines, seed=5, commits=3)
    for machine in machines:
        machine.sync()
    before = cells_snapshot(pg_server, pg_url)
    report = figures(machines[0].team_report())
    dbname = pg_url.rsplit("/", 1)[1].split("?", maxsplit=1)[0]
    with pg_server.admin(dbname) as conn:
        conn.execute("DROP SCHEMA agent_tracker CASCADE")
    machines[0].run("team", "init")
    assert figures(machines[0].team_report()) != report  # empty: the server lost it all
    for machine in machines:
        line = machine.sync().stdout
        assert line.startswith("synced "), line
        assert "0 updated" in line, line
        assert machine.sync().stdout.startswith("nothing new to sync")
    assert cells_snapshot(pg_server, pg_url) == before
    assert figures(machines[1].team_report()) == report
    # An older backup keeps the pool id: --full sends every fact, the merge changes nothing.
    line = machines[0].run("team", "sync", "--full").stdout
    assert line.startswith("synced "), line
    assert "(0 added, 0 updated)" in line, line
    assert cells_snapshot(pg_server, pg_url) == before


def test_no_password_is_written_anywhere_by_agent_tracker(tmp_path: Path, pg_url: str) -> None:
    (machine,) = make_machines(tmp_path, pg_url, FOUR[:1])
    generate([machine], seed=1, commits=2)
    machine.sync(PGPASSWORD="s3cret-not-stored")
    for path in machine.home.rglob("*"):
        if path.is_file() and "src" not in path.parts:
            assert b"s3cret-not-stored" not in path.read_bytes(), path


# -- faults -----------------------------------------------------------------------------------


def bulk_history(machine: Machine, tmp_path: Path, facts: int, seed: int) -> None:
    """A larger history imported as an export file (quick to make, slow enough to sync)."""
    rng = random.Random(seed)
    lines = []
    projects = [f"github.com/team/p{n}" for n in range(12)]
    for n in range(facts):
        harness, agent, model = SETUPS[n % len(SETUPS)]
        project = projects[rng.randrange(len(projects))]
        sha = f"{seed:04x}{n:036x}"
        base = {"v": 2, "harness": harness, "agent": agent, "model": model, "project": project}
        ts = 1_790_000_000 + n * 600
        lines.append({**base, "kind": "commit", "hash": sha, "ts": ts, "source": "flag"})
        if n % 2:
            grade = rng.choice([-1, 1, 2, 5])
            lines.append(
                {**base, "kind": "grade", "hash": sha, "ts": ts + 1, "by": "user", "grade": grade}
            )
    path = tmp_path / f"{machine.name}-bulk.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    machine.run("import", str(path))


def test_a_sync_killed_anywhere_then_run_again_gives_exact_totals(
    tmp_path: Path, pg_server: PgServer, pg_url: str
) -> None:
    machines = make_machines(tmp_path, pg_url, FOUR[:2])
    for index, machine in enumerate(machines):
        bulk_history(machine, tmp_path, 3000, seed=index + 1)
    rng = random.Random(7)
    kills = 0
    for _ in range(8):
        machine = rng.choice(machines)
        process = subprocess.Popen(
            [TRACKER, "team", "sync"],
            env=machine.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.05, 2.5))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    assert kills  # some syncs really were killed mid-way
    for machine in machines:
        machine.sync()
    expected = union_report(tmp_path, machines)
    assert figures(machines[0].team_report()) == figures(expected)
    assert figures(machines[1].team_report()) == figures(expected)


def test_the_server_stopped_during_a_sync_postpones_it_and_the_next_one_is_exact(
    tmp_path: Path, pg_server: PgServer, pg_url: str
) -> None:
    (machine,) = make_machines(tmp_path, pg_url, FOUR[:1])
    bulk_history(machine, tmp_path, 6000, seed=5)
    machine.run("team", "init")
    process = subprocess.Popen(
        [TRACKER, "team", "sync"],
        env=machine.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    pg_server.stop(mode="immediate")
    try:
        out, err = process.communicate(timeout=60)
        if process.returncode == 0:
            pytest.skip(f"the sync ended before the server stopped: {out}")
        assert process.returncode == 69, err
        assert err.count("\n") == 1
        assert err.startswith("agent-tracker: error: ")
        assert "127.0.0.1" in err
        doctor = machine.run("doctor", check=False).stdout
        assert "team sync postponed:" in doctor
    finally:
        pg_server.start()
    assert machine.sync().stdout.startswith("synced ")
    assert figures(machine.team_report()) == figures(machine.report())
    (line,) = [x for x in machine.run("status").stdout.splitlines() if x.startswith("team sync")]
    assert "last synced 0 s ago" in line or "last synced 1 s ago" in line


def test_eight_syncs_at_once_from_eight_machines_give_exact_totals(
    tmp_path: Path, pg_url: str
) -> None:
    layout = [(f"m{n}", f"member{n % 3}") for n in range(8)]
    machines = make_machines(tmp_path, pg_url, layout)
    for index, machine in enumerate(machines):
        bulk_history(machine, tmp_path, 400, seed=100 + index)
    machines[0].run("team", "init")
    with ThreadPoolExecutor(len(machines)) as pool:
        results = list(pool.map(lambda m: m.run("team", "sync", check=False), machines))
    assert [r.returncode for r in results] == [0] * 8, [r.stderr for r in results]
    expected = figures(union_report(tmp_path, machines))
    for machine in (machines[0], machines[7]):
        assert figures(machine.team_report()) == expected


def test_an_amend_and_a_regrade_on_one_machine_reach_every_machine(
    tmp_path: Path, pg_url: str
) -> None:
    machines = make_machines(tmp_path, pg_url, FOUR[:3])
    generate(machines, seed=21, commits=2)
    laptop = machines[0]
    repo = laptop.repo("app", SHARED_REMOTE)
    setup = {"AGENT_TRACKER_HARNESS": "opencode", "AGENT_TRACKER_AGENT": "build"}
    setup["AGENT_TRACKER_MODEL"] = "anthropic/claude-sonnet-4-5"
    (repo / "amend.py").write_text("a = 1\n")
    laptop.git(repo, "add", "-A")
    laptop.git(repo, "commit", "-q", "-m", "to be amended", **setup)
    first = laptop.git(repo, "rev-parse", "HEAD")
    laptop.run("grade", "bad", "--by", "user", "--commit", first, cwd=repo)
    laptop.flush()
    for machine in machines:
        machine.sync()
    before = {g["label"]: g for g in machines[1].team_report()["groups"]}
    label = "build@anthropic/claude-sonnet-4-5 (opencode)"
    # Amend (the old commit never returns), then regrade the amended commit as excellent.
    (repo / "amend.py").write_text("a = 2\n")
    laptop.git(repo, "add", "-A")
    laptop.git(repo, "commit", "-q", "--amend", "-m", "amended", **setup)
    amended = laptop.git(repo, "rev-parse", "HEAD")
    assert amended != first
    laptop.run("grade", "excellence", "--by", "user", "--commit", amended, cwd=repo)
    laptop.flush()
    laptop.sync()
    mine = {g["label"]: g for g in laptop.report()["groups"]}
    for machine in machines:
        after = {g["label"]: g for g in machine.team_report()["groups"]}
        assert after[label]["commits"] == before[label]["commits"]  # amended, not added
        assert after[label]["mix"]["excellence"] == before[label]["mix"]["excellence"] + 1
        assert after[label]["mix"]["bad"] == before[label]["mix"]["bad"] - 1
    laptop_only = {g["label"]: g for g in laptop.team_report("--member", "ada")["groups"]}
    assert laptop_only[label]["commits"] == mine[label]["commits"]
    assert laptop_only[label]["mix"] == mine[label]["mix"]


# -- bad inputs: one clear line, a documented exit code, nothing lost locally -------------------


def _local_state(machine: Machine) -> tuple[str, str]:
    return json.dumps(machine.report()["groups"], sort_keys=True), machine.run("export").stdout


def _fails_cleanly(
    machine: Machine, code: int, words: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    before = _local_state(machine)
    done = machine.run(*args, check=False, **env)
    assert done.returncode == code, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("agent-tracker: error: ")
    assert words.lower() in done.stderr.lower(), done.stderr
    assert "Traceback" not in done.stderr
    assert _local_state(machine) == before
    return done


def test_a_wrong_password_is_one_line_and_exit_77(
    tmp_path: Path, pg_server: PgServer, pg_url: str
) -> None:
    pg_server.create_role("carol", "right-password")
    dbname = pg_url.rsplit("/", 1)[1]
    (machine,) = make_machines(tmp_path, pg_server.url(dbname, "carol"), FOUR[:1])
    generate([machine], seed=2, commits=1)
    done = _fails_cleanly(machine, 77, "password", "team", "sync", PGPASSWORD="wrong")
    assert "wrong" not in done.stderr.replace("wrong password", "")
    _fails_cleanly(machine, 77, "password", "report", "--team", PGPASSWORD="wrong")
    status = machine.run("status").stdout
    assert "postponed" in status


def test_an_unreachable_server_is_one_line_and_exit_69(tmp_path: Path) -> None:
    from pgserver import free_port

    url = f"postgresql://tracker@127.0.0.1:{free_port()}/agents?connect_timeout=3"
    (machine,) = make_machines(tmp_path, url, FOUR[:1])
    generate([machine], seed=2, commits=1)
    _fails_cleanly(machine, 69, "127.0.0.1", "team", "sync")
    _fails_cleanly(machine, 69, "127.0.0.1", "team", "init")
    _fails_cleanly(machine, 69, "127.0.0.1", "report", "--team")


def test_tls_required_but_refused_is_one_line_and_exit_77(
    tmp_path: Path, pg_server: PgServer, pg_url: str
) -> None:
    (machine,) = make_machines(tmp_path, pg_url + "?sslmode=require", FOUR[:1])
    generate([machine], seed=2, commits=1)
    _fails_cleanly(machine, 77, "SSL", "team", "sync")


def test_a_schema_newer_than_the_tool_is_one_line_and_exit_65(
    tmp_path: Path, pg_server: PgServer, pg_url: str
) -> None:
    (machine,) = make_machines(tmp_path, pg_url, FOUR[:1])
    generate([machine], seed=2, commits=1)
    machine.run("team", "init")
    dbname = pg_url.rsplit("/", 1)[1]
    with pg_server.admin(dbname) as conn:
        (table,) = conn.execute(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) "
            "FROM information_schema.tables WHERE table_name = 'meta' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()
        conn.execute(f"UPDATE {table} SET value = '999' WHERE key = 'schema_version'")
    _fails_cleanly(machine, 65, "newer", "team", "sync")
    _fails_cleanly(machine, 65, "newer", "report", "--team")
    # A version that is no number (edited by hand): one line too, and a report never
    # writes the schema (it reads only).
    with pg_server.admin(dbname) as conn:
        conn.execute(f"UPDATE {table} SET value = 'abc' WHERE key = 'schema_version'")
    _fails_cleanly(machine, 65, "not a number", "report", "--team")
    with pg_server.admin(dbname) as conn:
        conn.execute(f"UPDATE {table} SET value = '0' WHERE key = 'schema_version'")
    _fails_cleanly(machine, 65, "team init", "report", "--team")
    with pg_server.admin(dbname) as conn:
        [(value,)] = conn.execute(f"SELECT value FROM {table} WHERE key = 'schema_version'")
    assert value == "0"


def test_a_member_the_server_does_not_know_is_named_with_those_it_does(
    tmp_path: Path, pg_url: str
) -> None:
    (machine,) = make_machines(tmp_path, pg_url, FOUR[:1])
    generate([machine], seed=4, commits=1)
    machine.sync()
    done = machine.run("report", "--member", "Nobody Here", check=False)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "agent-tracker: error: --member: 'Nobody Here' has synced nothing to this team "
        f"server; its members: {machine.member}\n"
    )


def test_a_flush_syncs_in_the_background_when_a_team_server_is_set(
    tmp_path: Path, pg_url: str
) -> None:
    (machine,) = make_machines(tmp_path, pg_url, FOUR[:1])
    machine.run("team", "init")
    repo = machine.repo("app", SHARED_REMOTE)
    machine.work(repo, SETUPS[0], 0, "good")
    started = time.monotonic()
    machine.run("flush", AGENT_TRACKER_AUTO_SYNC="1")
    assert time.monotonic() - started < 10  # the flush never waits for the sync
    status = machine.home / ".config" / "opencode" / "agent-tracker.journal" / "team-status.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not status.exists():
        time.sleep(0.1)
    assert json.loads(status.read_text())["ok"] is True
    check_union(machine.team_report(), union_by_hand([machine]))
    assert "team sync: last synced" in machine.run("doctor", check=False).stdout
