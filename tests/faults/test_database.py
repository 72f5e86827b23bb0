"""Faults of the central database (issue 9, items 4, 11 and 25): a held writer lock, a full
database, a full disk, a truncated data file, stale readers of killed processes, damaged
record values. Every case runs real `agent-tracker` processes against a real LMDB database
and checks afterwards that every event is applied exactly once, or still pending."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lmdb
import pytest
from conftest import commit_event
from test_store import write_lock_held

from agent_tracker import config, events, writelock
from agent_tracker.journal import Journal
from agent_tracker.keys import agent_key, day_key, usage_key
from agent_tracker.store import LMDBDatabase
from faults.conftest import Ledger, has_traceback, tracker

SETUP = ("opencode", "build", "anthropic/claude-sonnet-4-5")
PROJECT = "github.com/me/app"
#: What our pre-push hook script sets for the flush it runs.
HOOK = {"AGENT_TRACKER_HOOK_TIMEOUT": "30", "AGENT_TRACKER_HOOK_BOUND": "30"}


def env_with(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def append_tools(settings: config.Settings, count: int) -> None:
    journal = Journal(settings.journal_dir)
    for _ in range(count):
        journal.append(events.encode(events.make("tool", SETUP, PROJECT, name="edit")))


def append_commits(settings: config.Settings, count: int, start: int = 0) -> None:
    journal = Journal(settings.journal_dir)
    for index in range(start, start + count):
        event = commit_event(SETUP, f"p{index}", f"{index:040x}", subject="s" * 300)
        journal.append(events.encode(event))


def setup_record(settings: config.Settings) -> dict[str, int]:
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    if db is None:
        return {}
    with db:
        record = db.get(agent_key(events.setup_id(*SETUP)))
    return record or {}


def pending(settings: config.Settings) -> int:
    return Journal(settings.journal_dir).pending_count()


def one_line(text: str) -> bool:
    return len(text.strip().splitlines()) == 1


# -- item 4: a held writer lock ----------------------------------------------------------------


def test_item_4_a_held_writer_lock_never_holds_flush_and_loses_nothing(
    settings: config.Settings, tmp_path: Path, ledger: Ledger
) -> None:
    """Fault: another process holds the LMDB write transaction. Expected: `flush` in the
    git hook says "database busy" within the hook's bound and exits 0; `rebuild`, `import`
    and `migrate` exit 75 with one line; every event stays pending and is applied exactly
    once when the lock is free."""
    append_tools(settings, 20)
    assert tracker("flush").returncode == 0
    append_tools(settings, 10)
    export = tmp_path / "facts.jsonl"
    export.write_text(tracker("export").stdout)
    source = tmp_path / "other.lmdb"
    shutil.copytree(settings.database_path, source)
    outputs = []
    with write_lock_held(settings.database_path):
        started = time.monotonic()
        hook_flush = tracker("flush", env=env_with(**HOOK))
        waited = time.monotonic() - started
        others = [
            tracker("rebuild", "--wait", "0.5"),
            tracker("import", str(export), "--wait", "0.5"),
            tracker("migrate", "--from", str(source), "--wait", "0.5"),
        ]
        outputs = [hook_flush, *others]
        assert pending(settings) == 10
    assert hook_flush.returncode == 0
    assert "database busy" in hook_flush.stdout
    assert waited < writelock.HOOK_WAIT + 10  # the bound plus starting Python, never the hold
    for done in others:
        assert done.returncode == 75, done.stderr
        assert done.stderr.startswith("agent-tracker: error: database busy:")
        assert one_line(done.stderr)
    after = tracker("flush")
    assert after.returncode == 0
    assert "flushed 10 events" in after.stdout
    record = setup_record(settings)
    tracebacks = sum(has_traceback(d.stdout + d.stderr) for d in [*outputs, after])
    ledger.record(
        "4: database writer lock held by another process (flush in hook, rebuild, import, migrate)",
        "flush busy exit 0 within the bound, others exit 75; nothing lost",
        injected=4,
        checked=30,
        lost=30 - record.get("tool_calls", 0),
        duplicated=max(0, record.get("tool_calls", 0) - 30),
        tracebacks=tracebacks,
    )
    assert record["tool_calls"] == 30
    assert tracebacks == 0


def test_item_4_hook_scripts_of_an_earlier_version_still_never_hold_a_push(
    settings: config.Settings, ledger: Ledger
) -> None:
    """Fault: the pre-push script of an earlier version (it sets only
    AGENT_TRACKER_HOOK_TIMEOUT and runs a bare `flush` from /dev/null) while another process
    holds the write lock. Expected: the hook's short wait and bound, as with today's script,
    not the 30 s a flush by hand waits; the events stay pending."""
    append_tools(settings, 5)
    with write_lock_held(settings.database_path):
        started = time.monotonic()
        legacy = tracker("flush", env=env_with(AGENT_TRACKER_HOOK_TIMEOUT="30"), stdin=b"")
        waited = time.monotonic() - started
        assert pending(settings) == 5
    ledger.record(
        "4: write lock held under the pre-push script of an earlier version",
        "database busy within the hook's bound; nothing lost",
        checked=5,
        lost=max(0, 5 - pending(settings)),
        tracebacks=int(has_traceback(legacy.stderr)),
    )
    assert legacy.returncode == 0
    assert "database busy" in legacy.stdout
    assert waited < writelock.HOOK_WAIT + 10
    assert tracker("flush").returncode == 0
    assert setup_record(settings)["tool_calls"] == 5


# -- item 11: full database, full disk ---------------------------------------------------------


def test_item_11_a_full_database_keeps_every_event_pending(
    settings: config.Settings, ledger: Ledger
) -> None:
    """Fault: the events need more than max_database_size. Expected: one clear line, exit
    1, all events pending; with a larger limit they are applied exactly once."""
    append_commits(settings, 3000)
    full = tracker("--max-database-size", "1MiB", "flush")
    assert full.returncode == 1
    assert "is full at max_database_size" in full.stderr
    assert full.stderr.rstrip().endswith("then run the command again")  # flush, import alike
    assert one_line(full.stderr)
    assert pending(settings) == 3000
    done = tracker("--max-database-size", "64MiB", "flush")
    assert done.returncode == 0
    record = setup_record(settings)
    tracebacks = sum(has_traceback(d.stdout + d.stderr) for d in (full, done))
    ledger.record(
        "11: database full (max_database_size)",
        "one line, exit 1, events pending; applied after raising the limit",
        checked=3000,
        lost=3000 - record.get("commits", 0),
        duplicated=max(0, record.get("commits", 0) - 3000),
        tracebacks=tracebacks,
    )
    assert record["commits"] == 3000
    assert tracebacks == 0


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[str]:
    """A small tmpfs at `folder` (root), else the folder made read-only; yields which."""
    folder.mkdir()
    mounted = False
    if os.geteuid() == 0 and shutil.which("mount"):
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True,
            check=False,
            timeout=30,
        )
        mounted = done.returncode == 0
        if not mounted:
            pytest.skip(f"cannot mount a tmpfs as root here: {done.stderr.decode().strip()}")
    try:
        yield "tmpfs" if mounted else "read-only"
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False, timeout=30)


def test_item_11_a_full_disk_is_one_clear_line_and_nothing_is_lost(
    settings: config.Settings, tmp_path: Path, ledger: Ledger
) -> None:
    """Fault: the disk under the database fills up during the commit (ENOSPC; without root,
    a read-only folder instead). Expected: one clear line, exit 1, no traceback, every
    event pending; once there is room, applied exactly once."""
    disk = tmp_path / "disk"
    with small_disk(disk, "512k") as kind:
        database = disk / "db.lmdb"
        flags = ["--database-path", str(database), "--max-database-size", "64MiB"]
        if kind == "read-only":
            assert tracker(*flags, "status").returncode == 0
            disk.chmod(0o500)
        append_commits(settings, 3000)
        failed = tracker(*flags, "flush")
        assert failed.returncode == 1
        assert one_line(failed.stderr)
        if kind == "tmpfs":
            # LMDB reports a short write on a full disk as EIO, a failed grow as ENOSPC.
            reasons = ("No space left on device", "Input/output error")
            assert any(reason in failed.stderr for reason in reasons), failed.stderr
        assert pending(settings) == 3000
        if kind == "tmpfs":
            remount = ["mount", "-o", "remount,size=64m", str(disk)]
            subprocess.run(remount, check=True, timeout=30)
        else:
            disk.chmod(0o700)
        done = tracker(*flags, "flush")
        assert done.returncode == 0, done.stderr
        db = LMDBDatabase.open_read(database, 64 << 20)
        assert db is not None
        with db:
            record = db.get(agent_key(events.setup_id(*SETUP))) or {}
    tracebacks = sum(has_traceback(d.stdout + d.stderr) for d in (failed, done))
    ledger.record(
        f"11: disk full under the database ({kind})",
        "one line, exit 1, events pending; applied once there is room",
        checked=3000,
        lost=3000 - record.get("commits", 0),
        duplicated=max(0, record.get("commits", 0) - 3000),
        tracebacks=tracebacks,
    )
    assert record["commits"] == 3000
    assert tracebacks == 0


# -- item 11: a truncated data file --------------------------------------------------------------


def test_item_11_a_truncated_database_is_one_clear_line_in_every_command(
    settings: config.Settings, ledger: Ledger
) -> None:
    """Fault: data.mdb cut short by one page. Expected: every command that opens the
    database says it is damaged in one line and exits 1 (never SIGBUS, never a traceback),
    the file is left as it is, and capture goes on into the journal."""
    append_tools(settings, 200)
    assert tracker("flush").returncode == 0
    export = settings.journal_dir.parent / "facts.jsonl"
    export.write_text(tracker("export").stdout)
    data = settings.database_path / "data.mdb"
    with LMDBDatabase.open_read(settings.database_path, settings.max_database_size) as db:  # type: ignore[union-attr]
        psize = db.env.stat()["psize"]
        needed = (db.env.info()["last_pgno"] + 1) * psize
    os.truncate(data, needed - psize)
    before = data.read_bytes()
    captured = tracker("track", "tool", "edit", "--agent", "build", "--model", "m")
    commands = [("status",), ("report",), ("flush",), ("export",), ("rebuild",), ("import",)]
    outputs = [tracker(*args, *([str(export)] if args == ("import",) else [])) for args in commands]
    for args, done in zip(commands, outputs, strict=True):
        assert done.returncode == 1, (args, done.returncode, done.stderr)
        assert "is damaged: data.mdb has" in done.stderr, args
        assert one_line(done.stderr), args
    assert data.read_bytes() == before
    assert captured.returncode == 0
    assert pending(settings) == 1
    tracebacks = sum(has_traceback(d.stdout + d.stderr) for d in outputs)
    ledger.record(
        "11: truncated data.mdb (one page short)",
        "one line and exit 1 in status, report, flush, export, rebuild, import; no SIGBUS",
        injected=len(commands),
        checked=1,
        lost=1 - pending(settings),
        tracebacks=tracebacks + sum(d.returncode < 0 for d in outputs),
    )
    assert tracebacks == 0


# -- item 11: stale readers ----------------------------------------------------------------------

_KEEPER = """
import sys, lmdb
env = lmdb.open(sys.argv[1], subdir=True, readonly=True)
print("open", flush=True)
sys.stdin.readline()
"""
_READER = """
import sys, lmdb
env = lmdb.open(sys.argv[1], subdir=True, readonly=True)
txns = []
try:
    for _ in range(int(sys.argv[2])):
        txns.append(env.begin())
