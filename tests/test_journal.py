"""The journal and the events it holds: bad input, damage, locks and files (issue 9).

Real journals in the test's home folder, real LMDB, real processes where the behaviour is a
process's (exit status, stderr). Item numbers refer to issue 9.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import setup_totals

from agent_tracker import config, events, fsio, journal, recorded, sessions
from agent_tracker.errors import TrackerError
from agent_tracker.flush import flush
from agent_tracker.integrate import base
from agent_tracker.journal import Journal
from agent_tracker.report import Query, build

SETUP = ("opencode", "build", "anthropic/claude-sonnet-4-5")
PROJECT = "github.com/me/app"


def append(settings: config.Settings, name: str = "edit", **fields: object) -> dict[str, object]:
    event = events.make("tool", SETUP, PROJECT, name=name, **fields)
    Journal(settings.journal_dir).append(events.encode(dict(event)))
    return event


def tool_calls(settings: config.Settings) -> int:
    return int(setup_totals(settings, SETUP)["tool_calls"])


# -- item 1: absurd times ----------------------------------------------------------------------


@pytest.mark.parametrize("ts", [1e20, 6.8e16, 10_000_000_000, -1, 10**30, True, "2024-01-01"])
def test_an_absurd_time_is_quarantined_at_parse_and_never_fails_report_or_flush(
    settings: config.Settings, ts: object
) -> None:
    append(settings, "edit")
    bad = dict(events.make("tool", SETUP, PROJECT, name="x"), ts=ts)
    Journal(settings.journal_dir).append(events.encode(bad))
    append(settings, "read")
    pending = build(settings, Query())  # the report's pending view reads the same lines
    assert sum(group.tool_calls for group in pending.groups) == 2
    result = flush(settings)
    assert (result.applied, result.quarantined) == (2, 1)
    assert tool_calls(settings) == 2
    append(settings, "again")
    assert flush(settings).applied == 1  # nothing left that blocks later flushes


def test_a_damaged_record_of_last_setups_never_fails_a_commit_lookup_or_a_flush(
    settings: config.Settings,
) -> None:
    folder = settings.journal_dir
    folder.mkdir(parents=True)
    (folder / journal.LAST_SETUPS).write_text(
        json.dumps(
            {
                PROJECT: ["yesterday", "h", "a", "m"],
                "p2": [1e20, "h", "a", "m"],
                "p3": [float("inf"), "h", "a", "m"],
                "p4": "not a list",
            }
        )
    )
    j = Journal(folder)
    for project in (PROJECT, "p2", "p3", "p4"):
        assert j.last_activity(project, 0) is None
    append(settings, "edit")
    assert flush(settings).applied == 1
    assert j.last_activity(PROJECT, 0) == (SETUP, None)


# -- item 2: text that is not valid UTF-8 ------------------------------------------------------


def test_clean_text_spells_undecodable_bytes_as_hex_and_other_lone_surrogates_as_fffd() -> None:
    latin1 = b"caf\xe9 \xff".decode("utf-8", "surrogateescape")
    assert events.clean_text(latin1) == "caf\\xe9 \\xff"
    assert events.clean_text("a\ud800b\udfffc\udc7f") == "a\ufffdb\ufffdc\ufffd"
    assert events.clean_text("déjà vu 🙂") == "déjà vu 🙂"
    # Stable: the same folder gives the same text every time, and it is valid UTF-8.
    assert events.clean_text(latin1) == events.clean_text(os.fsdecode(b"caf\xe9 \xff"))
    events.clean_text(latin1).encode("utf-8")


def test_every_field_of_an_event_may_hold_lone_surrogates_and_the_line_still_applies(
    settings: config.Settings,
) -> None:
    odd = b"\xe9".decode("utf-8", "surrogateescape") + "\ud800"
    event = events.make(
        "tool",
        ("opencode", "agent" + odd, "model" + odd),
        "/home/me/caf" + odd,
        name="edit" + odd,
        session="s" + odd * 150,  # longer once repaired: cut again to the limit
        tokens={"in": 1},
    )
    line = events.encode(event)
    decoded = events.decode(line)
    assert decoded["agent"] == "agent\\xe9\ufffd"
    assert decoded["project"] == "/home/me/caf\\xe9\ufffd"
    assert len(decoded["session"]) <= 200
    Journal(settings.journal_dir).append(line)
    result = flush(settings)
    assert (result.applied, result.quarantined) == (1, 0)


def test_capture_with_undecodable_arguments_environment_and_folder_loses_nothing(
    tmp_path: Path,
) -> None:
    """Issue 9 item 2: a Latin-1 folder, `--agent`, `--note` and AGENT_TRACKER_* values."""
    folder = os.fsencode(tmp_path) + b"/caf\xe9"  # bytes: Path would need it decoded
    Path(os.fsdecode(folder)).mkdir()
    subprocess.run(["git", "init", "-q", folder], check=True)
    subprocess.run(["git", "-C", folder, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    env = {**os.environ, "AGENT_TRACKER_MODEL": os.fsdecode(b"m\xff")}
    run = [sys.executable, "-m", "agent_tracker"]
    commands = [
        [*run, "track", "tool", "edit", "--agent", os.fsdecode(b"a\xe9")],
        [*run, "track", "command", os.fsdecode(b"py\xfe")],
        [*run, "commit"],
        [*run, "grade", "good", "--by", "user", "--note", os.fsdecode(b"n\xe9")],
    ]
    for command in commands:
        done = subprocess.run(
            command, cwd=folder, env=env, capture_output=True, timeout=60, check=False
        )
        assert (done.returncode, done.stderr) == (0, b""), command
    found, bad = Journal(config.load().journal_dir).read(config.load().journal_dir / journal.LIVE)
    assert bad == []
    assert [e["type"] for e in found] == ["tool", "command", "commit", "grade"]
    assert {e["project"] for e in found} == {os.fsdecode(tmp_path) + "/caf\\xe9"}
    assert (found[0]["agent"], found[0]["model"]) == ("a\\xe9", "m\\xff")
    assert found[3]["note"] == "n\\xe9"
    assert flush(config.load()).applied == 4


def test_session_files_are_named_after_the_session_as_events_spell_it() -> None:
    raw = "s" + b"\xe9".decode("utf-8", "surrogateescape")
    assert sessions.file_name("codex", raw) == sessions.file_name("codex", events.clean_text(raw))
    assert sessions.file_name("codex", "s\ud800") == sessions.file_name("codex", "s\ufffd")
    assert sessions.file_name("codex", raw) != sessions.file_name("codex", "s\\xe8")


# -- item 12: a NUL-filled tail ----------------------------------------------------------------


def test_a_nul_filled_tail_is_dropped_on_its_own_and_the_last_good_line_applied(
    settings: config.Settings,
) -> None:
    append(settings, "edit")
    append(settings, "read")
    live = settings.journal_dir / journal.LIVE
    with live.open("ab") as handle:
        handle.write(b"\x00" * 4096)  # a crash: the file grew, the data never came
    j = Journal(settings.journal_dir)
    assert j.pending_count() == 2
    append(settings, "after")
    with live.open("ab") as handle:
        handle.write(b"\n" + b"\x00" * 300)  # and a line that is nothing but NULs
    result = flush(settings)
    assert (result.applied, result.quarantined) == (3, 2)
    assert tool_calls(settings) == 3
    (qfile,) = j.quarantine_dir.iterdir()
    reasons = [json.loads(line)["error"] for line in qfile.read_text().splitlines()]
    assert reasons == [
        "4096 NUL bytes (left by a crash): dropped",
        "300 NUL bytes (left by a crash): dropped",
    ]


def test_the_last_good_line_before_nuls_still_attributes_a_commit(
    settings: config.Settings,
) -> None:
    append(settings, "edit")
    with (settings.journal_dir / journal.LIVE).open("ab") as handle:
        handle.write(b"\x00" * 100)
    assert Journal(settings.journal_dir).last_activity(PROJECT, 0) == (SETUP, None)


# -- item 9: a held journal lock ---------------------------------------------------------------


def hold(path: Path, kind: int) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, kind)  # another open file description: it conflicts in-process too
    return fd


def test_an_append_behind_a_held_lock_waits_a_bounded_time_then_writes_a_segment_of_its_own(
    settings: config.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Journal, "LOCK_WAIT", 0.2)
    j = Journal(settings.journal_dir)
    append(settings, "before")
    fd = hold(Path(j.lock_file), fcntl.LOCK_EX)
    try:
        started = time.monotonic()
        append(settings, "held")
        assert time.monotonic() - started < 5
        (segment,) = j.segments()
        assert [e["name"] for e in j.read(segment)[0]] == ["held"]
        assert stat.S_IMODE(segment.stat().st_mode) == 0o600
        assert [p.name for p in j.dir.iterdir() if p.name.startswith(".")] == []
    finally:
        os.close(fd)
    append(settings, "after")
    result = flush(settings)
    assert (result.applied, result.quarantined) == (3, 0)
    assert tool_calls(settings) == 3


def test_a_flush_behind_held_appender_locks_applies_the_segments_and_leaves_the_live_file(
    settings: config.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Journal, "ROTATE_WAIT", 0.2)
    monkeypatch.setattr(Journal, "LOCK_WAIT", 0.2)
    j = Journal(settings.journal_dir)
    append(settings, "live")
    fd = hold(Path(j.lock_file), fcntl.LOCK_EX)
    try:
        append(settings, "aside")  # to a segment of its own
    finally:
        os.close(fd)
    fd = hold(Path(j.lock_file), fcntl.LOCK_SH)  # an appender stuck holding its lock
    try:
        started = time.monotonic()
        result = flush(settings)
        assert time.monotonic() - started < 5
        assert result.applied == 1
        assert j.pending_count() == 1  # the live file waits for the next flush
    finally:
        os.close(fd)
    assert flush(settings).applied == 1
    assert tool_calls(settings) == 2


# -- item 14: durable deletions ----------------------------------------------------------------


def test_segment_deletions_are_fsynced_before_the_flush_ends_and_before_markers_are_forgotten(
    settings: config.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent_tracker import flush as flush_module

    steps: list[str] = []
    real_sync = fsio.sync_folder
    real_unlink = Path.unlink

    def sync(folder: str | os.PathLike[str]) -> None:
        steps.append("sync")
        real_sync(folder)

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self.name.startswith(journal.SEGMENT_PREFIX):
            steps.append("unlink")
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(flush_module.fsio, "sync_folder", sync)
    monkeypatch.setattr(Path, "unlink", unlink)
    append(settings, "edit")
    Journal(settings.journal_dir).append_aside(
        events.encode(events.make("tool", SETUP, PROJECT, name="x"))
    )
    flush(settings)
    assert steps[-3:] == ["unlink", "unlink", "sync"]
    # A flush killed after its deletions but before that fsync: the next flush, about to
    # forget the deleted segments' markers, makes the deletions last first.
    steps.clear()
    monkeypatch.setattr(fsio, "sync_folder", sync)  # rotate's own fsync, told apart below
    real_delete = flush_module.WriteBatch.delete

    def delete(self: object, key: str) -> None:
        if key.startswith("meta:segment:"):
            steps.append("forget")
        real_delete(self, key)  # type: ignore[arg-type]

    monkeypatch.setattr(flush_module.WriteBatch, "delete", delete)
    append(settings, "next")
    flush(settings)
    assert "forget" in steps
    assert "sync" in steps[: steps.index("forget")]


# -- item 18: symbolic links and the folder's owner and mode ------------------------------------


@pytest.mark.parametrize("name", [journal.LIVE, "journal.lock"])
def test_a_symbolic_link_in_the_journal_folder_is_refused_with_a_clear_message(
    settings: config.Settings, tmp_path: Path, name: str
) -> None:
    append(settings, "edit")
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    link = settings.journal_dir / name
    link.unlink()
    link.symlink_to(victim)
    with pytest.raises(TrackerError, match="is a symbolic link"):
        append(settings, "read")
    assert victim.read_bytes() == b"precious\n"


def test_a_journal_folder_of_ours_that_is_too_open_is_narrowed_to_0700(
    settings: config.Settings,
) -> None:
    folder = settings.journal_dir
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    append(settings, "edit")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_journal_folder_of_someone_else_is_refused_with_a_clear_message(
    settings: config.Settings,
) -> None:
    folder = settings.journal_dir
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    os.chown(folder, 4242, 4242)
    with pytest.raises(TrackerError, match="belongs to another user"):
        append(settings, "edit")
    assert list(folder.iterdir()) == []
    with pytest.raises(TrackerError, match="belongs to another user"):
        flush(settings)


def test_a_journal_dir_that_is_a_file_is_refused_and_the_file_left_as_it_was(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    notes.chmod(0o644)
    monkeypatch.setenv("AGENT_TRACKER_JOURNAL_DIR", str(notes))
    with pytest.raises(TrackerError, match="is not a folder"):
        append(config.load(), "edit")
    assert stat.S_IMODE(notes.stat().st_mode) == 0o644
    assert notes.read_text() == "mine"
    with pytest.raises(config.ConfigError, match="is not a folder"):
        config.normalise("journal_dir", str(notes))


def test_a_shared_sticky_folder_is_refused_as_a_journal_not_narrowed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    monkeypatch.setenv("AGENT_TRACKER_JOURNAL_DIR", str(shared))
    with pytest.raises(TrackerError, match="shared folder"):
        append(config.load(), "edit")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777


# -- items 14 and 25: one atomic write, private from the start -------------------------------


def test_files_are_created_private_under_umask_000_never_narrowed_afterwards(
    settings: config.Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With chmod disabled, a file created wider and narrowed later would stay wide."""

    def no_chmod(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a file was narrowed after its creation: {args}")

    old = os.umask(0)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(os, "chmod", no_chmod)
            patch.setattr(os, "fchmod", no_chmod)
            append(settings, "edit")
            with (settings.journal_dir / journal.LIVE).open("ab") as handle:
                handle.write(b"\nnot json")
            flush(settings)  # quarantine, last setups, recorded commits
            append(settings, "later")
            recorded.remember(str(settings.journal_dir), ["a" * 40] * (2 * recorded.KEEP + 1))
            store = sessions.SessionStore(str(settings.journal_dir))
            store.open("codex", "s1").close()
            Journal(settings.journal_dir).append_aside(b"\n{}")
        # Harness config is widened on purpose (0644), after its private creation.
        base.write_atomic(tmp_path / "harness" / "config.json", b"{}", private_parent=True)
    finally:
        os.umask(old)
    found = [p for p in settings.journal_dir.rglob("*") if p.is_file()]
    names = {p.name for p in found}
    assert {journal.LIVE, journal.LAST_SETUPS, recorded.FILE, "codex--s1.json"} <= names
    assert any(p.parent.name == "quarantine" for p in found)
    wide = {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in found if p.stat().st_mode & 0o077}
    assert wide == {}
    # Harness config holds no secrets: a new one gets 0644 less the umask, exactly.
    assert stat.S_IMODE((tmp_path / "harness" / "config.json").stat().st_mode) == 0o644
