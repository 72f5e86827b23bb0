"""Every non-capture subcommand through the real CLI entry point."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result, commit_event, commit_file, run_tracker

from agent_tracker import __version__, config, events
from agent_tracker.journal import Journal

Cli = Callable[..., Result]


def seed(settings: config.Settings, tools: int = 3, commits: int = 1) -> None:
    journal = Journal(settings.journal_dir)
    setup = ("opencode", "build", "m")
    for _ in range(tools):
        journal.append(events.encode(events.make("tool", setup, "proj", name="edit")))
    for index in range(commits):
        sha = f"{index:040x}"
        journal.append(events.encode(commit_event(setup, "proj", sha)))
        journal.append(
            events.encode(events.make("grade", setup, "proj", hash=sha, by="user", grade=5))
        )


def test_version_and_help(cli: Cli) -> None:
    assert cli("--version").out.strip() == f"agent-tracker {__version__}"
    helped = cli("--help")
    assert helped.code == 0
    for command in ("track", "commit", "grade", "flush", "status", "report", "hooks", "config"):
        assert command in helped.out
    for group in (["hooks", "--help"], ["config", "--help"], ["track", "--help"]):
        assert cli(*group).code == 0


def test_flush_prints_a_summary_and_json(cli: Cli) -> None:
    settings = config.load()
    seed(settings)
    text = cli("flush")
    assert text.code == 0
    assert "flushed 5 events" in text.out
    assert "one transaction" in text.out
    again = cli("flush", "--format", "json")
    data = json.loads(again.out)
    assert (data["applied"], data["segments"], data["busy"]) == (0, 0, False)
    assert cli("flush").out.strip() == "nothing to flush"


def test_status_shows_paths_pending_and_database_use(cli: Cli, home: Path) -> None:
    settings = config.load()
    seed(settings, tools=4, commits=0)
    before = json.loads(cli("status", "--format", "json").out)
    assert before["pending_events"] == 4
    assert before["database_exists"] is False
    assert before["database_path"] == str(home / ".config/opencode/agent-tracker.lmdb")
    cli("flush")
    after = json.loads(cli("status", "--format", "json").out)
    assert after["pending_events"] == 0
    assert after["database_exists"] is True
    assert after["setups"] == 1
    assert 0 < after["used_bytes"] < after["max_database_size"] == 536870912
    text = cli("status")
    assert "database use" in text.out
    assert "512.0 MiB" in text.out


def test_report_lists_setups_and_counts_pending_events(cli: Cli) -> None:
    settings = config.load()
    seed(settings, tools=2, commits=2)
    cli("flush")
    seed(settings, tools=1, commits=0)
    data = json.loads(cli("report", "--format", "json").out)
    assert data["pending_events"] == 1
    (row,) = data["groups"]
    assert (row["label"], row["commits"], row["score"], row["xp"]) == (
        "build@m (opencode)",
        2,
        10,
        13,
    )
    assert row["mean_score"] == 5.0
    text = cli("report")  # piped: every column, each name on one line
    assert " build@m (opencode) " in text.out
    assert "1 pending event included" in text.out


def test_config_set_get_show_and_path(cli: Cli, home: Path) -> None:
    path = home / ".config" / "opencode" / "agent-tracker.toml"
    assert cli("config", "path").out.strip() == str(path)
    assert cli("config", "get", "max_database_size").out.strip() == "536870912"
    assert cli("config", "set", "max_database_size", "1GiB").code == 0
    assert cli("config", "get", "max_database_size").out.strip() == "1073741824"
    shown = json.loads(cli("config", "show", "--format", "json").out)
    assert shown["max_database_size"] == {"value": 1073741824, "source": "file"}
    assert "(file)" in cli("config", "show").out


def test_config_set_rejects_bad_values_with_one_line_and_writes_nothing(
    cli: Cli, home: Path
) -> None:
    result = cli("config", "set", "max_database_size", "2147483649")
    assert result.code == 2
    assert "2147483649" in result.err
    assert "1048576..2147483648" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not (home / ".config" / "opencode" / "agent-tracker.toml").exists()
    assert cli("config", "set", "colour", "blue").code == 2
    assert cli("config", "get", "colour").code == 2


def test_global_flag_overrides_environment(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_TRACKER_MAX_DATABASE_SIZE", "8MiB")
    assert cli("config", "get", "max_database_size").out.strip() == str(8 * 1048576)
    flagged = cli("--max-database-size", "16MiB", "config", "get", "max_database_size")
    assert flagged.out.strip() == str(16 * 1048576)
    bad = cli("--max-database-size", "1", "status")
    assert bad.code == 2
    assert "out of range" in bad.err


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    done = run_tracker("hooks", "install", "--repo", str(tmp_path))
    assert done.returncode == 1
    assert "not a git repository" in done.stderr
    assert "Traceback" not in done.stderr


def test_ctrl_c_exits_130(tmp_path: Path, make_repo: Callable[..., Path]) -> None:
    # A flush waiting on nothing returns at once, so interrupt a command that blocks: a
    # `grade` whose git call we stall with a fake git that sleeps.
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake_git = fake_bin / "git"
    fake_git.write_text("#!/bin/sh\nsleep 30\n")
    fake_git.chmod(0o755)
    repo = make_repo()
    commit_file(repo, "a", "1", "c")
    env = {"PATH": f"{fake_bin}:/usr/bin:/bin", "HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent_tracker",
            "grade",
            "good",
            "--by",
            "user",
            "--note",
            "x",
            "--agent",
            "a",
            "--model",
            "m",
            "--harness",
            "h",
            "--repo",
            str(repo),
            "--",
        ],
        cwd=repo,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "Traceback" not in err


def test_config_set_repairs_an_invalid_config_file(cli: Cli, home: Path) -> None:
    path = home / ".config" / "opencode" / "agent-tracker.toml"
    path.parent.mkdir(parents=True)
    path.write_text("max_database_size = 5\n")
    assert cli("status").code == 2
    assert cli("config", "set", "max_database_size", "1GiB").code == 0
    assert cli("status").code == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["track", "tool", "edit"],  # the fast path
        ["--max-database-size", "8MiB", "track", "tool", "edit"],  # the Typer path
    ],
)
def test_an_unwritable_journal_is_one_error_line_on_both_paths(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: list[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("AGENT_TRACKER_JOURNAL_DIR", str(blocker / "journal"))
    result = cli(*argv)
    assert result.code == 1
    assert result.err.startswith("agent-tracker: error:")
    assert "Traceback" not in result.err


# -- issue 9: one line per failure, overflow, escapes, repair ------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "--by", "colour"],
        ["report", "--top", "many"],
        ["grade", "good"],  # missing --by
        ["status", "--bogus"],
        ["nonsense"],
        ["config", "get"],
    ],
)
def test_usage_errors_are_one_line_with_exit_2(cli: Cli, argv: list[str]) -> None:
    result = cli(*argv)
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("agent-tracker: error:")
    assert "--help" in lines[0]


def test_no_arguments_still_shows_the_help(cli: Cli) -> None:
    result = cli()
    assert result.code == 2
    assert "Usage" in result.out + result.err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--max-database-size", "1e999", "status"], "out of range"),
        (["report", "--since", "3000y"], "--since: '3000y' is out of range"),
        (["report", "--until", "9" * 5000 + "d"], "--until"),
        (["export", "--since", "99999999999d"], "--since: '99999999999d' is out of range"),
        (["config", "set", "max_database_size", "1e999"], "out of range"),
    ],
)
def test_numbers_beyond_range_are_one_clear_line(cli: Cli, argv: list[str], said: str) -> None:
    result = cli(*argv)
    assert result.code == 2
    assert said in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert "Traceback" not in result.err


EVIL_AGENT = "\x1b[31mevil\x1b]0;title\x07"
EVIL_MODEL = "m\x9b2J\u202e"


def seed_evil(settings: config.Settings) -> None:
    journal = Journal(settings.journal_dir)
    setup = ("h\x1b[2J", EVIL_AGENT, EVIL_MODEL)
    for index in range(6):
        sha = f"{index:040x}"
        journal.append(events.encode(commit_event(setup, "proj\x1b[1m", sha)))
        journal.append(
            events.encode(events.make("grade", setup, "proj", hash=sha, by="user", grade=5))
        )


@pytest.mark.parametrize(
    "argv",
    [
        ["report"],
        ["report", "--format", "csv"],
        ["report", "--format", "markdown"],
        ["report", "--by", "project"],
        ["report", "--setup", f"{EVIL_AGENT}@{EVIL_MODEL}"],
    ],
)
def test_control_characters_in_names_never_reach_the_terminal_raw(
    cli: Cli, argv: list[str]
) -> None:
    settings = config.load()
    seed_evil(settings)
    assert cli("flush").code == 0
    result = cli(*argv)
    assert result.code == 0, result.err
    for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert raw not in result.out
    assert "\\x1b[31mevil" in result.out or "\\x1b[1m" in result.out


@pytest.mark.parametrize("fmt", ["markdown", "csv"])
def test_a_line_break_in_a_name_never_adds_a_row(cli: Cli, fmt: str) -> None:
    settings = config.load()
    journal = Journal(settings.journal_dir)
    setup = ("h", "build", "m\r\n| 9 | forged |")
    journal.append(events.encode(commit_event(setup, "proj", "ab" * 20)))
    assert cli("flush").code == 0
    plain = cli("report", "--format", fmt, "--by", "model")
    assert plain.code == 0, plain.err
    (line,) = [line for line in plain.out.splitlines() if "forged" in line]
    assert "m\\x0d\\x0a" in line  # the whole name on its row, its line break escaped


def test_json_output_keeps_control_characters_as_json_escapes(cli: Cli) -> None:
    seed_evil(config.load())
    result = cli("report", "--format", "json")
    assert result.code == 0
    assert "\x1b" not in result.out
    assert "\\u001b[31mevil" in result.out
    labels = [group["agent"] for group in json.loads(result.out)["groups"]]
    assert labels == [EVIL_AGENT]


def test_error_lines_escape_control_characters(cli: Cli) -> None:
    result = cli("report", "--since", "\x1b[2Jsoon\nsecond line")
    assert result.code == 2
    assert "\x1b" not in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_config_set_repairs_a_file_that_is_not_toml(cli: Cli, home: Path) -> None:
    path = home / ".config" / "opencode" / "agent-tracker.toml"
    path.parent.mkdir(parents=True)
    path.write_text('journal_dir = "~/kept"\nthis is = = not toml\n')
    assert cli("status").code == 2
    result = cli("config", "set", "max_database_size", "1GiB")
    assert result.code == 0
    assert "dropped unreadable line(s) 2" in result.err
    assert cli("status").code == 0
    assert cli("config", "get", "journal_dir").out.strip() == str(home / "kept")


def test_config_show_names_an_invalid_value_and_exits_2(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_TRACKER_ATTRIBUTION_WINDOW", "soon")
    shown = cli("config", "show")
    assert shown.code == 2
    assert "attribution_window = (invalid)  (env)" in shown.out
    as_json = json.loads(cli("config", "show", "--format", "json").out)
    assert "soon" in as_json["attribution_window"]["error"]
    assert as_json["max_database_size"]["value"] == config.DEFAULT_MAX_SIZE


# -- what each command imports (issue 10): only what it uses -----------------------------------

#: Runs `agent-tracker ARGV` in process (or, for `-`, only imports the CLI), then prints the
#: exit code and the modules loaded.
IMPORTS_SEEN = """\
import io, sys
out, sys.stdout = sys.stdout, io.StringIO()
if sys.argv[1:] == ["-"]:
    import agent_tracker.cli
    code = 0
