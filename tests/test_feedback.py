"""Capture commands say what they recorded, in one line, on a terminal only (issue 11).

Through the installed console script: on a real pseudo-terminal for a person's view, through
a pipe for a script's, and under the variables our hooks set for hook mode. Standard error
is always a pipe here, so a line on the terminal is known to be standard output.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import commit_file, git

from agent_tracker import config, events, feedback, recorded, totals, tracking
from agent_tracker.tracking import TrackingService

SCRIPT = Path(sys.executable).with_name("agent-tracker")
#: Longer than any capture takes; a run that passes it fails the test.
BOUND = 30.0

SONNET = ("--agent", "build", "--model", "anthropic/claude-sonnet-4-5", "--harness", "opencode")
SONNET_SETUP = "build@anthropic/claude-sonnet-4-5 (opencode)"


@dataclass
class Run:
    code: int
    out: str  # what reached the terminal (or the pipe)
    err: str


def on_terminal(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Run:
    """Run the console script with standard output (and input) on a new pseudo-terminal."""
    assert SCRIPT.exists(), f"the console script is not installed: {SCRIPT}"
    master, slave = os.openpty()
    try:
        child = subprocess.Popen(
            [str(SCRIPT), *args],
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdin=slave,
            stdout=slave,
            stderr=subprocess.PIPE,
        )
    finally:
        os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + BOUND
    try:
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"agent-tracker {' '.join(args)} took more than {BOUND} s"
            ready, _, _ = select.select([master], [], [], min(left, 0.5))
            if ready:
                try:
                    data = os.read(master, 4096)
                except OSError:  # EIO: the child closed its end of the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif child.poll() is not None:
                break
        _, err = child.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(master)
    out = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return Run(child.returncode, out, err.decode("utf-8", "replace"))


def piped(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Run:
    done = subprocess.run(
        [str(SCRIPT), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BOUND,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def journal_lines() -> list[str]:
    live = Path(config.load().journal_folder) / "live.jsonl"
    return [line for line in live.read_text().splitlines() if line] if live.exists() else []


@pytest.fixture
def repo(make_repo: Callable[..., Path]) -> Path:
    repo = make_repo()
    commit_file(repo, "login.py", "print('hi')\n", "Add login")
    return repo


# -- on a terminal ------------------------------------------------------------------------


def test_track_tool_and_command_say_one_line_each(repo: Path) -> None:
    tool = on_terminal("track", "tool", "edit", *SONNET, cwd=repo)
    command = on_terminal("track", "command", "pytest", cwd=repo)
    assert (tool.code, tool.err) == (0, "")
    assert tool.out == f"recorded tool call edit: +1 XP for {SONNET_SETUP}\n"
    assert (command.code, command.err) == (0, "")
    assert command.out == "recorded command pytest: +2 XP for an unknown setup\n"
    assert len(journal_lines()) == 2


def test_commit_by_hand_says_the_commit_its_setup_and_how_that_was_decided(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    done = on_terminal(
        "commit", "--agent", "build", "--model", "gpt-5", "--harness", "codex", cwd=repo
    )
    assert (done.code, done.err) == (0, "")
    assert done.out == (
        f'recorded commit {head[:7]} "Add login": +5 XP for build@openai/gpt-5 (codex), '
        "from --agent/--model\n"
    )


def test_a_commit_no_rule_attributes_says_which_rules_found_nothing(repo: Path) -> None:
    done = on_terminal("commit", cwd=repo)
    head = git(repo, "rev-parse", "--short=7", "HEAD")
    assert done.out == (
        f'recorded commit {head} "Add login": +5 XP for an unknown setup '
        "(no flag, variable, trailer or recent session named one)\n"
    )


def test_a_commit_recorded_twice_says_the_second_record_will_not_count(repo: Path) -> None:
    first = on_terminal("commit", *SONNET, cwd=repo)
    assert first.out.startswith("recorded commit ")
    again = on_terminal("commit", "--agent", "other", "--model", "m", cwd=repo)
    head = git(repo, "rev-parse", "--short=7", "HEAD")
    assert again.out == (
        f'commit {head} "Add login" was already recorded for {SONNET_SETUP}; '
        "this record will not count\n"
    )
    # And after a flush, when only recorded-commits and commit-setups remember it.
    assert piped("flush", cwd=repo).code == 0
    third = on_terminal("commit", cwd=repo)
    assert third.out == again.out


def test_an_amend_says_which_commit_it_replaces(repo: Path) -> None:
    before = git(repo, "rev-parse", "--short=7", "HEAD")
    git(repo, "commit", "-q", "--amend", "-m", "Add login, tested")
    done = on_terminal("commit", "--model", "m2", cwd=repo)
    after = git(repo, "rev-parse", "--short=7", "HEAD")
    assert done.out == (
        f'recorded commit {after} "Add login, tested" (replaces amended {before}): '
        "+5 XP for unknown@m2, from --agent/--model\n"
    )


def test_grade_says_which_commit_which_setup_and_the_grade(repo: Path) -> None:
    head = git(repo, "rev-parse", "--short=7", "HEAD")
    assert piped("commit", *SONNET, cwd=repo).code == 0
    done = on_terminal("grade", "good", "--by", "user", cwd=repo)
    assert (done.code, done.err) == (0, "")
    assert done.out == f'graded {head} "Add login": good (+2) by user, for {SONNET_SETUP}\n'
    # The grade's own flags name the grader's setup, not the setup the grade counts for.
    agent = on_terminal("grade", "-1", "--by", "agent", "--model", "other", cwd=repo)
    assert agent.out == f'graded {head} "Add login": bad (-1) by agent, for {SONNET_SETUP}\n'


def test_after_a_flush_grade_still_names_the_setup_without_the_database(repo: Path) -> None:
    head = git(repo, "rev-parse", "--short=7", "HEAD")
    assert piped("commit", *SONNET, cwd=repo).code == 0
    assert piped("flush", cwd=repo).code == 0
    assert journal_lines() == []
    database = Path(config.load().database_path)
    database.rename(database.with_name("elsewhere"))  # what the line says cannot come from it
    done = on_terminal("grade", "excellence", "--by", "user", cwd=repo)
    assert not database.exists()
    assert (done.code, done.err) == (0, "")
    assert done.out == (f'graded {head} "Add login": excellence (+5) by user, for {SONNET_SETUP}\n')


def test_grade_falls_back_to_the_pending_journal_line_of_the_commit(repo: Path) -> None:
    head = git(repo, "rev-parse", "--short=7", "HEAD")
    assert piped("commit", *SONNET, cwd=repo).code == 0
    (Path(config.load().journal_folder) / tracking.SETUPS_FILE).unlink()
    done = on_terminal("grade", "neutral", "--by", "user", cwd=repo)
    assert done.out == f'graded {head} "Add login": neutral (+1) by user, for {SONNET_SETUP}\n'
    # Flushed, with neither the file nor the journal knowing it: the flush decides.
    assert piped("flush", cwd=repo).code == 0
    later = on_terminal("grade", "good", "--by", "user", cwd=repo)
    assert later.out == f'graded {head} "Add login": good (+2) by user; setup decided at flush\n'


def test_grade_of_a_commit_never_recorded_says_when_its_setup_is_decided(repo: Path) -> None:
    assert piped("commit", cwd=repo).code == 0
    assert piped("flush", cwd=repo).code == 0  # recorded-commits now exists
    commit_file(repo, "b.py", "", "Made before hooks")
    head = git(repo, "rev-parse", "--short=7", "HEAD")
    done = on_terminal("grade", "good", "--by", "user", cwd=repo)
    assert "was never recorded" in done.err
    assert done.out == (
        f'graded {head} "Made before hooks": good (+2) by user; '
        "its setup is decided once the commit is recorded\n"
    )


def test_an_opted_out_repository_says_nothing_was_recorded(repo: Path) -> None:
    git(repo, "config", "agent-tracker.enabled", "false")
    said = (
        "nothing recorded: tracking is off in this repository (git config agent-tracker.enabled)\n"
    )
    assert on_terminal("track", "tool", "edit", cwd=repo).out == said
    assert on_terminal("commit", cwd=repo).out == said
    grade = on_terminal("grade", "good", "--by", "user", cwd=repo)
    assert grade.out == ""  # its note is on stderr, piped or not
    assert "the grade was not recorded" in grade.err
    assert journal_lines() == []


def test_the_typer_path_says_the_same_line(repo: Path, tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("")
    done = on_terminal("--config", str(settings), "track", "tool", "edit", *SONNET, cwd=repo)
    assert (done.code, done.err) == (0, "")
    assert done.out == f"recorded tool call edit: +1 XP for {SONNET_SETUP}\n"


def test_names_reach_the_terminal_with_control_characters_escaped(repo: Path) -> None:
    done = on_terminal("track", "tool", "ed\x1b[2Jit", "--agent", "a\x07", cwd=repo)
    assert "\x1b" not in done.out
    assert "\x07" not in done.out
    assert done.out == "recorded tool call ed\\x1b[2Jit: +1 XP for a\\x07@unknown\n"


def test_a_failure_on_a_terminal_is_the_error_line_only(repo: Path) -> None:
    done = on_terminal("grade", "good", "--by", "user", "--commit", "nope", cwd=repo)
    assert done.code != 0
    assert done.out == ""
    assert done.err.startswith("agent-tracker: error: ")


class GoneTerminal:
    """A terminal that went away: it still says it is one, and every write fails."""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise OSError(5, "Input/output error")

    def flush(self) -> None:
        raise OSError(5, "Input/output error")


class ClosedStream:
    def isatty(self) -> bool:
        raise ValueError("I/O operation on closed file")


@pytest.mark.parametrize("stdout", [GoneTerminal(), ClosedStream(), None])
def test_a_terminal_that_went_away_never_fails_the_capture(
    repo: Path, monkeypatch: pytest.MonkeyPatch, stdout: object
) -> None:
    from agent_tracker.entry import main

    monkeypatch.chdir(repo)
    real, sys.stdout = sys.stdout, stdout  # type: ignore[assignment]
    try:
        codes = [main(["track", "tool", "edit"]), main(["commit"])]
    finally:
        sys.stdout = real
    assert codes == [0, 0]
    assert len(journal_lines()) == 2


# -- piped, and in hook mode: nothing on standard output --------------------------------------

CAPTURES = (
    ("track", "tool", "edit", *SONNET),
    ("track", "command", "pytest"),
    ("commit", *SONNET),
    ("grade", "good", "--by", "user"),
)


def test_piped_capture_prints_nothing_and_still_records(repo: Path) -> None:
    for argv in CAPTURES:
        done = piped(*argv, cwd=repo)
        assert (done.code, done.out, done.err) == (0, "", ""), argv
    assert len(journal_lines()) == len(CAPTURES)


@pytest.mark.parametrize(
    "variable", ["AGENT_TRACKER_HOOK_TIMEOUT", "AGENT_TRACKER_HOOK_BOUND"], ids=["hook", "bound"]
)
def test_hook_mode_prints_nothing_even_on_a_terminal(repo: Path, variable: str) -> None:
    for argv in CAPTURES:
        done = on_terminal(*argv, cwd=repo, env={variable: "20"})
        assert (done.code, done.out, done.err) == (0, "", ""), argv
    assert len(journal_lines()) == len(CAPTURES)


def test_a_real_post_commit_hook_prints_nothing_of_ours_on_the_terminal(repo: Path) -> None:
    assert piped("hooks", "install", cwd=repo).code == 0
    (repo / "b.py").write_text("")
    git(repo, "add", "b.py")
    done = subprocess.run(  # git itself on the terminal, its hook inline (git waits)
        [sys.executable, "-c", PTY_GIT, str(repo)],
        env={**os.environ, "AGENT_TRACKER_HOOK_INLINE": "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BOUND,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "recorded" not in done.stdout
    assert "Second" in done.stdout  # git's own summary did reach the terminal
    assert any('"type":"commit"' in line for line in journal_lines())


#: `git commit` with all three standard streams on a pseudo-terminal; prints what it showed.
PTY_GIT = """\
import os, pty, sys
out = []
def read(fd):
    data = os.read(fd, 4096)
    out.append(data)
    return data
