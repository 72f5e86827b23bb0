"""Flush killed with SIGKILL — at named points and at random moments — loses and repeats
nothing: after a final flush, the totals equal exactly what the journal held."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import pytest
from conftest import commit_event

from agent_tracker import config, events
from agent_tracker.flush import flush
from agent_tracker.journal import Journal
from agent_tracker.store import LMDBDatabase
from faults.conftest import Ledger, killed_at

SETUPS = [("claude-code", f"agent{n}", f"anthropic/model-{n % 2}") for n in range(4)]
POINTS = ("after-rotation", "before-commit", "after-commit", "between-deletions")


@dataclass
class Expected:
    """What the journal was given, to compare with what the database ends up holding."""

    tool_calls: int = 0
    commands: int = 0
    commits: int = 0
    grades: dict[tuple[str, str], int] = field(default_factory=dict)
    next_commit: int = 0

    @property
    def events(self) -> int:
        return self.tool_calls + self.commands + self.commits + len(self.grades)

    def write(self, journal: Journal, rng: random.Random, count: int) -> None:
        """Append `count` events: tool calls, commands, commits and (re)grades."""
        for _ in range(count):
            setup = rng.choice(SETUPS)
            roll = rng.random()
            if roll < 0.6:
                kind = "tool" if roll < 0.45 else "command"
                event = events.make(kind, setup, "proj", name="Edit")
                if kind == "tool":
                    self.tool_calls += 1
                else:
                    self.commands += 1
            elif roll < 0.8 or self.next_commit == 0:
                self.next_commit += 1
                event = commit_event(setup, "proj", f"{self.next_commit:040x}")
                self.commits += 1
            else:
                sha = f"{rng.randrange(1, self.next_commit + 1):040x}"
                party = rng.choice(events.PARTIES)
                value = rng.choice(events.GRADE_VALUES)
                event = events.make("grade", setup, "proj", hash=sha, by=party, grade=value)
                self.grades[(sha, party)] = value
            journal.append(events.encode(event))


def stored(settings: config.Settings) -> dict[str, int]:
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    if db is None:
        return {"tool_calls": 0, "commands": 0, "commits": 0, "score": 0, "grades": 0}
    with db:
        agents = db.agents()
    keys = ("tool_calls", "commands", "commits", "score", "grades")
    return {key: sum(a[key] for a in agents) for key in keys}


def compare(expected: Expected, got: dict[str, int]) -> tuple[int, int]:
    """(lost, duplicated) events, counted per kind."""
    want = {
        "tool_calls": expected.tool_calls,
        "commands": expected.commands,
        "commits": expected.commits,
        "grades": len(expected.grades),
    }
    lost = sum(max(0, want[k] - got[k]) for k in want)
    duplicated = sum(max(0, got[k] - want[k]) for k in want)
    return lost, duplicated


def check_exact(settings: config.Settings, journal: Journal, expected: Expected) -> tuple[int, int]:
    result = flush(settings)
    assert not result.busy
    got = stored(settings)
    lost, duplicated = compare(expected, got)
    assert got["tool_calls"] == expected.tool_calls
    assert got["commands"] == expected.commands
    assert got["commits"] == expected.commits
    assert got["grades"] == len(expected.grades)
    assert got["score"] == sum(expected.grades.values())
    assert journal.pending_count() == 0
    assert journal.quarantined_count() == 0
    return lost, duplicated


@pytest.mark.parametrize("point", POINTS)
def test_flush_killed_at_a_named_point_applies_every_event_exactly_once(
    point: str, ledger: Ledger
) -> None:
    settings = config.load()
    journal = Journal(settings.journal_dir)
    rng = random.Random(point)
    expected = Expected()
    expected.write(journal, rng, 3000)
    # A first crash right after rotation leaves a pending segment, so that the flush killed
    # at `point` has two segments to apply (and, for between-deletions, two to delete).
    assert killed_at("after-rotation", ["flush"]) == -signal.SIGKILL
    expected.write(journal, rng, 3000)
    assert len(journal.segments()) == 1
    assert killed_at(point, ["flush"]) == -signal.SIGKILL
    expected.write(journal, rng, 500)  # capture goes on after the crash
    lost, duplicated = check_exact(settings, journal, expected)
    ledger.record(
        f"SIGKILL of flush {point}",
        "every event applied exactly once by the next flush",
        injected=2,
        checked=expected.events,
        lost=lost,
        duplicated=duplicated,
    )


@pytest.mark.slow
def test_two_hundred_random_kills_of_flush_over_a_large_journal_lose_and_repeat_nothing(
    ledger: Ledger,
) -> None:
    settings = config.load()
    journal = Journal(settings.journal_dir)
    rng = random.Random(20261130)
    expected = Expected()
    expected.write(journal, rng, 40000)
    kills = rounds = 0
    while kills < 200:
        rounds += 1
        assert rounds <= 800, f"only {kills} kills landed in {rounds} rounds"
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent_tracker", "flush"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            time.sleep(rng.uniform(0.0, 0.45))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        assert b"Traceback" not in err, err.decode(errors="replace")
        if rng.random() < 0.5:
            expected.write(journal, rng, rng.randrange(200, 2000))
    lost, duplicated = check_exact(settings, journal, expected)
    ledger.record(
        "SIGKILL of flush at random moments",
        "every event applied exactly once by the next flush",
        injected=kills,
        checked=expected.events,
        lost=lost,
        duplicated=duplicated,
    )
