"""Exactly-once under concurrency and crashes, with real processes, real locks, real LMDB."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import run_tracker

from agent_tracker import config
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