os.chdir(sys.argv[1])
status = pty.spawn(["git", "commit", "-m", "Second"], read)
sys.stdout.write(b"".join(out).decode("utf-8", "replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"""


# -- the parts ----------------------------------------------------------------------------


def test_the_xp_in_the_lines_is_the_scoring_rules(repo: Path) -> None:
    assert feedback.XP == {
        "tool": totals.XP_TOOL,
        "command": totals.XP_COMMAND,
        "commit": totals.XP_COMMIT,
    }


def run_probe(repo: Path, probe: str) -> str:
    """What a Python program printed, run in `repo` (stripped); its stderr on failure."""
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=BOUND,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_piped_capture_never_loads_the_feedback_module(repo: Path) -> None:
    probe = (
        "import sys\n"
        "from agent_tracker.entry import main\n"
        "codes = [main(['track', 'tool', 'edit']), main(['grade', 'good', '--by', 'user'])]\n"
        "print(codes, 'agent_tracker.feedback' in sys.modules)\n"
    )
    assert run_probe(repo, probe) == "[0, 0] False"


def test_saying_the_line_loads_nothing_heavy(repo: Path) -> None:
    probe = (
        "import io, sys\n"
        "class Terminal(io.StringIO):\n"
        "    def isatty(self): return True\n"
        "out, sys.stdout = sys.stdout, Terminal()\n"
        "from agent_tracker.entry import main\n"
        "codes = [main(['commit', '--agent', 'a']), main(['grade', 'good', '--by', 'user'])]\n"
        "said, sys.stdout = sys.stdout.getvalue(), out\n"
        "heavy = ('typer', 'rich', 'lmdb', 'pydantic', 'click', 'orjson')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "print(codes, said.count('\\n'), loaded)\n"
    )
    assert run_probe(repo, probe) == "[0, 0] 2 []"


def test_commit_setups_stays_bounded_and_keeps_the_newest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracking, "SETUPS_MAX", 4096)
    folder = str(tmp_path)
    for n in range(400):
        event = {
            "hash": f"{n:040x}",
            "id": f"id{n}",
            "harness": "codex",
            "agent": "build",
            "model": f"model\t{n}",
            "subject": "line one\nline two " + "x" * 300,
        }
        tracking.note_commit(folder, event)
    data = (tmp_path / tracking.SETUPS_FILE).read_bytes()
    assert 0 < len(data) <= 4096
    assert data.endswith(b"\n")
    assert (tmp_path / tracking.SETUPS_FILE).stat().st_mode & 0o777 == 0o600
    newest = recorded.commit_setup(folder, f"{399:040x}")
    assert newest is not None
    assert newest["model"] == "model 399"  # a tab in a name never shifts the fields
    assert newest["subject"] == "line one line two " + "x" * 102  # cut to 120
    assert recorded.commit_setup(folder, f"{0:040x}") is None  # cut away long ago


def test_the_first_record_of_a_commit_is_the_one_that_counts(tmp_path: Path) -> None:
    folder = str(tmp_path)
    for agent in ("first", "second"):
        tracking.note_commit(
            folder,
            {"hash": "a" * 40, "id": agent, "harness": "h", "agent": agent, "model": "m"},
        )
    found = recorded.commit_setup(folder, "a" * 40)
    assert found is not None
    assert (found["id"], found["agent"], found["subject"]) == ("first", "first", "")
    # A hash that another one starts with is not mistaken for it.
    assert recorded.commit_setup(folder, "a" * 39) is None


def test_the_readme_shows_the_lines_as_they_are_said(settings: config.Settings) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    intro = readme.index("Run by hand on a terminal, `track`, `commit` and `grade` say")
    start = readme.index("```\n", intro) + 4
    shown = readme[start : readme.index("```", start)].splitlines()

    folder = Path(settings.journal_folder)
    folder.mkdir(parents=True)
    service = TrackingService(settings)
    sha = "1a2b3c4" + "0" * 33
    codex, opencode = ("codex", "build", "openai/gpt-5"), ("opencode", SONNET[1], SONNET[3])
    made = events.make("commit", codex, "p", hash=sha, subject="Add login", source="flag")
    tracking.note_commit(str(folder), made)
    tool = events.make("tool", opencode, "p", name="edit")
    grade = events.make("grade", ("unknown",) * 3, "p", hash=sha, by="user", grade=2)
    said = [
        feedback.line("track tool", tool, service),
        feedback.line("commit", made, service),
        feedback.line("grade", grade, service),
    ]
    assert shown == said