elif sys.argv[1] == "fast":
    from agent_tracker import cli_fast
    code = cli_fast.main(sys.argv[2:])
else:
    from agent_tracker import entry
    code = entry.main(sys.argv[1:])
sys.stdout = out
print(code)
print(" ".join(sorted(sys.modules)))
"""


def modules_loaded(*argv: str) -> set[str]:
    """The modules a fresh process holds after `agent-tracker ARGV` (`-`: import the CLI;
    `fast ARGV`: the report without Typer)."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS_SEEN, *argv], capture_output=True, text=True, check=False
    )
    lines = done.stdout.splitlines() or [""]
    assert lines[0] == "0", done.stdout + done.stderr
    return set(lines[-1].split())


#: Loaded by no command a person types unless it merges, installs or exports.
NEVER_FOR_READING = (
    "pydantic",
    "rich.progress",
    "agent_tracker.migrate",
    "agent_tracker.exchange",
    "agent_tracker.hookscripts",
    "agent_tracker.integrate",
    "agent_tracker.tracking",
    "agent_tracker.attribution",
)


def test_importing_the_cli_loads_no_pydantic_rich_or_core() -> None:
    loaded = modules_loaded("-")
    assert "agent_tracker.cli" in loaded
    unwanted = (
        *NEVER_FOR_READING,
        "rich",
        "lmdb",
        "agent_tracker.render",
        "agent_tracker.reportview",
        "agent_tracker.report",
        "agent_tracker.ranking",
        "agent_tracker.status",
        "agent_tracker.store",
    )
    assert sorted(loaded & set(unwanted)) == []


