"""The command-line conventions of issue 11, through the installed console script.

Usage errors are one plain line naming the option and the values it takes; help names
values in words, never Python types, and has no line ending in spaces; `NO_COLOR` and
`--no-color` turn colour off (checked on a real terminal, tmux); Typer's shell completion
works, in a real bash too; `--like` says which language it matched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import commit_event, commit_file
from tmuxscreen import tmux_screen

from agent_tracker import cli, config, events
from agent_tracker.journal import Journal

TRACKER = Path(sys.executable).parent / "agent-tracker"


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    full.update(env or {})
    return subprocess.run(
        [str(TRACKER), *args],
        env=full,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def commands() -> Iterator[list[str]]:
    """Every command and subcommand of the CLI, as argv."""
    for command in cli.app.registered_commands:
        assert command.name is not None
        yield [command.name]
    for group in cli.app.registered_groups:
        assert group.name is not None
        assert group.typer_instance is not None
        yield [group.name]
        for sub in group.typer_instance.registered_commands:
            assert sub.name is not None
            yield [group.name, sub.name]


ALL = list(commands())


# -- usage errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["report", "--by", "models"],
            "--by: 'models' is not one of setup, agent, model, harness, project, instructions; "
            "see `agent-tracker report --help`",
        ),
        (
            ["report", "--by"],
            "--by needs a value: one of setup, agent, model, harness, project, instructions; "
            "see `agent-tracker report --help`",
        ),
        (["report", "--like", "/no/such/folder"], "--like /no/such/folder: no such folder"),
        (
            ["log", "--limit", "x"],
            "--limit: 'x' is not a whole number; see `agent-tracker log --help`",
        ),
        (
            ["log", "--limit", "0"],
            "--limit: 0 is not from 1 to 100000; see `agent-tracker log --help`",
        ),
        (
            ["report", "--since", "2026-13-45"],
            "--since: cannot read '2026-13-45' as a date: use YYYY-MM-DD or a relative form "
            "like 30d, 12w, 6m, 1y",
        ),
        (
            ["export", "--until", "3000y"],
            "--until: '3000y' is out of range: use a day between 0001-01-01 and 9999-12-31, "
            "or a relative form like 30d, 12w, 6m, 1y",
        ),
        (
            ["report", "--top", "many"],
            "--top: 'many' is not a whole number; see `agent-tracker report --help`",
        ),
        (
            ["flush", "--format", "yaml"],
            "--format: 'yaml' is not one of text, json; see `agent-tracker flush --help`",
        ),
        (
            ["grade", "good"],
            "--by is missing: give one of agent, user; see `agent-tracker grade --help`",
        ),
        (
            ["grade", "good", "--by", "robot"],
            "--by: 'robot' is not one of agent, user; see `agent-tracker grade --help`",
        ),
        (
            ["config", "get", "colour"],
            "KEY: 'colour' is not one of database_path, max_database_size, journal_dir, "
            "attribution_window, team_database_url, team_member, share_project_names; "
            "see `agent-tracker config get --help`",
        ),
        (
            ["config", "get"],
            "KEY is missing: give one of database_path, max_database_size, journal_dir, "
            "attribution_window, team_database_url, team_member, share_project_names; "
            "see `agent-tracker config get --help`",
        ),
        (
            ["status", "--form", "json"],
            "no option --form (did you mean --format?); see `agent-tracker status --help`",
        ),
        (["status", "extra"], "unexpected argument: extra; see `agent-tracker status --help`"),
        (
            ["report", "--flushed-only=1"],
            "--flushed-only takes no value; see `agent-tracker report --help`",
        ),
        (
            ["hooks", "reinstall"],
            "'reinstall' is not a command (did you mean install?); the commands: install, "
            "uninstall, status; see `agent-tracker hooks --help`",
        ),
        (["import"], "FILES is missing; see `agent-tracker import --help`"),
    ],
)
def test_usage_errors_name_the_option_and_its_values_in_one_plain_line(
    argv: list[str], line: str
) -> None:
    done = run(*argv)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"agent-tracker: error: {line}\n"


def test_an_unknown_command_is_named_with_the_commands_there_are() -> None:
    done = run("reprt")
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("agent-tracker: error: 'reprt' is not a command (did you mean report?)")
    for name, *_ in ALL:
        assert f" {name}," in line or f" {name};" in line


#: Where a wrong option is not a usage error: `grade` takes it as its value (`grade -1`) and
#: then misses --by; `hook` takes it as the harness's name, on its fast path, and exits 0.
WRONG_OPTION_SAYS = {
    "grade": "error: --by is missing",
    "hook": "hook: unknown harness '--bogus-option'",
}


@pytest.mark.parametrize("argv", ALL, ids=" ".join)
def test_every_command_says_a_wrong_option_in_one_plain_line(argv: list[str]) -> None:
    done = run(*argv, "--bogus-option")
    assert done.returncode == (0 if argv == ["hook"] else 2)  # a harness is never held up
    (line,) = done.stderr.splitlines()
    said = WRONG_OPTION_SAYS.get(argv[0], "error: no option --bogus-option")
    assert line.startswith(f"agent-tracker: {said}"), line
    for unwanted in ("Error", "Invalid value", "Value error", "╭", "│", "\\x0a", "Try '"):
        assert unwanted not in line
    if argv != ["hook"]:
        assert line.endswith(f"see `agent-tracker {' '.join(argv)} --help`"), line


# -- help ------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [[], *ALL], ids=lambda argv: " ".join(argv) or "root")
def test_help_names_values_in_words_and_ends_no_line_in_spaces(argv: list[str]) -> None:
    done = run(*argv, "--help", env={"COLUMNS": "100"})
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "Usage: agent-tracker" in text
    assert re.findall(r"<(?:str|int|float|path|text|integer|list\[[^>]*\])>", text) == []
    assert re.findall(r"\{\w+\}", text) == []  # Typer writes a required argument as {name}
    assert [line for line in text.splitlines() if line != line.rstrip()] == []


def test_help_shows_the_words_chosen_for_each_value() -> None:
    report = run("report", "--help", env={"COLUMNS": "120"}).stdout
    assert "Output format: text, json, csv, markdown, or html" in report
    limit = run("log", "--help", env={"COLUMNS": "120"}).stdout
    assert "How many events to show, from 1 to 100000." in limit
    assert "<=" not in limit
    # A choice its help does not name is given its values in words.
    assert "Output format: text, json." in run("status", "--help", env={"COLUMNS": "120"}).stdout
    words = [("--since", "DAY"), ("--top", "N"), ("--like", "PATH"), ("--by", "GROUP")]
    words.append(("--format", "FORMAT"))
    for option, word in words:
        assert re.search(rf"{option}\s+{word}\s", report), (option, report)
    assert (
        "Usage: agent-tracker config set [OPTIONS] KEY VALUE" in run("config", "set", "-h").stdout
    )
    assert "Usage: agent-tracker import [OPTIONS] FILES..." in run("import", "-h").stdout
    root = run("--help", env={"COLUMNS": "120"}).stdout
    assert re.search(r"--config\s+FILE\s", root)
    assert "--no-color" in root
    assert "--install-completion" in root


def test_the_config_keys_are_the_settings() -> None:
    assert tuple(cli.ConfigKey) == config.KEYS


# -- colour ----------------------------------------------------------------------------------

COLOUR = re.compile(r"\x1b\[([0-9;]*)m")


def colours(screen: str) -> set[str]:
    """The colour parameters of the SGR sequences in `screen` (bold, dim, ... left out)."""
    found = set()
    for params in COLOUR.findall(screen):
        parts = params.split(";")
        for part in parts:
            if part in ("38", "48") or re.fullmatch(r"3[0-7]|4[0-7]|9[0-7]|10[0-7]", part):
                found.add(part)
            if part in ("38", "48"):
                break  # the rest are its colour's numbers
    return found


@pytest.fixture
def graded() -> None:
    settings = config.load()
    journal = Journal(settings.journal_dir)
    setup = ("opencode", "build", "m")
    for index, grade in enumerate((5, 2, -1)):
        sha = f"{index:040x}"
        journal.append(events.encode(commit_event(setup, "proj", sha)))
        journal.append(
            events.encode(events.make("grade", setup, "proj", hash=sha, by="user", grade=grade))
        )


needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (a terminal)")


@needs_tmux
@pytest.mark.usefixtures("graded")
@pytest.mark.parametrize(
    ("command", "env", "coloured"),
    [
        ("report --setup build@m", {}, True),
        ("report --setup build@m", {"NO_COLOR": "1"}, False),
        ("--no-color report --setup build@m", {}, False),
        ("--help", {}, True),
        ("--no-color --help", {}, False),
        ("--help --no-color", {}, False),
        ("--no-color report --help", {}, False),
    ],
)
def test_no_color_and_dash_dash_no_color_turn_colour_off_on_a_terminal(
    tmp_path: Path, command: str, env: dict[str, str], coloured: bool
) -> None:
    screen = tmux_screen(tmp_path, f"{TRACKER} {command}", env=env, escapes=True)
    assert "Traceback" not in screen
    assert ("grades:" in screen) or ("Usage:" in screen), screen
    assert bool(colours(screen)) is coloured, screen


def test_the_colour_check_sees_colour() -> None:
    assert colours("\x1b[1m\x1b[32m+\x1b[0m") == {"32"}
    assert colours("\x1b[1;2mx\x1b[0m") == set()
    assert colours("\x1b[38;5;2mx") == {"38"}


# -- shell completion --------------------------------------------------------------------------


def complete(line: str) -> list[str]:
    """What bash completion offers for `line` (ending where the cursor is)."""
    words = line.split(" ")
    done = run(
        env={
            "_AGENT_TRACKER_COMPLETE": "complete_bash",
            "COMP_WORDS": line,
            "COMP_CWORD": str(len(words) - 1),
        }
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_completion_offers_commands_choices_and_setting_names() -> None:
    assert complete("agent-tracker rep") == ["report"]
    assert complete("agent-tracker report --by ") == [
        "setup",
        "agent",
        "model",
        "harness",
        "project",
        "instructions",
    ]
    assert complete("agent-tracker config get max") == ["max_database_size"]
    assert "--no-color" in complete("agent-tracker --no")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_completion_works_in_a_real_bash(tmp_path: Path) -> None:
    script = run("--show-completion", "bash").stdout
    assert "_AGENT_TRACKER_COMPLETE=complete_bash" in script
    probe = tmp_path / "probe.sh"
    probe.write_text(
        f'export PATH="{TRACKER.parent}:$PATH"\n'
        'eval "$(agent-tracker --show-completion bash)"\n'
        "COMP_WORDS=(agent-tracker hooks st)\nCOMP_CWORD=2\n"
        "_agent_tracker_completion agent-tracker\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", str(probe)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (done.returncode, done.stdout.split()) == (0, ["status"]), done.stderr


def test_install_completion_writes_to_the_shell_start_up_file(home: Path) -> None:
    done = run("--install-completion", "bash", env={"SHELL": "/bin/bash"})
    assert done.returncode == 0, done.stderr
    assert "completion installed" in done.stdout
    assert "agent-tracker" in (home / ".bashrc").read_text()


# -- --like ----------------------------------------------------------------------------------


@pytest.fixture
def two_languages(make_repo: Callable[..., Path]) -> Path:
    """A Python project and a TypeScript one in the history; a Python repository here."""
    settings = config.load()
    journal = Journal(settings.journal_dir)
    for index, (project, exts) in enumerate(
        [("github.com/me/py", {".py": 4}), ("github.com/me/ts", {".ts": 4})]
    ):
        setup = ("opencode", "build", f"model-{index}")
        sha = f"{index + 1:040x}"
        journal.append(events.encode(commit_event(setup, project, sha, exts=exts)))
        journal.append(
            events.encode(events.make("grade", setup, project, hash=sha, by="user", grade=5))
        )
    repo = make_repo("pyapp")
    commit_file(repo, "app.py", "x = 1\n", "first")
    commit_file(repo, "lib.py", "y = 2\n", "second")
    return repo


def test_like_says_the_language_it_matched_before_a_text_report(two_languages: Path) -> None:
    done = run("report", "--like", "pyapp", cwd=two_languages.parent)
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert (
        first == "--like pyapp: its main language is Python; only projects mostly in Python count"
    )
    assert "build@model-0 (opencode)" in done.stdout
    assert "build@model-1" not in done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize("fmt", ["json", "csv", "markdown"])
def test_like_says_it_on_stderr_beside_machine_output(two_languages: Path, fmt: str) -> None:
    done = run("report", "--like", "pyapp", "--format", fmt, cwd=two_languages.parent)
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        "--like pyapp: its main language is Python; only projects mostly in Python count\n"
    )
    if fmt == "json":
        data = json.loads(done.stdout)
        assert [g["label"] for g in data["groups"]] == ["build@model-0 (opencode)"]
    else:
        assert "--like" not in done.stdout


def test_like_through_typer_says_the_same(two_languages: Path) -> None:
    """Where the fast parser hands over to Typer (an option given twice), the same note."""
    fast = run("report", "--like", "pyapp", "--top", "5", cwd=two_languages.parent)
    slow = run("report", "--like", "pyapp", "--top", "5", "--top", "5", cwd=two_languages.parent)
    assert slow.returncode == fast.returncode == 0
    assert slow.stdout.splitlines()[0] == fast.stdout.splitlines()[0]
    assert slow.stdout.startswith("--like pyapp: its main language is Python")


@pytest.mark.parametrize("argv", [["--help"], ["report", "--help"]])
def test_help_without_standard_output_or_into_a_closed_pipe_is_quiet(argv: list[str]) -> None:
    closed = subprocess.run(
        ["bash", "-c", f'"{TRACKER}" {" ".join(argv)} >&-'],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (closed.returncode, closed.stderr) == (0, "")
    cut = subprocess.run(
        ["bash", "-c", f'"{TRACKER}" {" ".join(argv)} | head -c 1 >/dev/null; echo $PIPESTATUS'],
        env={**os.environ, "COLUMNS": "60"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert "Traceback" not in cut.stderr
    assert cut.stdout.strip() in ("0", "1")  # 1: the reader went away before the end
