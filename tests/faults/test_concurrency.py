"""Sixteen capturing processes racing repeated flushes: every event applied exactly once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agent_tracker import config
from agent_tracker.journal import Journal
from faults.conftest import Ledger
from faults.test_crashes import stored

WORKERS, CAPTURES, FLUSHERS = 16, 500, 2

# Each worker runs the console script's own entry point, in a loop, so every capture takes
# the real fast path (argument parsing, config, journal lock, append).
CAPTURE = textwrap.dedent(
    """
    import sys
    from agent_tracker.entry import main
    worker, count = int(sys.argv[1]), int(sys.argv[2])
    for index in range(count):
        kind = "tool" if index % 5 else "command"
        code = main(["track", kind, "Edit", "--agent", f"a{worker % 4}", "--model", "m",
                     "--harness", "h", "--repo", sys.argv[3]])
        if code != 0:
            raise SystemExit(f"capture {index} exited {code}")
    """
)
FLUSH_LOOP = textwrap.dedent(
    """
    import os, sys, time
    from agent_tracker import config
    from agent_tracker.flush import flush
    settings, stop, rounds = config.load(), sys.argv[1], 0
    while not os.path.exists(stop) and rounds < 100000:
        flush(settings)
        rounds += 1
        time.sleep(0.003)
    print(rounds)
    """
)


@pytest.mark.slow
def test_sixteen_capturing_processes_racing_flushes_lose_and_repeat_nothing(
    tmp_path: Path, ledger: Ledger
) -> None:
    settings = config.load()
    folder = tmp_path / "work"
    stop = tmp_path / "stop"
    flushers = [
        subprocess.Popen([sys.executable, "-c", FLUSH_LOOP, str(stop)], stdout=subprocess.PIPE)
        for _ in range(FLUSHERS)
    ]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", CAPTURE, str(n), str(CAPTURES), str(folder)],
            stderr=subprocess.PIPE,
        )
        for n in range(WORKERS)
    ]
    failures = []
    try:
        for proc in workers:
            _, err = proc.communicate(timeout=300)
            if proc.returncode != 0:
                failures.append(err.decode(errors="replace"))
        time.sleep(0.05)  # let a flush or two overlap the end of the captures
    finally:
        stop.touch()
        rounds = [int(p.communicate(timeout=120)[0] or 0) for p in flushers]
        for proc in [*workers, *flushers]:
            if proc.poll() is None:
                proc.kill()
    assert not failures, failures[0]
    assert all(r > 0 for r in rounds), rounds
    from agent_tracker.flush import flush

    flush(settings)
    got = stored(settings)
    tools = WORKERS * sum(1 for i in range(CAPTURES) if i % 5)
    commands = WORKERS * CAPTURES - tools
    lost = max(0, tools - got["tool_calls"]) + max(0, commands - got["commands"])
    duplicated = max(0, got["tool_calls"] - tools) + max(0, got["commands"] - commands)
    ledger.record(
        f"{WORKERS} processes x {CAPTURES} captures racing {FLUSHERS} repeated flushes",
        "every event applied exactly once",
        injected=sum(rounds),
        checked=WORKERS * CAPTURES,
        lost=lost,
        duplicated=duplicated,
    )
    assert (got["tool_calls"], got["commands"]) == (tools, commands)
    assert Journal(settings.journal_dir).pending_count() == 0
