"""The local side of the team pool: what is shared, the watermark, the CLI's refusals, the
background sync after a flush, and that capture and flush never load the driver."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from conftest import commit_file, git, run_tracker

from agent_tracker import config, events
from agent_tracker.team import sharing, sync

SETUP = ("opencode", "build", "anthropic/claude-x")


def _commit_fact(project: str) -> dict[str, object]:
    return {
        "id": "01JEVENTID",
        "ts": 1796048659.5,
        "project": project,
        "hash": "a" * 40,
        "harness": "opencode",
        "agent": "build",
        "model": "m",
        "source": "session",
        "subject": "Fix the login of alice@example.com",
        "author_time": 1796048600,
        "files": 2,
        "insertions": 5,
        "deletions": 1,
        "exts": {".py": 2},
        "session": "/home/alice/.claude/projects/secret/session.jsonl",
        "instructions": "f00dfeed",
        "root": "b" * 40,
        "tokens": {"in": 10, "out": 3},
    }


def test_subjects_notes_sessions_and_paths_never_leave_the_machine() -> None:
    shared = sharing.shared_form("commit", _commit_fact("/home/alice/src/app"), True)
    text = orjson.dumps(shared).decode()
    assert "login" not in text
    assert "alice" not in text
    assert "session" not in shared
    assert shared["project"] == "project-" + events.project_id("/home/alice/src/app")
    assert shared["instructions"] == "f00dfeed"
    assert shared["tokens"] == {"in": 10, "out": 3}
    assert shared["root"] == "b" * 40
    grade = {"id": "01J", "ts": 1.0, "project": "github.com/me/app", "hash": "a" * 40}
    grade |= {"by": "user", "grade": 5, "note": "alice's secret", "harness": "h"}
    shared_grade = sharing.shared_form("grade", grade | {"agent": "a", "model": "m"}, False)
    assert "note" not in shared_grade
    assert shared_grade["id"] != "01J"  # a hash: it still breaks ties, says nothing


def test_project_names_are_pseudonyms_unless_shared_and_never_paths() -> None:
    remote = "github.com/me/app"
    assert sharing.project_as_shared(remote, False) == "project-" + events.project_id(remote)
    assert sharing.project_as_shared(remote, True) == remote
    assert sharing.project_as_shared("/srv/app", True).startswith("project-")
    assert sharing.project_as_shared("C:\\work\\app", True).startswith("project-")
    # The same remote gives the same pseudonym on every machine: clones pool.
    assert sharing.project_as_shared(remote, False) == sharing.project_as_shared(remote, False)


def test_the_server_is_named_without_user_or_password() -> None:
    assert sync.server_identity("postgresql://ada@db.example.com:6543/agents") == (
        "db.example.com:6543/agents"
    )
    assert sync.server_identity("postgres://db/agents?sslmode=require") == "db:5432/agents"


@pytest.mark.parametrize(
    ("url", "named"),
    [
        # libpq's multi-host form: each host with its port.
        ("postgresql://t@10.0.0.1:5433,10.0.0.2/pool", "10.0.0.1:5433,10.0.0.2:5432/pool"),
        # host, port and dbname as parameters win over the URL's parts.
        ("postgresql:///pool?host=10.0.0.9&port=6000&user=t", "10.0.0.9:6000/pool"),
        ("postgresql://h/db?dbname=other", "h:5432/other"),
        ("postgresql://[::1]:5444/x", "::1:5444/x"),
        ("postgresql://ada:secret@h", "h:5432/ada"),  # libpq's default database: the user's
    ],
)
def test_every_form_of_url_names_the_server_it_reaches(
    url: str, named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER"):
        monkeypatch.delenv(name, raising=False)
    assert sync.server_identity(url) == named
    assert "secret" not in sync.server_identity(url)


def test_the_member_defaults_to_git_user_name(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GIT_CONFIG_GLOBAL")
    (home / ".gitconfig").write_text("[user]\n\tname = Ada Lovelace\n")
    assert sync.member_name(config.load()) == "Ada Lovelace"
    monkeypatch.setenv("AGENT_TRACKER_TEAM_MEMBER", "ada")
    assert sync.member_name(config.load()) == "ada"


def test_a_watermark_for_another_server_or_member_is_not_trusted(home: Path) -> None:
    settings = config.load()
    marks = {(1, 2): (3, 4), (2**32 - 1, 0): (5, 2**32 - 1)}
    sync.save_state(settings, "db:5432/a", "ada", False, marks, {"0100": [1, 2, 3, 4]})
    loaded = sync.load_state(settings, "db:5432/a", "ada", False)
    assert (loaded.marks, loaded.blocks) == (marks, {"0100": [1, 2, 3, 4]})
    for other in (("db:5432/b", "ada", False), ("db:5432/a", "bob", False)):
        assert sync.load_state(settings, *other).marks == {}
    assert sync.load_state(settings, "db:5432/a", "ada", True).blocks == {}
    state = Path(settings.journal_folder) / sync.STATE_FILE
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    state.write_bytes(b"{broken")
    assert sync.load_state(settings, "db:5432/a", "ada", False).marks == {}


def test_selection_pushes_only_what_changed_since_the_watermark(home: Path) -> None:
    for command in (["tool", "edit"], ["tool", "edit"], ["command", "test"]):
        assert run_tracker("track", *command, "--agent", "a", "--model", "m").returncode == 0
    assert run_tracker("flush").returncode == 0
    settings = config.load()
    first = sync.select(settings, sync.Watermark(), False)
    assert first.machine is not None
    assert first.count == len(first.digests) >= 1
    pushed = sync.Watermark(first.blocks, _marks=first.digests)
    assert sync.select(settings, pushed, False).count == 0
    # More work grows a usage counter: its fact is selected again, in its new form.
    assert run_tracker("track", "tool", "edit", "--agent", "a", "--model", "m").returncode == 0
    assert run_tracker("flush").returncode == 0
    again = sync.select(settings, pushed, False)
    assert again.count == 1
    ((_, kind, body),) = next(iter(again.by_project.values()))
    assert kind == "usage"
    assert body["tool_calls"] == 3


# -- the command line without a server ----------------------------------------------------------


def test_team_commands_without_a_url_say_how_to_configure_one() -> None:
    done = run_tracker("team", "sync")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "config set team_database_url postgresql://" in done.stderr


def test_a_url_with_a_password_is_refused_by_config_set() -> None:
    done = run_tracker("config", "set", "team_database_url", "postgresql://a:pw@db/x")
    assert done.returncode == 2
    assert "~/.pgpass or PGPASSWORD" in done.stderr
    assert "pw" not in run_tracker("config", "show").stdout


def test_without_the_extra_the_team_features_say_how_to_install_it(tmp_path: Path) -> None:
    # A psycopg that cannot be found: a package folder shadowing it with nothing in it.
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'psycopg' or name.startswith('psycopg.'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, _Hide())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    env["AGENT_TRACKER_TEAM_DATABASE_URL"] = "postgresql://me@127.0.0.1:1/agents"
    for argv in (["team", "sync"], ["team", "init"], ["report", "--team"]):
        done = run_tracker(*argv, env=env)
        assert done.returncode == 1, (argv, done.stderr)
        assert done.stderr == (
            "agent-tracker: error: the team features need psycopg: "
            "pip install 'agent-tracker[team]'\n"
        )


def test_team_report_refuses_options_about_pending_events() -> None:
    done = run_tracker("report", "--team", "--flushed-only")
    assert done.returncode == 2
    assert "--flushed-only" in done.stderr
    assert done.stderr.count("\n") == 1


# -- never on the capture, hook and flush paths ------------------------------------------------

PROBE = """\
import sys
from agent_tracker.entry import main
codes = [
    main(['track', 'tool', 'edit', '--agent', 'a', '--model', 'm']),
    main(['track', 'command', 'test', '--agent', 'a', '--model', 'm']),
    main(['hook', 'claude-code']),
    main(['flush']),
]
print(codes, sorted(m for m in sys.modules if m.split('.')[0] == 'psycopg'
                    or m.startswith('agent_tracker.team')))
