"""The store's defences: a bounded wait for the writer lock, truncated files, stale readers,
private files, damaged record values, and write errors (store, writelock, lmdbfile, records)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import lmdb
import orjson
import pytest
from conftest import Result, commit_event

from agent_tracker import config, events, keys, lmdbfile, records, store, writelock
from agent_tracker.errors import DatabaseBusyError, DatabaseDamagedError, TrackerError, UsageError
from agent_tracker.exchange import export_lines
from agent_tracker.flush import flush
from agent_tracker.journal import Journal
from agent_tracker.keys import agent_key, day_key, usage_key
from agent_tracker.report import build
from agent_tracker.status import collect
from agent_tracker.store import LMDBDatabase

SETUP = ("opencode", "build", "anthropic/claude-sonnet-4-5")
PROJECT = "github.com/me/app"

_HOLDER = """
import sys, lmdb
env = lmdb.open(sys.argv[1], subdir=True)
txn = env.begin(write=True)
print("held", flush=True)
sys.stdin.readline()
txn.abort()
"""


@contextmanager
def write_lock_held(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the database's write transaction until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        if holder.poll() is None:
            assert holder.stdin is not None
            holder.stdin.write("\n")
            holder.stdin.flush()
        holder.wait(timeout=30)


def tools(settings: config.Settings, count: int) -> None:
    journal = Journal(settings.journal_dir)
    for _ in range(count):
        journal.append(events.encode(events.make("tool", SETUP, PROJECT, name="edit")))


def xp(settings: config.Settings) -> int:
    with LMDBDatabase.open_write(settings.database_path, settings.max_database_size) as db:
        record = db.get(agent_key(events.setup_id(*SETUP)))
    return int(record["xp"]) if record else 0


def raw_put(settings: config.Settings, key: str, raw: bytes) -> None:
    env = lmdb.open(str(settings.database_path), subdir=True)
    with env.begin(write=True) as txn:
        txn.put(keys.physical(key), raw)
    env.close()


# -- the writer lock -------------------------------------------------------------------------


def test_a_write_gives_up_after_its_bound_while_another_process_holds_the_lock(
    settings: config.Settings,
) -> None:
    tools(settings, 1)
    flush(settings)
    with write_lock_held(settings.database_path):
        db = LMDBDatabase.open_write(settings.database_path, settings.max_database_size, 0.3)
        started = time.monotonic()
        with pytest.raises(DatabaseBusyError, match="database busy"), db.batch() as batch:
            batch.set("agent:x", {"never": "written"})
        waited = time.monotonic() - started
        db.close()  # the writer still blocked in LMDB closes the environment once freed
    assert 0.3 <= waited < 5
    with LMDBDatabase.open_write(settings.database_path, settings.max_database_size, 5) as db:
        assert db.get("agent:x") is None
        db.put_batch({"agent:y": {"written": True}})
        assert db.get("agent:y") == {"written": True}


def test_flush_says_database_busy_and_keeps_every_event_until_the_lock_is_free(
    settings: config.Settings,
) -> None:
    tools(settings, 1)
    flush(settings)
    tools(settings, 4)
    journal = Journal(settings.journal_dir)
    with write_lock_held(settings.database_path), writelock.waiting(0.2):
        result = flush(settings)
    assert result.busy
    assert result.message.startswith("database busy:")
    assert journal.pending_count() == 4
    assert flush(settings).applied == 4
    assert xp(settings) == 5


def test_a_free_lock_is_taken_at_once_even_with_no_wait(settings: config.Settings) -> None:
    tools(settings, 3)
    with writelock.waiting(0):
        assert flush(settings).applied == 3


def test_how_long_a_write_waits_comes_from_the_option_the_environment_or_the_hook() -> None:
    assert writelock.write_wait({}) == writelock.DEFAULT_WAIT
    assert writelock.write_wait({"AGENT_TRACKER_HOOK_BOUND": "30"}) == writelock.HOOK_WAIT
    # Exported in a shell by hand, the hook scripts' timeout is no hook.
    assert writelock.write_wait({"AGENT_TRACKER_HOOK_TIMEOUT": "30"}) == writelock.DEFAULT_WAIT
    env = {"AGENT_TRACKER_HOOK_BOUND": "30", "AGENT_TRACKER_LOCK_WAIT": "7.5"}
    assert writelock.write_wait(env) == 7.5
    with writelock.waiting(1.25):
        assert writelock.write_wait(env) == 1.25
    assert writelock.HOOK_WAIT < writelock.DEFAULT_WAIT


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf", "1e999", "", "100000"])
def test_an_impossible_wait_is_refused_in_one_line(value: str) -> None:
    with pytest.raises(UsageError, match="must be a number of seconds"):
        writelock.parse_wait(value)


def test_rebuild_by_hand_exits_75_when_the_database_stays_busy(
    settings: config.Settings, cli: Callable[..., Result]
) -> None:
    tools(settings, 2)
    flush(settings)
    with write_lock_held(settings.database_path):
        done = cli("rebuild", "--wait", "0.2")
    assert done.code == 75
    assert done.err.startswith("agent-tracker: error: database busy:")
    assert done.err.count("\n") == 1
    bad = cli("flush", "--wait", "soon")
    assert bad.code == 2
    assert "--wait must be a number of seconds" in bad.err


# -- files: truncation, privacy, stale readers -----------------------------------------------


def _page_size(settings: config.Settings) -> int:
    with LMDBDatabase.open_write(settings.database_path, settings.max_database_size) as db:
        return int(db.env.stat()["psize"])


def test_a_truncated_data_file_is_one_clear_error_instead_of_sigbus(
    settings: config.Settings,
) -> None:
    tools(settings, 50)
    flush(settings)
    data = settings.database_path / "data.mdb"
    needed, size = lmdbfile.needed_size(data) or (0, 0)
    assert needed <= size
    os.truncate(data, needed - _page_size(settings))
    with pytest.raises(DatabaseDamagedError, match=r"data.mdb has \d+ bytes where"):
        LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    with pytest.raises(DatabaseDamagedError, match="cut short"):
        LMDBDatabase.open_write(settings.database_path, settings.max_database_size)
    os.truncate(data, 0)
    with pytest.raises(DatabaseDamagedError, match=r"data\.mdb is empty"):
        LMDBDatabase.open_write(settings.database_path, settings.max_database_size)


def test_a_whole_data_file_passes_the_truncation_check(settings: config.Settings) -> None:
    tools(settings, 5)
    flush(settings)
    assert lmdbfile.truncation(settings.database_path) is None
    assert lmdbfile.needed_size(settings.database_path / "lock.mdb") is None  # not a data file


def test_database_files_are_created_private_under_umask_000_even_by_a_reader(
    settings: config.Settings,
) -> None:
    tools(settings, 1)
    old = os.umask(0)
    try:
        flush(settings)
        lock = settings.database_path / "lock.mdb"
        lock.unlink()  # a reader opening it first creates the lock file
        LMDBDatabase.open_read(settings.database_path, settings.max_database_size).close()  # type: ignore[union-attr]
    finally:
        os.umask(old)
    for name in ("data.mdb", "lock.mdb"):
        assert (settings.database_path / name).stat().st_mode & 0o777 == 0o600, name


def test_database_files_left_wide_are_narrowed(settings: config.Settings) -> None:
    tools(settings, 1)
    flush(settings)
    (settings.database_path / "data.mdb").chmod(0o644)
    LMDBDatabase.open_read(settings.database_path, settings.max_database_size).close()  # type: ignore[union-attr]
    assert (settings.database_path / "data.mdb").stat().st_mode & 0o777 == 0o600


_READERS = """
import sys, lmdb
env = lmdb.open(sys.argv[1], subdir=True, readonly=True)
txns = [env.begin() for _ in range(int(sys.argv[2]))]
print("reading", flush=True)
sys.stdin.readline()
"""


def test_reader_slots_of_killed_processes_are_cleared_on_open(settings: config.Settings) -> None:
    tools(settings, 1)
    flush(settings)
    # Another process keeps the database open, so that nothing resets the reader table.
    with write_lock_held(settings.database_path):
        reader = subprocess.Popen(
            [sys.executable, "-c", _READERS, str(settings.database_path), "7"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert reader.stdout is not None
        assert reader.stdout.readline().strip() == "reading"
        reader.send_signal(signal.SIGKILL)
        reader.wait(timeout=30)
        db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
        assert db is not None
        with db:
            assert db.stale_readers == 7


# -- damaged record values -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "good"),
    [
        ("agent:0", {"harness": "h", "agent": "a", "model": "m", "xp": 1}, False),
        ("agent:0", ["not", "a", "record"], False),
        ("day:2026-01-01:s:p:-", {"harness": "h"}, False),
        ("reverts:p:abc", {"project": "p", "hash": "abc", "by": [1]}, False),
        ("reverts:p:abc", {"project": "p", "hash": "abc", "by": ["def"]}, True),
        ("commit:p:abc", {"hash": "xyz"}, False),
        ("meta:segment:1", 5, False),
        ("meta:format", 2, True),
    ],
)
def test_record_shapes_are_checked_by_key(key: str, value: object, good: bool) -> None:
    assert records.fits(key, value) is good
    assert (records.decode(key, orjson.dumps(value)) is records.DAMAGED) is not good
    assert records.decode(key, b"{not json") is records.DAMAGED


def test_records_a_flush_writes_pass_their_own_shape_check(settings: config.Settings) -> None:
    tools(settings, 3)
    journal = Journal(settings.journal_dir)
    journal.append(events.encode(commit_event(SETUP, PROJECT, "ab" * 20, exts={".py": 1})))
    flush(settings)
    env = lmdb.open(str(settings.database_path), subdir=True, readonly=True)
    with env.begin() as txn:
        codec = records.Codec(txn)
        stored = [(bytes(k), bytes(v)) for k, v in txn.cursor()]
        assert len(stored) > 8
        for raw_key, raw in stored:
            key = codec.logical(raw_key)
            if key is not None:  # None: the names behind ids
                assert codec.decode(key, raw_key, raw) is not records.DAMAGED, key
    env.close()


def test_a_flush_sets_damaged_records_aside_and_rebuilds_totals_from_the_facts(
    settings: config.Settings,
) -> None:
    tools(settings, 3)
    flush(settings)
    with LMDBDatabase.open_write(settings.database_path, settings.max_database_size) as db:
        dbid = db.dbid
    sid, pid = events.setup_id(*SETUP), events.project_id(PROJECT)
    raw_put(settings, agent_key(sid), b"\x00\xffgarbage")
    tools(settings, 2)
    result = flush(settings)
    assert result.applied == 2
    assert xp(settings) == 5  # rebuilt from the usage fact, not restarted from 0
    with LMDBDatabase.open_write(settings.database_path, settings.max_database_size) as db:
        aside = db.get(records.aside_key(agent_key(sid)))
        assert aside["key"] == agent_key(sid)
        assert db.set_aside_count() == 1
    # A damaged fact: the rest is kept, the damaged one set aside and left out.
    day = events.day_of(time.time())
    raw_put(settings, usage_key(dbid, pid, sid, day), b'{"tool_calls": "many"}')
    tools(settings, 1)
    assert flush(settings).applied == 1
    assert xp(settings) == 1
    assert collect(settings).damaged_records == 2


def test_readers_skip_and_count_damaged_records_and_export_names_them(
    settings: config.Settings,
) -> None:
    tools(settings, 2)
    journal = Journal(settings.journal_dir)
    journal.append(events.encode(commit_event(SETUP, PROJECT, "cd" * 20)))
    flush(settings)
    sid, pid = events.setup_id(*SETUP), events.project_id(PROJECT)
    raw_put(settings, day_key("2020-01-01", sid, pid), b"[1, 2")
    raw_put(settings, f"commit:{pid}:{'ef' * 20}", b'{"hash": 5}')
    report = build(settings)
    assert report.damaged_records == 1  # the day record (the report reads no facts)
    assert any("1 damaged database records were skipped" in w for w in report.warnings)
    assert report.commits == 1
    skipped: list[str] = []
    lines = list(export_lines(settings, skipped=skipped))
    assert skipped == [f"commit:{pid}:{'ef' * 20}"]
    assert len(lines) == 2  # the good commit and the usage fact
    status = collect(settings)
    assert status.damaged_records == 0  # status reads setups only: none damaged
    assert status.setups == 1


def test_export_by_hand_names_a_damaged_fact_and_exits_1_after_the_rest(
    settings: config.Settings, cli: Callable[..., Result]
) -> None:
    tools(settings, 2)
    flush(settings)
    pid = events.project_id(PROJECT)
    raw_put(settings, f"communication:{pid}:{'ab' * 20}:user", b"\xff")
    done = cli("export")
    assert done.code == 1
    assert f"skipped damaged fact communication:{pid}:{'ab' * 20}:user" in done.err
    assert done.err.strip().endswith(
        "1 damaged facts were not exported (named above); the rest were"
    )
    assert len(done.out.splitlines()) == 1
    rebuilt = cli("rebuild")
    assert rebuilt.code == 0
    assert f"set aside damaged record communication:{pid}:{'ab' * 20}:user" in rebuilt.out
    assert cli("export").code == 0


def test_damaged_meta_records_are_brought_back_on_the_next_write(
    settings: config.Settings,
) -> None:
    tools(settings, 2)
    flush(settings)
    for key in ("meta:format", "meta:derived", "meta:dbid", "meta:origin"):
        raw_put(settings, key, b"\x01not json")
    with LMDBDatabase.open_write(settings.database_path, settings.max_database_size) as db:
        assert records.fits("meta:dbid", db.dbid)
        assert len(db.dbid) == 16
        assert not db.derived_outdated()
        assert db.get("meta:format") == store.DB_FORMAT
    assert xp(settings) == 2


# -- write errors ----------------------------------------------------------------------------


def test_an_io_error_on_commit_is_one_clear_message_and_nothing_is_written(
    settings: config.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools(settings, 1)
    flush(settings)
    tools(settings, 3)
    end = writelock.Writer.end

    def failing_end(self: writelock.Writer, commit: bool) -> None:
        end(self, False)  # nothing reaches the disk, as when the write fails
        if commit:
            raise lmdb.DiskError("mdb_txn_commit: Input/output error")

    monkeypatch.setattr(writelock.Writer, "end", failing_end)
    with pytest.raises(
        TrackerError, match=r"cannot write database .*: Input/output error; nothing"
    ):
        flush(settings)
    monkeypatch.undo()
    assert Journal(settings.journal_dir).pending_count() == 3
    assert flush(settings).applied == 3
    assert xp(settings) == 4


def test_an_abandoned_writer_closes_the_environment_once_the_lock_is_free(
    settings: config.Settings,
) -> None:
    tools(settings, 1)
    flush(settings)
    with write_lock_held(settings.database_path):
        db = LMDBDatabase.open_write(settings.database_path, settings.max_database_size, 0.1)
        with pytest.raises(DatabaseBusyError), db.batch():
            pass
        writer = db._writer
        assert writer is not None
        assert writer.abandoned
        db.close()
        # Opened again while that writer still waits: busy, not "already open".
        with pytest.raises(DatabaseBusyError, match="database busy"):
            LMDBDatabase.open_write(settings.database_path, settings.max_database_size, 0.1)
    deadline = time.monotonic() + 10
    while writer.abandoned and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not writer.abandoned
    assert not any(t.name == "agent-tracker-writer" for t in threading.enumerate())


# -- batch writes ----------------------------------------------------------------------------


def test_put_batch_encodes_one_value_at_a_time(settings: config.Settings) -> None:
    """A flush of many keys holds its changes, never all their encoded values at once."""
    import tracemalloc

    items = {f"meta:test:{n:05d}": {"text": f"{n}" + "x" * 4000} for n in range(500)}
    with LMDBDatabase.open_write(settings.database_path, 1 << 26) as db:
        with db._write() as txn:
            tracemalloc.start()
            try:
                db.put_batch(items, txn)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        assert db.get("meta:test:00499") == items["meta:test:00499"]
    assert peak < 200_000  # all 500 encoded values together are 2 MB