def test_report_and_status_load_only_what_they_use(home: Path) -> None:
    settings = config.load()
    seed(settings)
    assert run_tracker("flush").returncode == 0
    seed(settings)  # pending again: the report folds these in with the applier
    report = modules_loaded("report")
    assert {"agent_tracker.report", "agent_tracker.reportview", "rich.table"} <= report
    assert sorted(report & set(NEVER_FOR_READING)) == []
    fast = modules_loaded("fast", "report")
    assert {"agent_tracker.report", "agent_tracker.reportview", "rich.table"} <= fast
    assert sorted(fast & {*NEVER_FOR_READING, "typer", "click", "agent_tracker.cli"}) == []
    status = modules_loaded("status")
    assert "agent_tracker.status" in status
    assert (
        sorted(
            status
            & (set(NEVER_FOR_READING) | {"agent_tracker.ranking", "agent_tracker.reportview"})
        )
        == []
    )


def test_a_run_builds_only_its_command_and_every_help_reads_the_same() -> None:
    from typer.testing import CliRunner

    from agent_tracker import cli

    runner = CliRunner()
    names = [c.name for c in cli.app.registered_commands]
    names += [g.name for g in cli.app.registered_groups]
    assert "report" in names
    assert "hooks" in names
    for name in names:
        argv = [name, "--help"]
        slim = cli._app_for(argv)
        assert len(slim.registered_commands) + len(slim.registered_groups) == 1
        full = runner.invoke(cli.app, argv, prog_name="agent-tracker", env={"COLUMNS": "100"})
        alone = runner.invoke(slim, argv, prog_name="agent-tracker", env={"COLUMNS": "100"})
        assert full.exit_code == 0
        assert (alone.exit_code, alone.output) == (0, full.output)
    for whole in (["--help", "report"], ["reprt"], ["--version"], []):
        assert cli._app_for(whole) is cli.app