except lmdb.ReadersFullError:
    pass
print(len(txns), flush=True)
sys.stdin.readline()
"""


def _start(script: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def _stale_slots(path: str) -> int:
    """Reader slots held by processes that no longer exist (LMDB's own reader table)."""
    env = lmdb.open(path, subdir=True, readonly=True, lock=True)
    try:
        table = env.readers()
    finally:
        env.close()
    pids = [int(line.split()[0]) for line in table.splitlines()[1:] if line.strip()]
    return sum(1 for pid in pids if not Path(f"/proc/{pid}").exists())


def test_item_11_stale_readers_of_killed_processes_are_cleared(
    settings: config.Settings, ledger: Ledger
) -> None:
    """Fault: 8 rounds of processes SIGKILLed inside 25 read transactions each (200 slots,
    past LMDB's 126), while another process keeps the database open so that nothing resets
    the reader table; agent-tracker commands run between the rounds. Expected: each command
    clears the stale slots and works (without clearing, the table is full by round 6);
    nothing lost. A table already full when a command starts is one clear line."""
    append_tools(settings, 10)
    assert tracker("flush").returncode == 0
    path = str(settings.database_path)
    keeper, said = _start(_KEEPER, path)
    assert said == "open"
    outputs = []
    killed = stale_seen = 0
    try:
        for round_number in range(8):
            reader, count = _start(_READER, path, "25")
            reader.send_signal(signal.SIGKILL)
            reader.wait(timeout=30)
            killed += int(count)
            stale_seen = max(stale_seen, _stale_slots(path))
            append_tools(settings, 1)
            command = ("flush",) if round_number % 2 else ("status",)
            outputs.append(tracker(*command))
            assert outputs[-1].returncode == 0, outputs[-1].stderr
        assert _stale_slots(path) == 0  # the last command cleared them
        while True:  # now fill the table up completely
            reader, count = _start(_READER, path, "25")
            reader.send_signal(signal.SIGKILL)
            reader.wait(timeout=30)
            if int(count) < 25:
                break
        full = tracker("status")
    finally:
        assert keeper.stdin is not None
        keeper.stdin.write("\n")
        keeper.stdin.flush()
        keeper.wait(timeout=30)
    assert full.returncode == 1
    assert "every reader slot is taken" in full.stderr
    assert one_line(full.stderr)
    after = tracker("flush")  # nothing keeps it open now: the table is reset
    assert after.returncode == 0, after.stderr
    outputs += [full, after]
    record = setup_record(settings)
    tracebacks = sum(has_traceback(d.stdout + d.stderr) for d in outputs)
    ledger.record(
        f"11: stale readers ({killed} slots of SIGKILLed processes in 8 rounds, then a full table)",
        "slots cleared on every open; commands work; a full table is one line; nothing lost",
        injected=9,
        checked=18,
        lost=18 - record.get("tool_calls", 0),
        duplicated=max(0, record.get("tool_calls", 0) - 18),
        tracebacks=tracebacks,
    )
    assert killed == 200
    assert stale_seen == 25
    assert record["tool_calls"] == 18
    assert tracebacks == 0


# -- item 11: damaged record values --------------------------------------------------------------


def test_item_11_damaged_record_values_never_give_tracebacks(
    settings: config.Settings, ledger: Ledger
) -> None:
    """Fault: four records with values that are not JSON or not of their key's shape: the
    setup's totals, a day record, a usage fact and a commit fact. Expected: flush, status,
    report and export never show a traceback; export names the two damaged facts and exits
    1 after the rest; the flush sets what it meets aside and rebuilds the totals from the
    good facts, which meets the others too; the totals are exact afterwards."""
    append_tools(settings, 10)
    journal = Journal(settings.journal_dir)
    journal.append(events.encode(commit_event(SETUP, PROJECT, "ab" * 20)))
    assert tracker("flush").returncode == 0
    with LMDBDatabase.open_write(settings.database_path, settings.max_database_size) as db:
        dbid = db.dbid
    sid, pid = events.setup_id(*SETUP), events.project_id(PROJECT)
    damage = {
        agent_key(sid): b"\x00\x01 not json",
        day_key("2020-01-02", sid, pid): b'{"harness": 1}',
        usage_key(dbid, pid, sid, "2020-01-03"): b"[1, 2",
        f"commit:{pid}:{'cd' * 20}": b'{"hash": "cdcd", "project": 7}',
    }
    env = lmdb.open(str(settings.database_path), subdir=True)
    with env.begin(write=True) as txn:
        for key, raw in damage.items():
            txn.put(key.encode(), raw)
    env.close()
    append_tools(settings, 5)
    first_export = tracker("export")
    outputs = [
        tracker("status"),
        tracker("report"),
        tracker("report", "--format", "json"),
        first_export,
        tracker("flush"),
        tracker("report"),
        tracker("rebuild"),
    ]
    last_export = tracker("export")
    outputs.append(last_export)
    for done in outputs:
        assert not has_traceback(done.stdout + done.stderr), done.stderr
    assert first_export.returncode == 1
    assert f"skipped damaged fact commit:{pid}:{'cd' * 20}" in first_export.stderr
    assert "skipped damaged fact usage:" in first_export.stderr
    assert len(first_export.stdout.splitlines()) == 2  # the good commit and usage facts
    assert "damaged database records were skipped" in outputs[1].stdout
    assert outputs[4].returncode == 0
    assert "flushed 5 events" in outputs[4].stdout
    assert outputs[6].returncode == 0
    status = tracker("status", "--format", "json")
    assert '"damaged_records": 4' in status.stdout  # all set aside by the flush's rebuild
    assert last_export.returncode == 0
    record = setup_record(settings)
    expected_xp = 15 * 1 + 5
    ledger.record(
        "11: damaged record values (non-JSON setup totals and usage fact, wrong-shape day "
        "record and commit fact)",
        "no traceback in flush/status/report/export; export names bad facts; totals exact",
        injected=len(damage),
        checked=16,
        lost=16 - record.get("tool_calls", 0) - record.get("commits", 0),
        duplicated=max(0, record.get("tool_calls", 0) + record.get("commits", 0) - 16),
        tracebacks=sum(has_traceback(d.stdout + d.stderr) for d in outputs),
    )
    assert record["tool_calls"] == 15
    assert record["commits"] == 1
    assert record["xp"] == expected_xp
