"""Fault injection: the journal (issue 9 items 1, 2, 3, 9, 12, 14, 18, 25).

Each case records events with real `agent-tracker` processes, injects one named fault into
the journal or its surroundings, and checks afterwards, from the database, that every event
recorded is counted exactly once (nothing lost, nothing twice), and that no process printed
a traceback. The figures go to the ledger as observed.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import git

from agent_tracker import config, events
from agent_tracker.journal import LIVE, Journal
from agent_tracker.store import LMDBDatabase
from faults.conftest import Ledger, has_traceback, killed_at, tracker

SETUP_ARGS = ("--harness", "opencode", "--agent", "build", "--model", "m")


def settings() -> config.Settings:
    return config.load()


def counted() -> dict[str, int]:
    """Tool calls, commands and commits counted in the database (0 when there is none)."""
    s = settings()
    db = LMDBDatabase.open_read(s.database_path, s.max_database_size)
    if db is None:
        return {"tool_calls": 0, "commands": 0, "commits": 0}
    with db:
        agents = db.agents()
    return {key: sum(a[key] for a in agents) for key in ("tool_calls", "commands", "commits")}


class Runs:
    """Real agent-tracker processes; counts the tracebacks any of them printed."""

    def __init__(self) -> None:
        self.tracebacks = 0

    def __call__(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        done = tracker(*args, **kwargs)  # type: ignore[arg-type]
        self.tracebacks += has_traceback(done.stderr) + has_traceback(done.stdout)
        return done

    def track(self, count: int, cwd: Path | None = None, name: str = "edit") -> None:
        for index in range(count):
            done = self("track", "tool", f"{name}{index}", *SETUP_ARGS, cwd=cwd)
            assert done.returncode == 0, done.stderr

    def flush(self) -> dict[str, object]:
        done = self("flush", "--format", "json")
        assert done.returncode == 0, done.stderr
        result: dict[str, object] = json.loads(done.stdout)
        return result


@pytest.fixture
def runs() -> Runs:
    return Runs()


def live() -> Path:
    return settings().journal_dir / LIVE


def inject(line: bytes) -> None:
    with live().open("ab") as handle:
        handle.write(b"\n" + line)


def test_item_1_absurd_times_are_quarantined_and_every_other_event_applied(
    runs: Runs, ledger: Ledger
) -> None:
    """Fault: journal lines whose `ts` is 1e20, 6.8e16, -1 or text. Expected: `report` and
    `flush` succeed, those lines are quarantined, the 6 real events counted once."""
    runs.track(3)
    absurd = [1e20, 6.8e16, -1, "yesterday"]
    for ts in absurd:
        event = dict(events.make("tool", ("opencode", "build", "m"), "p", name="x"), ts=ts)
        inject(events.encode(event).rstrip())
    runs.track(3, name="more")
    report = runs("report", "--format", "json")
    assert report.returncode == 0, report.stderr
    result = runs.flush()
    got = counted()["tool_calls"]
    ledger.record(
        "1: absurd ts in the journal",
        "quarantined at parse; report and flush work; the rest applied once",
        injected=len(absurd),
        checked=6,
        lost=max(0, 6 - got),
        duplicated=max(0, got - 6),
        tracebacks=runs.tracebacks,
    )
    assert (result["applied"], result["quarantined"]) == (6, 4)
    assert got == 6
    assert runs.tracebacks == 0


def test_item_2_text_that_is_not_utf8_anywhere_in_capture_loses_no_event(
    runs: Runs, ledger: Ledger, tmp_path: Path
) -> None:
    """Fault: a Latin-1 folder name, undecodable `--agent`, `--note` and AGENT_TRACKER_*
    values, a hook payload with raw Latin-1 bytes and one with "\\ud800". Expected: every
    capture exits 0 without a traceback, one project identity, all events applied once."""
    folder = os.fsencode(tmp_path) + b"/caf\xe9"
    Path(os.fsdecode(folder)).mkdir()
    repo = Path(os.fsdecode(folder))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "first")
    latin = os.fsdecode
    env = {**os.environ, "AGENT_TRACKER_AGENT": latin(b"env\xff")}
    captures: list[tuple[tuple[str, ...], bytes | None]] = [
        (("track", "tool", "edit", "--agent", latin(b"a\xe9")), None),
        (("track", "command", latin(b"make\xfe"), "--model", latin(b"m\xe0")), None),
        (("commit",), None),
        (("grade", "good", "--by", "user", "--note", latin(b"n\xe9")), None),
        (
            ("hook", "claude-code"),
            b'{"hook_event_name":"PostToolUse","tool_name":"Edit","session_id":"s1","cwd":"'
            + folder
            + b'"}',
        ),
        (
            ("hook", "claude-code"),
            b'{"hook_event_name":"PostToolUse","tool_name":"W\\ud800","session_id":"s\\udfff"}',
        ),
    ]
    failed = 0
    for args, payload in captures:
        done = runs(*args, cwd=repo, env=env, stdin=payload)
        failed += done.returncode != 0 or done.stderr != ""
    found, bad = Journal(settings().journal_dir).read(live())
    projects = {event["project"] for event in found}
    result = runs.flush()
    totals = counted()
    got = totals["tool_calls"] + totals["commands"] + totals["commits"] + 1  # + the grade
    expected = len(captures)
    ledger.record(
        "2: invalid UTF-8 / lone surrogates in folder, argv, env and payloads",
        "every capture recorded, one project identity, no traceback",
        injected=len(captures),
        checked=expected,
        lost=max(0, expected - int(str(result["applied"]))),
        duplicated=max(0, got - expected),
        tracebacks=runs.tracebacks,
    )
    assert failed == 0
    assert bad == []
    assert projects == {os.fsdecode(tmp_path) + "/caf\\xe9"}
    assert result["applied"] == expected
    assert totals == {"tool_calls": 3, "commands": 1, "commits": 1}
    assert runs.tracebacks == 0


NEWER = events.EVENT_FORMAT + 1
#: A flush by a newer agent-tracker (one that knows format NEWER), in a real process.
NEWER_FLUSH = (
    f"import sys; from agent_tracker import events; events.EVENT_FORMAT = {NEWER}; "
    "from agent_tracker.entry import main; sys.exit(main(['flush', '--format', 'json']))"
)


def test_item_3_lines_of_a_newer_format_wait_for_a_newer_flush_while_the_rest_applies(
    runs: Runs, ledger: Ledger
) -> None:
    """Fault: two installs of different versions share one journal; the newer one writes
    format NEWER lines. Expected: the older flush and report work, apply the rest, keep the
    newer lines pending (named); the newer install's flush applies them, exactly once."""
    runs.track(2)
    for index in range(3):
        event = {**events.make("tool", ("opencode", "build", "m"), "p", name=f"n{index}")}
        inject(events.encode({**event, "v": NEWER}).rstrip())
    runs.track(2, name="after")
    report = runs("report", "--format", "json")
    older = runs.flush()
    pending = Journal(settings().journal_dir).pending_count()
    runs.track(1, name="later")
    again = runs.flush()  # an older flush leaves them alone, every time
    done = subprocess.run(
        [sys.executable, "-c", NEWER_FLUSH], capture_output=True, text=True, timeout=60, check=False
    )
    runs.tracebacks += has_traceback(done.stderr)
    newer = json.loads(done.stdout)
    got = counted()["tool_calls"]
    ledger.record(
        "3: journal lines of a newer event format",
        "set aside and named; the rest applied; a newer flush applies them once",
        injected=3,
        checked=8,
        lost=max(0, 8 - got),
        duplicated=max(0, got - 8),
        tracebacks=runs.tracebacks,
    )
    assert report.returncode == 0
    assert (older["applied"], older["newer"], older["quarantined"]) == (4, 3, 0)
    (kept,) = older["newer_files"]  # type: ignore[misc]
    assert str(kept).endswith("-newer.jsonl")
    assert pending == 3
    assert (again["applied"], again["newer"]) == (1, 3)
    assert (newer["applied"], newer["newer"]) == (3, 0)
    assert got == 8
    assert Journal(settings().journal_dir).pending_count() == 0


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(120)
"""


def test_item_9_a_held_journal_lock_never_hangs_track_or_commit_nor_loses_their_events(
    runs: Runs, ledger: Ledger, make_repo: Callable[..., Path]
) -> None:
    """Fault: another process holds the journal lock and never lets go. Expected: `track`
    and `commit` return within seconds, exit 0, and their events reach the database."""
    repo = make_repo("held")
    runs.track(1, cwd=repo)  # the journal folder and its lock file exist
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(settings().journal_dir / "journal.lock")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        started = time.monotonic()
        runs.track(3, cwd=repo, name="held")
        (repo / "f.txt").write_text("x\n")
        git(repo, "add", "f.txt")
        git(repo, "commit", "-q", "-m", "while held")
        commit = runs("commit", *SETUP_ARGS, cwd=repo, timeout=30)
        took = time.monotonic() - started
        during = runs.flush()  # applies the events written aside; the live file waits
    finally:
        holder.kill()
        holder.wait(timeout=10)
    after = runs.flush()
    totals = counted()
    got = totals["tool_calls"] + totals["commits"]
    ledger.record(
        "9: journal lock held by another process",
        "track and commit return within a bound; events applied once",
        injected=1,
        checked=5,
        lost=max(0, 5 - got),
        duplicated=max(0, got - 5),
        tracebacks=runs.tracebacks,
    )
    assert commit.returncode == 0, commit.stderr
    assert took < 30  # 4 processes, each waiting at most Journal.LOCK_WAIT for the lock
    assert during["applied"] == 4
    assert after["applied"] == 1
    assert totals == {"tool_calls": 4, "commands": 0, "commits": 1}


def test_item_12_a_nul_filled_tail_is_dropped_alone_and_the_last_good_line_applied(
    runs: Runs, ledger: Ledger
) -> None:
    """Fault: a crash leaves 8 KiB of NUL bytes after the last good line, then capture goes
    on. Expected: the NULs are one quarantined entry; all 5 events applied once."""
    runs.track(3)
    with live().open("ab") as handle:
        handle.write(b"\x00" * 8192)
    runs.track(2, name="after")
    result = runs.flush()
    got = counted()["tool_calls"]
    ledger.record(
        "12: NUL-filled journal tail",
        "the NULs quarantined alone; the last good line and everything else applied",
        injected=1,
        checked=5,
        lost=max(0, 5 - got),
        duplicated=max(0, got - 5),
        tracebacks=runs.tracebacks,
    )
    assert (result["applied"], result["quarantined"]) == (5, 1)
    assert got == 5


def test_item_14_a_flush_killed_between_segment_deletions_applies_nothing_twice(
    runs: Runs, ledger: Ledger
) -> None:
    """Fault: flushes killed right after rotating (leaving 3 segments), then one killed
    after deleting the first segment, before the rest and before the folder's fsync.
    Expected: the next flushes make the deletions last before forgetting their markers,
    and every event is counted once."""
    statuses = []
    for batch in range(3):
        runs.track(2, name=f"b{batch}-")
        statuses.append(killed_at("after-rotation", ["flush"]))
    segments = len(Journal(settings().journal_dir).segments())
    statuses.append(killed_at("between-deletions", ["flush"]))
    left = len(Journal(settings().journal_dir).segments())
    runs.flush()
    runs.track(1, name="next")
    runs.flush()  # forgets the markers of the deleted segments
    got = counted()["tool_calls"]
    ledger.record(
        "14: flush killed between segment deletions",
        "segments deleted durably before their markers are forgotten; each event once",
        injected=len(statuses),
        checked=7,
        lost=max(0, 7 - got),
        duplicated=max(0, got - 7),
        tracebacks=runs.tracebacks,
    )
    assert statuses == [-9, -9, -9, -9]
    assert (segments, left) == (3, 2)
    assert got == 7
    assert Journal(settings().journal_dir).segments() == []


def test_item_18_symbolic_links_and_foreign_or_open_journal_folders(
    runs: Runs, ledger: Ledger, tmp_path: Path
) -> None:
    """Fault: a symbolic link planted as the live journal; the folder opened to 0777; the
    folder given to another user. Expected: the link refused with one clear line (its
    target untouched), the folder narrowed to 0700, another user's folder refused; what was
    recorded before stays counted."""
    runs.track(2)
    runs.flush()
    folder = settings().journal_dir
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    live().unlink(missing_ok=True)
    live().symlink_to(victim)
    refused = runs("track", "tool", "edit", *SETUP_ARGS)
    live().unlink()
    folder.chmod(0o777)
    runs.track(1, name="open")
    mode = stat.S_IMODE(folder.stat().st_mode)
    injected = 2
    foreign = None
    if os.geteuid() == 0:
        injected += 1
        os.chown(folder, 4242, 4242)
        foreign = runs("track", "tool", "edit", *SETUP_ARGS)
        os.chown(folder, 0, 0)
    runs.flush()
    got = counted()["tool_calls"]
    ledger.record(
        "18: symlinked journal file, world-writable or foreign journal folder",
        "link refused with one line; folder narrowed to 0700; foreign folder refused",
        injected=injected,
        checked=3,
        lost=max(0, 3 - got),
        duplicated=max(0, got - 3),
        tracebacks=runs.tracebacks,
    )
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1
    assert "is a symbolic link" in refused.stderr
    assert victim.read_bytes() == b"precious\n"
    assert mode == 0o700
    if foreign is not None:
        assert foreign.returncode == 1
        assert foreign.stderr.count("\n") == 1
        assert "belongs to another user" in foreign.stderr
    assert got == 3
    assert runs.tracebacks == 0


def test_item_25_under_umask_000_every_journal_file_is_private(
    runs: Runs, ledger: Ledger, make_repo: Callable[..., Path]
) -> None:
    """Fault: umask 000. Expected: every file the capture, hook and flush create in the
    journal folder is 0600 and every folder 0700."""
    repo = make_repo("open")
    old = os.umask(0)
    try:
        runs.track(2, cwd=repo)
        inject(b"not json")  # a quarantine file
        runs.flush()
        payload = '{"hook_event_name":"PostToolUse","tool_name":"Edit","session_id":"s9"}'
        runs("hook", "claude-code", cwd=repo, stdin=payload)
        runs.flush()
    finally:
        os.umask(old)
    folder = settings().journal_dir
    found = list(folder.rglob("*"))
    wide = [
        f"{p.name} {oct(stat.S_IMODE(p.stat().st_mode))}"
        for p in found
        if stat.S_IMODE(p.stat().st_mode) & 0o077
    ]
    got = counted()["tool_calls"]
    ledger.record(
        "25: umask 000",
        "every journal file 0600, every folder 0700",
        injected=1,
        checked=3,
        lost=max(0, 3 - got),
        duplicated=max(0, got - 3),
        tracebacks=runs.tracebacks,
    )
    assert {p.name for p in found} >= {"quarantine", "sessions", "last-setups.json"}
    assert wide == []
    assert got == 3