# -- report without Typer (cli_fast) ----------------------------------------------------------


def test_the_fast_report_parser_takes_the_options_typer_defines() -> None:
    import typer.main

    from agent_tracker import cli, cli_fast, cli_history

    group = typer.main.get_command(cli.app)
    command = group.commands["report"]  # type: ignore[attr-defined]
    options = {opt: p for p in command.params for opt in p.opts}
    assert set(options) - {"--help"} == {*cli_fast.REPORT_OPTIONS, *cli_fast.REPORT_FLAGS}
    for name, (param, choices) in cli_fast.REPORT_OPTIONS.items():
        assert options[name].name == param
        assert choices == getattr(options[name].type, "choices", None) or (
            choices is None and not hasattr(options[name].type, "choices")
        )
    assert tuple(cli_history.By) == cli_fast.BY_CHOICES
    root = {opt for p in group.params for opt in p.opts}
    by_typer = {"--version", "-V", "--install-completion", "--show-completion"}
    assert root - {"--help"} == {*cli_fast.ROOT_OPTIONS, *cli_fast.ROOT_FLAGS, *by_typer}


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "--help"],
        ["--version", "report"],
        ["--help", "report"],
        ["report", "x"],
        ["report", "--"],
        ["report", "--by", "SETUP"],
        ["report", "--by", "setup", "--by", "agent"],
        ["report", "--format=yaml"],
        ["report", "--top", "-1"],
        ["report", "--top", "1_0"],
        ["report", "--top", "٣"],
        ["report", "--since"],
        ["report", "--since", "--until"],
        ["report", "--flushed-only=1"],
        ["report", "--flushed-only", "--flushed-only"],
        ["report", "--config", "x"],
        ["--config", "a", "--config", "b", "report"],
        ["status"],
        [],
    ],
)
def test_unusual_report_arguments_go_to_typer(argv: list[str]) -> None:
    from agent_tracker import cli_fast

    assert cli_fast.parse(argv) is None