"""


def test_capture_hook_and_flush_never_import_psycopg_even_with_a_team_server(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_PROCESS")}
    env["AGENT_TRACKER_TEAM_DATABASE_URL"] = "postgresql://me@127.0.0.1:1/agents"
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        input='{"hook_event_name": "PostToolUse", "tool_name": "Edit", "session_id": "s"}',
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert done.stdout.splitlines()[-1] == "[0, 0, 0, 0] []", done.stdout + done.stderr


def test_a_commit_through_the_git_hook_never_imports_psycopg(
    make_repo: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo()  # type: ignore[operator]
    assert run_tracker("hooks", "install", cwd=repo).returncode == 0
    spy = tmp_path / "spy"
    spy.mkdir()
    log = tmp_path / "imports.log"
    (spy / "sitecustomize.py").write_text(
        "import atexit, sys\n"
        "def _seen():\n"
        "    found = sorted(m for m in sys.modules if m.split('.')[0] == 'psycopg')\n"
        f"    open({str(log)!r}, 'a').write(repr((sys.argv[1:], found)) + '\\n')\n"
        "atexit.register(_seen)\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(spy))
    monkeypatch.setenv("AGENT_TRACKER_TEAM_DATABASE_URL", "postgresql://me@127.0.0.1:1/agents")
    commit_file(repo, "a.py", "x = 1\n", "add a")
    assert git(repo, "log", "--oneline")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not log.exists():
        time.sleep(0.05)
    time.sleep(0.5)
    lines = log.read_text().splitlines()
    assert lines
    assert all(line.endswith(", [])") for line in lines), lines


# -- the background sync after a flush ------------------------------------------------------------


def test_a_flush_starts_a_background_sync_that_records_an_unreachable_server(home: Path) -> None:
    env = {**os.environ, "AGENT_TRACKER_TEAM_DATABASE_URL": "postgresql://me@127.0.0.1:1/agents"}
    assert run_tracker("track", "tool", "edit", env=env).returncode == 0
    started = time.monotonic()
    done = run_tracker("flush", env=env)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 10  # the sync never holds the flush up
    settings = config.load()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sync.read_status(settings) is None:
        time.sleep(0.1)
    status = sync.read_status(settings)
    assert status is not None
    assert status["ok"] is False
    assert "127.0.0.1" in str(status["error"])
    status_out = run_tracker("status", env=env).stdout
    assert "team sync" in status_out
    assert "postponed" in status_out
    doctor = run_tracker("doctor", env=env)
    assert "team sync postponed:" in doctor.stdout
    # Nothing was lost: the event is in the local database.
    assert "1 tool" in done.stdout


@pytest.mark.parametrize("bad", ["sslmode=bogus", "bogusparam=1"])
def test_a_url_libpq_cannot_use_is_a_usage_error_not_a_refusal(home: Path, bad: str) -> None:
    env = {**os.environ, "AGENT_TRACKER_TEAM_DATABASE_URL": f"postgresql://me@127.0.0.1:1/x?{bad}"}
    done = run_tracker("team", "init", env=env)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("agent-tracker: error: team_database_url cannot be used: ")
    assert done.stderr.count("\n") == 1
