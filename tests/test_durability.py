"""Exactly-once under concurrency and crashes, with real processes, real locks, real LMDB."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import commit_event, run_tracker

from agent_tracker import config, events
from agent_tracker.flush import flush
from agent_tracker.journal import Journal
from agent_tracker.store import LMDBDatabase

APPENDER = textwrap.dedent(
    """
    import sys, time
    from agent_tracker import config, events
    from agent_tracker.journal import Journal
    worker, count = int(sys.argv[1]), int(sys.argv[2])
    journal = Journal(config.load().journal_dir)
    setup = ("h", f"agent{worker % 3}", "m")
    for index in range(count):
        kind = "tool" if index % 4 else "command"
        journal.append(events.encode(events.make(kind, setup, f"p{worker % 2}", name="x")))
        if index % 20 == 0:
            time.sleep(0.002)  # spread the appends so that several flushes overlap them
    """
)
FLUSHER = textwrap.dedent(
    """
    import sys, time
    from agent_tracker import config
    from agent_tracker.flush import flush
    settings = config.load()
    stop = sys.argv[1]
    import os
    applied = segments = 0
    ready = stop + ".ready"
    while not os.path.exists(stop):
        result = flush(settings)
        open(ready, "w").close()
        applied += result.applied
        segments += result.segments
        time.sleep(0.005)
    print(applied, segments)
    """
)


def totals(settings: config.Settings) -> dict[str, int]:
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    assert db is not None
    with db:
        agents = db.agents()
    keys = ("tool_calls", "commands", "commits", "score", "grades", "xp")
    return {key: sum(a[key] for a in agents) for key in keys}


@pytest.mark.slow
def test_eight_appenders_and_a_repeated_flusher_apply_every_event_exactly_once(
    tmp_path: Path,
) -> None:
    settings = config.load()
    stop = tmp_path / "stop"
    flusher = subprocess.Popen(
        [sys.executable, "-c", FLUSHER, str(stop)], stdout=subprocess.PIPE, text=True
    )
    per_worker = 600
    deadline = time.monotonic() + 60
    while not (tmp_path / "stop.ready").exists() and time.monotonic() < deadline:
        time.sleep(0.01)  # the flusher is up and looping before the appenders start
    workers = [
        subprocess.Popen([sys.executable, "-c", APPENDER, str(n), str(per_worker)])
        for n in range(8)
    ]
    for worker in workers:
        assert worker.wait(timeout=120) == 0
    stop.touch()
    out, _ = flusher.communicate(timeout=60)
    assert flusher.returncode == 0
    applied_meanwhile, segments_meanwhile = map(int, out.split())
    assert applied_meanwhile > 0, "the flusher never ran alongside the appenders"
    assert segments_meanwhile >= 2
    flush(settings)
    total = totals(settings)
    assert total["tool_calls"] == 8 * per_worker * 3 // 4
    assert total["commands"] == 8 * per_worker // 4
    assert Journal(settings.journal_dir).pending_count() == 0


@pytest.mark.slow
def test_concurrent_cli_processes_lose_nothing(tmp_path: Path) -> None:
    settings = config.load()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent_tracker",
                "track",
                "tool",
                "edit",
                "--agent",
                f"a{n}",
                "--repo",
                str(tmp_path),
            ]
        )
        for n in range(16)
    ]
    procs.append(
        subprocess.Popen(
            [sys.executable, "-m", "agent_tracker", "flush"], stdout=subprocess.DEVNULL
        )
    )
    assert [p.wait(timeout=60) for p in procs] == [0] * 17
    assert run_tracker("flush").returncode == 0
    assert totals(settings)["tool_calls"] == 16


def write_history(
    journal: Journal,
    rng: random.Random,
    batch: int,
    expected: dict[str, int],
    grades: dict[tuple[str, str], int],
    first_commit: int,
) -> int:
    """Append `batch` events; keep the exact expected totals up to date."""
    lines = []
    commit_index = first_commit
    for _ in range(batch):
        roll = rng.random()
        setup = ("h", f"agent{rng.randrange(3)}", "m")
        if roll < 0.85:
            kind = "tool" if roll < 0.7 else "command"
            lines.append(events.make(kind, setup, "proj", name="x"))
            expected["tool_calls" if kind == "tool" else "commands"] += 1
        elif roll < 0.93 or commit_index == 0:
            sha = f"{commit_index:040x}"
            commit_index += 1
            lines.append(commit_event(setup, "proj", sha))
            expected["commits"] += 1
        else:
            sha = f"{rng.randrange(commit_index):040x}"
            party = rng.choice(events.PARTIES)
            value = rng.choice(events.GRADE_VALUES)
            lines.append(events.make("grade", setup, "proj", hash=sha, by=party, grade=value))
            grades[(sha, party)] = value
    for event in lines:
        journal.append(events.encode(event))
    return commit_index


@pytest.mark.slow
def test_flush_killed_at_random_moments_still_applies_everything_exactly_once() -> None:
    settings = config.load()
    journal = Journal(settings.journal_dir)
    rng = random.Random(20261126)
    expected = {"tool_calls": 0, "commands": 0, "commits": 0}
    grades: dict[tuple[str, str], int] = {}
    commits = write_history(journal, rng, 20000, expected, grades, 0)
    killed = 0
    for round_no in range(30):
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent_tracker", "flush"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.02, 0.5))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait()
        if round_no % 5 == 4:
            commits = write_history(journal, rng, 3000, expected, grades, commits)
    assert killed >= 5, "the flushes finished too fast to be interrupted; raise the load"
    result = flush(settings)
    assert not result.busy
    total = totals(settings)
    assert total["tool_calls"] == expected["tool_calls"]
    assert total["commands"] == expected["commands"]
    assert total["commits"] == expected["commits"]
    assert total["score"] == sum(grades.values())
    assert total["grades"] == len(grades)
    assert total["xp"] == (
        expected["tool_calls"] + 2 * expected["commands"] + 5 * expected["commits"]
    )
    assert journal.pending_count() == 0
