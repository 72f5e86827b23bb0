"""The report and the other text output at 60, 80 and 160 columns, piped and on a terminal.

Through the installed console script: `COLUMNS` fixes the width of piped output, tmux gives
a real terminal of a fixed size. Whatever the width: no line is wider than it, no line ends
in spaces, and no name is broken inside a word (a name may break only after `/` or `@` or
between words). Piped without `COLUMNS`, nothing is wrapped at all.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import commit_event
from tmuxscreen import tmux_screen

from agent_tracker import config, events, render
from agent_tracker.journal import Journal

TRACKER = Path(sys.executable).parent / "agent-tracker"
#: Each setup with the user grades of its commits in each of two projects.
SETUPS = {
    ("opencode", "build", "anthropic/claude-sonnet-4-5"): (5, 5, 2),
    ("claude-code", "main", "anthropic/claude-opus-4-5"): (2,),
    ("opencode", "reviewer", "openrouter/meta-llama/llama-3.3-70b-instruct"): (1, 2, 1),
}
BUILD = "build@anthropic/claude-sonnet-4-5"
#: Every word of every name, as it must appear whole.
WORDS = {word for setup in SETUPS for part in setup for word in re.split(r"[/@\s]+", part) if word}


def seed(settings: config.Settings) -> None:
    """Each setup with user-graded commits in two projects (enough to be ranked)."""
    journal = Journal(settings.journal_dir)
    count = 0
    for setup, grades in SETUPS.items():
        for project in ("github.com/me/app", "github.com/me/tool"):
            for grade in grades:
                count += 1
                sha = f"{count:040x}"
                journal.append(events.encode(events.make("tool", setup, project, name="edit")))
                journal.append(events.encode(commit_event(setup, project, sha)))
                journal.append(
                    events.encode(
                        events.make("grade", setup, project, hash=sha, by="user", grade=grade)
                    )
                )


def run(*args: str, columns: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    done = subprocess.run(
        [str(TRACKER), *args], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done


def broken_words(text: str) -> list[str]:
    """Pieces of output that are part of a name's word but not the whole word."""
    found = []
    for token in re.split(r"[\s/@()]+", text):
        if len(token) >= 3 and token not in WORDS and any(token in word for word in WORDS):
            found.append(token)
    return found


def check_lines(text: str, width: int) -> None:
    lines = text.splitlines()
    assert lines
    assert [line for line in lines if line != line.rstrip()] == []
    assert max(len(line) for line in lines) <= width, text
    assert broken_words(text) == [], text


@pytest.fixture
def history() -> None:
    seed(config.load())
    assert run("flush").stdout.startswith("flushed")


def test_the_check_for_broken_words_finds_a_name_cut_in_the_middle() -> None:
    assert broken_words("1  build (opencode)\n   anthropic/claude-s\n   onnet-4-5") == [
        "claude-s",
        "onnet-4-5",
    ]
    assert broken_words("anthropic/\nclaude-sonnet-4-5 (opencode)") == []


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize("columns", [60, 80, 160])
def test_the_report_fits_the_width_without_breaking_a_name(columns: int) -> None:
    out = run("report", columns=columns).stdout
    check_lines(out, columns)
    for _, agent, _ in SETUPS:
        assert re.search(rf"^ *\d+ +{agent}\b", out, re.MULTILINE), out


@pytest.mark.usefixtures("history")
def test_columns_drop_as_the_width_shrinks() -> None:
    def headers(columns: int) -> str:
        out = run("report", columns=columns).stdout
        return " ".join(line for line in out.splitlines() if "score" in line and "#" in line)

    assert "trend" not in headers(60)
    assert "P(best)" in headers(60)
    assert "graded" in headers(60)
    assert "trend" in headers(80)
    assert "XP" not in headers(80)
    assert "XP" in headers(160)
    assert "failed" not in headers(160)


@pytest.mark.usefixtures("history")
def test_a_very_narrow_report_stacks_each_setup() -> None:
    out = run("report", columns=30).stdout
    check_lines(out, 30)
    assert "score " in out
    assert "P(best) " in out
    assert "anthropic/claude-sonnet-4-5" in out  # one line of its own


@pytest.mark.usefixtures("history")
def test_piped_output_is_not_wrapped_and_shows_every_column() -> None:
    out = run("report").stdout
    check_lines(out, render.PIPE_WIDTH)
    lines = out.splitlines()
    assert lines[0].startswith("Use ")
    assert lines[1].startswith("Evidence ")  # the recommendation is one line
    for harness, agent, model in SETUPS:
        label = f"{agent}@{model} ({harness})"
        assert any(f" {label} " in line for line in lines), label
    assert "failed" in out
    assert "tokens" in out


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize("argv", [["status"], ["config", "show"]])
@pytest.mark.parametrize("columns", [None, 60])
def test_paths_stay_whole_and_lines_unpadded(
    tmp_path: Path, argv: list[str], columns: int | None
) -> None:
    database = tmp_path / ("a-folder-with-a-long-name-" * 4) / "agent-tracker.lmdb"
    out = run("--database-path", str(database), *argv, columns=columns).stdout
    lines = out.splitlines()
    assert [line for line in lines if line != line.rstrip()] == []
    assert any(str(database) in line for line in lines), out


@pytest.mark.usefixtures("history")
def test_setup_detail_piped_is_one_line_per_paragraph() -> None:
    out = run("report", "--setup", BUILD).stdout
    lines = out.splitlines()
    assert [line for line in lines if line != line.rstrip()] == []
    figures = [line for line in lines if line.startswith("rank 1 of 3 setups;")]
    assert len(figures) == 1
    assert "active days, last " in figures[0]  # the whole paragraph on its line
    narrow = run("report", "--setup", BUILD, columns=60).stdout
    check_lines(narrow, 60)


def test_flush_piped_has_no_trailing_spaces() -> None:
    seed(config.load())
    out = run("flush").stdout
    assert out.startswith("flushed ")
    assert [line for line in out.splitlines() if line != line.rstrip()] == []


# -- a real terminal ---------------------------------------------------------------------------


def tmux_run(tmp_path: Path, width: int, *args: str) -> str:
    """Run agent-tracker in a tmux window `width` columns wide; the screen as joined lines
    (a line the terminal wrapped comes back as one, longer than `width`)."""
    screen = tmux_screen(tmp_path, f"{TRACKER} {' '.join(args)}", width=width, height=80)
    return "\n".join(line.rstrip() for line in screen.splitlines()).strip("\n")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux for a real terminal")
@pytest.mark.usefixtures("history")
@pytest.mark.parametrize("columns", [60, 80, 160])
def test_the_report_on_a_real_terminal_fits_it(tmp_path: Path, columns: int) -> None:
    screen = tmux_run(tmp_path, columns, "report")
    check_lines(screen, columns)
    assert "Use build@" in screen
    if columns == 160:
        assert "╭" in screen  # a colour terminal's box
    else:
        assert "───" in screen