def test_a_plain_report_is_read_as_typer_reads_it() -> None:
    from agent_tracker import cli_fast

    argv = ["--config=c.toml", "--database-path", "db", "report", "--by=project", "--top", "07"]
    argv += ["--flushed-only", "--since", "30d", "--like", "./app/", "--format", "json"]
    root, values = cli_fast.parse(argv) or ({}, {})
    assert root == {
        "config": "c.toml",
        "database_path": "db",
        "max_database_size": None,
        "no_color": None,
    }
    assert values == {
        "by": "project",
        "top": 7,
        "flushed_only": True,
        "since": "30d",
        "like": "./app/",
        "fmt": "json",
    }


@pytest.mark.parametrize(
    "argv",
    [
        ["report"],
        ["report", "--format", "json"],
        ["report", "--by=model", "--top", "1", "--format", "csv"],
        ["report", "--format", "markdown", "--flushed-only"],
        ["report", "--setup", "build@m"],
        ["report", "--setup", "build@m", "--format", "json"],
        ["report", "--setup", "build@m", "--by", "agent"],
        ["report", "--since", "someday"],
        ["report", "--since", "99999999999d"],
        ["report", "--like", "nowhere/"],
        ["report", "--agent", "BUILD", "--harness", "opencode"],
        ["--max-database-size", "3", "report"],
        ["--database-path", "elsewhere.lmdb", "report", "--until", "2000-01-01"],
    ],
)
def test_the_fast_report_prints_and_exits_as_typer_does(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from agent_tracker import cli, cli_fast

    settings = config.load()
    seed(settings, commits=2)
    assert run_tracker("flush").returncode == 0
    seed(settings, tools=1, commits=1)  # and some pending
    capsys.readouterr()
    typer_code = cli.run(argv)
    by_typer = capsys.readouterr()
    fast_code = cli_fast.main(argv)
    fast = capsys.readouterr()
    assert fast_code == typer_code

    def same(text: str) -> str:  # the time stamp of the JSON is to the second
        return "\n".join(line for line in text.splitlines() if "generated_at" not in line)

    assert (same(fast.out), fast.err) == (same(by_typer.out), by_typer.err)
    assert by_typer.out or by_typer.err


@pytest.mark.parametrize(
    "argv",
    [
        ["-h"],
        ["report", "-h"],
        ["flush", "-h"],
        ["grade", "-h"],
        ["track", "tool", "-h"],
        ["hooks", "status", "-h"],
        ["config", "-h"],
    ],
)
def test_dash_h_shows_the_same_help_as_dash_dash_help(argv: list[str]) -> None:
    short = run_tracker(*argv)
    long = run_tracker(*["--help" if arg == "-h" else arg for arg in argv])
    assert (short.returncode, short.stderr) == (0, "")
    assert short.stdout == long.stdout
    assert "Usage:" in short.stdout


def test_dash_capital_v_shows_the_version() -> None:
    done = run_tracker("-V")
    assert (done.returncode, done.stdout) == (0, f"agent-tracker {__version__}\n")
