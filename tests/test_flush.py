from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path

import format1
import pytest
from conftest import Result, commit_event, commit_file, db_entries, setup_totals

from agent_tracker import config, events, facts, store, totals
from agent_tracker.errors import DatabaseFullError, FormatError
from agent_tracker.flush import FlushResult, flush
from agent_tracker.journal import Journal
from agent_tracker.keys import agent_key
from agent_tracker.report import Query, build
from agent_tracker.store import LMDBDatabase

SETUP = ("opencode", "build", "anthropic/claude-sonnet-4-5")
OTHER = ("claude-code", "plan", "openai/gpt-5")
PROJECT = "github.com/me/app"


def append(
    settings: config.Settings,
    kind: str,
    setup: tuple[str, str, str] = SETUP,
    project: str = PROJECT,
    **fields: object,
) -> dict[str, object]:
    event = events.make(kind, setup, project, **fields)
    Journal(settings.journal_dir).append(events.encode(dict(event)))
    return event


def append_commit(
    settings: config.Settings, sha: str, setup: tuple[str, str, str] = SETUP, project: str = PROJECT
) -> None:
    event = commit_event(setup, project, sha, insertions=3, deletions=1, exts={".py": 1})
    Journal(settings.journal_dir).append(events.encode(event))


def grade_event(
    settings: config.Settings, sha: str, by: str, grade: int, project: str = PROJECT
) -> dict[str, object]:
    return append(settings, "grade", ("unknown",) * 3, project, hash=sha, by=by, grade=grade)


def setup_record(settings: config.Settings, setup: tuple[str, str, str] = SETUP) -> dict:
    return setup_totals(settings, setup)


def test_flush_applies_everything_in_one_transaction_with_one_put_per_key(
    settings: config.Settings,
) -> None:
    for _ in range(500):
        append(settings, "tool", name="edit")
    for _ in range(50):
        append(settings, "command", name="test")
    result = flush(settings)
    # 500 tool calls and 50 commands of one setup in one project on one day collapse into:
    # agent record, project record, day record, usage fact, segment marker.
    assert result.puts == 5
    assert result.applied == 550
    assert result.by_type == {"tool": 500, "command": 50}
    record = setup_record(settings)
    assert (record["tool_calls"], record["commands"], record["xp"]) == (500, 50, 600)


def test_flush_uses_exactly_one_write_transaction(settings: config.Settings) -> None:
    append(settings, "tool", name="edit")
    flush(settings)  # creates and initialises the database
    for index in range(20):
        append_commit(settings, f"{index:040x}")
        append(settings, "tool", name="edit")
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    assert db is not None
    with db:
        before = db.env.info()["last_txnid"]
    flush(settings)
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    assert db is not None
    with db:
        assert db.env.info()["last_txnid"] == before + 1


def test_second_flush_with_nothing_pending_changes_nothing(settings: config.Settings) -> None:
    append(settings, "tool", name="edit")
    append_commit(settings, "a" * 40)
    flush(settings)
    before = db_entries(settings)
    result = flush(settings)
    assert (result.segments, result.applied, result.puts) == (0, 0, 0)
    assert db_entries(settings) == before
    assert Journal(settings.journal_dir).pending_count() == 0


def test_commit_scores_five_xp_once_even_if_recorded_twice(settings: config.Settings) -> None:
    append_commit(settings, "b" * 40)
    append_commit(settings, "b" * 40)
    result = flush(settings)
    assert result.duplicates == 1
    record = setup_record(settings)
    assert (record["commits"], record["xp"]) == (1, 5)


def test_grades_count_for_the_setup_that_made_the_commit_and_regrading_replaces(
    settings: config.Settings,
) -> None:
    append_commit(settings, "c" * 40, setup=OTHER)
    grade_event(settings, "c" * 40, "agent", 5)
    grade_event(settings, "c" * 40, "user", 2)
    flush(settings)
    record = setup_record(settings, OTHER)
    assert (record["score"], record["grades"], record["graded_commits"]) == (7, 2, 1)
    grade_event(settings, "c" * 40, "user", -1)  # the user changes their mind
    flush(settings)
    record = setup_record(settings, OTHER)
    assert (record["score"], record["grades"], record["graded_commits"]) == (4, 2, 1)
    assert record["mix"] == {"-1": 1, "1": 0, "2": 0, "5": 1}


@pytest.mark.parametrize(
    ("agent_grade", "user_grade", "expected"), [(-1, -1, -2), (5, 5, 10), (1, 2, 3)]
)
def test_one_commit_moves_the_score_by_minus_2_to_plus_10(
    settings: config.Settings, agent_grade: int, user_grade: int, expected: int
) -> None:
    append_commit(settings, "d" * 40)
    for grade in (5, 2, agent_grade):
        grade_event(settings, "d" * 40, "agent", grade)
    for grade in (-1, 5, user_grade):
        grade_event(settings, "d" * 40, "user", grade)
    flush(settings)
    assert setup_record(settings)["score"] == expected


def test_an_older_grade_arriving_late_does_not_replace_a_newer_one(
    settings: config.Settings,
) -> None:
    append_commit(settings, "e" * 40)
    newer = events.make("grade", SETUP, PROJECT, hash="e" * 40, by="user", grade=5)
    older = dict(newer, id=events.new_id(), ts=float(newer["ts"]) - 100, grade=-1)
    journal = Journal(settings.journal_dir)
    journal.append(events.encode(dict(newer)))
    journal.append(events.encode(dict(older)))
    flush(settings)
    assert setup_record(settings)["score"] == 5


def test_incremental_totals_equal_totals_rebuilt_from_facts(settings: config.Settings) -> None:
    for index in range(12):
        setup = SETUP if index % 3 else OTHER
        project = f"proj{index % 4}"
        sha = f"{index:040x}"
        append(settings, "tool", setup, project, name="edit")
        append(settings, "command", setup, project, name="test")
        append_commit(settings, sha, setup, project)
        grade_event(settings, sha, "agent", (-1, 1, 2, 5)[index % 4], project)
        if index % 2:
            grade_event(settings, sha, "user", 2, project)
            grade_event(settings, sha, "user", (5, -1)[index % 4 // 2], project)
        if index % 5 == 0:
            flush(settings)
    flush(settings)
    derived = [k for k in db_entries(settings) if k.startswith((b"agent:", b"project:"))]
    assert len(derived) == 2 + 4
    assert_totals_match_rebuild(settings)


def test_bad_lines_are_quarantined_and_counted_and_the_rest_applied(
    settings: config.Settings,
) -> None:
    append(settings, "tool", name="edit")
    live = settings.journal_dir / "live.jsonl"
    with live.open("ab") as handle:
        handle.write(b'\n{"v":1,"type":"tool","trunc')  # torn: no end, no newline
        handle.write(b"\nnot json at all\n")
        handle.write(
            b'{"v":1,"id":"x","type":"grade","ts":1,"harness":"h","agent":"a",'
            b'"model":"m","project":"p","hash":"abcd1234","by":"boss","grade":2}\n'
        )
    append(settings, "tool", name="read")
    result = flush(settings)
    assert (result.applied, result.quarantined) == (2, 3)
    journal = Journal(settings.journal_dir)
    assert journal.quarantined_count() == 3
    (qfile,) = journal.quarantine_dir.iterdir()
    reasons = [json.loads(line)["error"] for line in qfile.read_text().splitlines()]
    assert any("'by'" in reason for reason in reasons)
    assert setup_record(settings)["tool_calls"] == 2


def newer_line(name: str = "edit") -> bytes:
    event = events.make("tool", SETUP, PROJECT, name=name)
    return events.encode({**event, "v": events.EVENT_FORMAT + 1}).rstrip(b"\n")


def test_lines_of_a_newer_format_are_set_aside_for_a_newer_flush_and_the_rest_applied(
    settings: config.Settings,
) -> None:
    """Issue 9 item 3: a newer install's lines neither stop the flush nor get lost."""
    journal = Journal(settings.journal_dir)
    append(settings, "tool", name="edit")
    with (settings.journal_dir / "live.jsonl").open("ab") as handle:
        handle.write(b"\n" + newer_line("future-1") + b"\n" + newer_line("future-2"))
    append(settings, "tool", name="read")
    result = flush(settings)
    assert (result.applied, result.quarantined, result.newer) == (2, 0, 2)
    assert setup_record(settings)["tool_calls"] == 2
    (kept,) = journal.segments()  # the newer lines, as a pending segment of their own
    assert kept.name.endswith("-newer.jsonl")
    assert result.newer_files == [str(kept)]
    assert [json.loads(line)["name"] for line in kept.read_bytes().split()] == [
        "future-1",
        "future-2",
    ]
    assert journal.pending_count() == 2
    # An older flush leaves such a segment alone, again and again, applying what is new.
    append(settings, "tool", name="write")
    again = flush(settings)
    assert (again.applied, again.newer, again.quarantined) == (1, 2, 0)
    assert journal.segments() == [kept]
    assert setup_record(settings)["tool_calls"] == 3
    # A newer agent-tracker's flush would apply it as any segment: pretend to be one.
    monkey = pytest.MonkeyPatch()
    monkey.setattr(events, "EVENT_FORMAT", events.EVENT_FORMAT + 1)
    try:
        newer = flush(settings)
    finally:
        monkey.undo()
    assert (newer.applied, newer.newer) == (2, 0)
    assert setup_record(settings)["tool_calls"] == 5
    assert journal.segments() == []


def test_the_report_leaves_newer_lines_out_of_its_pending_view_instead_of_failing(
    settings: config.Settings,
) -> None:
    append(settings, "tool", name="edit")
    with (settings.journal_dir / "live.jsonl").open("ab") as handle:
        handle.write(b"\n" + newer_line())
    report = build(settings, Query())
    assert report.pending_events == 2
    assert sum(group.tool_calls for group in report.groups) == 1


def test_a_flush_killed_before_setting_newer_lines_aside_sets_them_aside_next_time(
    settings: config.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(settings.journal_dir)
    append(settings, "tool", name="edit")
    with (settings.journal_dir / "live.jsonl").open("ab") as handle:
        handle.write(b"\n" + newer_line())

    def killed(self: Journal, segment_id: str, lines: object) -> None:
        raise KeyboardInterrupt  # the flush dies after its commit, before the hand-over

    with monkeypatch.context() as patch:
        patch.setattr(Journal, "set_aside", killed)
        with pytest.raises(KeyboardInterrupt):
            flush(settings)
    (segment,) = journal.segments()  # applied (its marker is committed), not deleted
    assert not segment.name.endswith("-newer.jsonl")
    result = flush(settings)
    assert (result.skipped_segments, result.applied, result.newer) == (1, 0, 1)
    (kept,) = journal.segments()
    assert kept.name == segment.name.replace(".jsonl", "-newer.jsonl")
    assert setup_record(settings)["tool_calls"] == 1  # applied once, not twice
    assert flush(settings).newer == 1  # and set aside once: the kept segment stays as it is
    assert len(journal.segments()) == 1


def setup_record_missing(settings: config.Settings) -> bool:
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    return db is None or not db.agents()


def test_database_of_a_newer_format_is_refused(settings: config.Settings) -> None:
    append(settings, "tool", name="edit")
    flush(settings)
    db = LMDBDatabase.open_write(settings.database_path, settings.max_database_size)
    with db, db.env.begin(write=True) as txn:
        txn.put(b"meta:format", b"99")
    append(settings, "tool", name="edit")
    with pytest.raises(FormatError, match="format 99"):
        flush(settings)
    assert Journal(settings.journal_dir).pending_count() == 1


def test_full_database_keeps_events_pending_and_says_how_to_raise_the_limit(
    home: Path,
) -> None:
    small = config.load(flags={"max_database_size": 1048576})
    journal = Journal(small.journal_dir)
    for index in range(3000):  # distinct commits: far more than 1 MiB of records
        event = commit_event(SETUP, f"p{index}", f"{index:040x}", subject="s" * 300)
        journal.append(events.encode(event))
    with pytest.raises(DatabaseFullError, match="max_database_size"):
        flush(small)
    assert journal.pending_count() == 3000
    bigger = config.load(flags={"max_database_size": 64 * 1048576})
    result = flush(bigger)
    assert result.applied == 3000
    assert journal.pending_count() == 0


def test_a_second_flush_while_one_runs_reports_busy_and_applies_nothing(
    settings: config.Settings,
) -> None:
    append(settings, "tool", name="edit")
    journal = Journal(settings.journal_dir)
    held = journal.try_lock_flush()
    assert held is not None
    try:
        result = flush(settings)
    finally:
        os.close(held)
    assert result.busy
    assert journal.pending_count() == 1
    assert flush(settings).applied == 1


def test_segment_already_recorded_is_skipped_and_deleted(settings: config.Settings) -> None:
    append(settings, "tool", name="edit")
    journal = Journal(settings.journal_dir)
    segment = journal.rotate()
    assert segment is not None
    copy = segment.read_bytes()
    flush(settings)
    segment.write_bytes(copy)  # as if the flush died after its commit, before the delete
    result = flush(settings)
    assert (result.skipped_segments, result.applied) == (1, 0)
    assert not segment.exists()
    assert setup_record(settings)["tool_calls"] == 1


def test_database_files_are_private(settings: config.Settings) -> None:
    append(settings, "tool", name="edit")
    flush(settings)
    assert (settings.database_path.stat().st_mode & 0o777) == 0o700
    for name in ("data.mdb", "lock.mdb"):
        assert ((settings.database_path / name).stat().st_mode & 0o777) == 0o600


def test_long_names_never_make_keys_longer_than_lmdb_allows(settings: config.Settings) -> None:
    long_setup = ("h" * 100, "a" * 200, "m" * 200)
    journal = Journal(settings.journal_dir)
    event = commit_event(long_setup, "p" * 500, "f" * 40)
    journal.append(events.encode(event))
    flush(settings)
    keys = db_entries(settings)
    assert max(len(k) for k in keys) < 100
    assert agent_key(events.setup_id(*long_setup)).encode() in keys


def test_spec_database_interface_round_trips(settings: config.Settings) -> None:
    db = store.LMDBDatabase.open_write(settings.database_path, settings.max_database_size)
    with db:
        db.put_agent("s1", {"xp": 3})
        db.put_commit("p1", "abc", {"subject": "x"})
        db.put_communication("p1", "abc", "user", {"grade": 2})
        assert db.put_batch({"agent:s2": {"xp": 1}, "agent:s3": {"xp": 2}}) == 2
        assert db.get_agent("s1") == {"xp": 3}
        assert db.get_commit("p1", "abc") == {"subject": "x"}
        assert db.get_communication("p1", "abc", "user") == {"grade": 2}
        assert db.get_agent("missing") is None
        assert db.write_transactions == 4


def test_lines_that_would_break_a_flush_are_quarantined_instead(
    settings: config.Settings,
) -> None:
    append(settings, "tool", name="edit")
    journal = Journal(settings.journal_dir)
    long_hash = commit_event(SETUP, PROJECT, "a" * 600)
    bad_exts = commit_event(SETUP, PROJECT, "b" * 40, exts={".py": "many"})
    not_hex = events.make("grade", SETUP, PROJECT, hash="../../etc", by="user", grade=2)
    far_future = dict(events.make("tool", SETUP, PROJECT, name="x"), ts=1e20)  # no such day
    for event in (long_hash, bad_exts, not_hex, far_future):
        journal.append(events.encode(event))
    append(settings, "tool", name="read")
    result = flush(settings)
    assert (result.applied, result.quarantined) == (2, 4)
    assert setup_record(settings)["commits"] == 0
    append(settings, "tool", name="again")
    assert flush(settings).applied == 1  # nothing left blocking later flushes


def test_a_torn_line_does_not_take_the_next_event_with_it(settings: config.Settings) -> None:
    append(settings, "tool", name="edit")
    with (settings.journal_dir / "live.jsonl").open("ab") as handle:
        handle.write(b'\n{"v":1,"id":"abc","type":"to')  # a crash mid-append
    append(settings, "tool", name="read")
    result = flush(settings)
    assert (result.applied, result.quarantined) == (2, 1)


@pytest.mark.parametrize("flush_between", [False, True])
def test_grades_applied_before_their_commit_move_to_the_commit_setup(
    settings: config.Settings, flush_between: bool
) -> None:
    grade_event(settings, "c" * 40, "user", 5)  # graded before the commit was recorded
    if flush_between:
        flush(settings)
        assert setup_record(settings, ("unknown",) * 3)["score"] == 5
    append_commit(settings, "c" * 40, setup=OTHER)
    grade_event(settings, "c" * 40, "agent", 2)
    flush(settings)
    record = setup_record(settings, OTHER)
    assert (record["score"], record["grades"], record["graded_commits"]) == (7, 2, 1)
    if flush_between:
        unknown = setup_record(settings, ("unknown",) * 3)
        assert (unknown["score"], unknown["grades"], unknown["graded_commits"]) == (0, 0, 0)
    assert_totals_match_rebuild(settings)


def test_an_amended_commit_replaces_the_one_it_amends_and_keeps_its_grades(
    settings: config.Settings,
) -> None:
    append_commit(settings, "1" * 40)
    grade_event(settings, "1" * 40, "user", 5)
    flush(settings)
    amended = commit_event(SETUP, PROJECT, "2" * 40, replaces="1" * 40)
    Journal(settings.journal_dir).append(events.encode(amended))
    flush(settings)
    record = setup_record(settings)
    assert (record["commits"], record["xp"], record["score"], record["graded_commits"]) == (
        1,
        5,
        5,
        1,
    )
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    assert db is not None
    with db:
        pid = events.project_id(PROJECT)
        assert db.get_commit(pid, "1" * 40) is None
        assert db.get_communication(pid, "2" * 40, "user") is not None
    assert_totals_match_rebuild(settings)


def assert_totals_match_rebuild(settings: config.Settings) -> None:
    """Derived records kept up to date by flushes equal those recomputed from the facts."""
    incremental = db_entries(settings)
    db = LMDBDatabase.open_write(settings.database_path, settings.max_database_size)
    with db:
        db.rebuild_totals()
    rebuilt = db_entries(settings)
    derived = (b"agent:", b"project:", b"day:", b"reverts:")
    checked = 0
    for key in incremental.keys() | rebuilt.keys():
        if key.startswith(derived):
            before = json.loads(incremental[key]) if key in incremental else None
            after = json.loads(rebuilt[key]) if key in rebuilt else None
            if after is None and before is not None:  # emptied by moves: all counts zero
                assert not before.get("commits"), key
                assert not before.get("grades"), key
                continue
            assert before == after, key
            checked += 1
    assert checked > 0


def test_segment_markers_do_not_pile_up(settings: config.Settings) -> None:
    for _ in range(5):
        append(settings, "tool", name="edit")
        flush(settings)
    markers = [k for k in db_entries(settings) if k.startswith(b"meta:segment:")]
    assert len(markers) == 1  # only the latest flush's, pruned by the next one


def test_database_with_a_newer_scoring_version_is_refused(settings: config.Settings) -> None:
    append(settings, "tool", name="edit")
    flush(settings)
    db = LMDBDatabase.open_write(settings.database_path, settings.max_database_size)
    with db, db.env.begin(write=True) as txn:
        txn.put(b"meta:scoring", str(store.SCORING_VERSION + 1).encode())
    with pytest.raises(FormatError, match=f"scoring version {store.SCORING_VERSION + 1}"):
        LMDBDatabase.open_read(settings.database_path, settings.max_database_size)


# -- format 2: sessions, instructions, failures, tokens and cost --------------------------------

SESSION = "ses_1"
FINGERPRINT = "a1b2c3d4"


def usage_facts(settings: config.Settings) -> dict[str, dict[str, object]]:
    return {
        key.decode(): json.loads(value)
        for key, value in db_entries(settings).items()
        if key.startswith(b"usage:")
    }


def test_failures_tokens_and_cost_are_counted_per_session_and_instructions(
    settings: config.Settings,
) -> None:
    context = {"session": SESSION, "instructions": FINGERPRINT}
    append(settings, "tool", name="edit", tokens={"in": 100, "out": 20, "cache_read": 5000})
    append(settings, "tool", name="bash", ok=False, cost=0.0125, **context)
    append(settings, "command", name="pytest", ok=False, tokens={"in": 1, "cache_write": 7})
    append(settings, "command", name="git", ok=True, **context)
    # A session event brings what the session spent, and counts no call.
    append(settings, "session", name="idle", tokens={"out": 3, "in": 4}, **context)
    append(settings, "session", name="start", **context)  # spent nothing: counts nothing
    result = flush(settings)
    assert result.by_type == {"tool": 2, "command": 2, "session": 2}
    assert result.applied == 6
    found = usage_facts(settings)
    assert len(found) == 2
    plain = next(f for k, f in found.items() if k.count(":") == 4)  # format 1's key layout
    assert "session" not in plain
    assert (plain["tool_calls"], plain["commands"], plain["failures"]) == (1, 1, 1)
    assert (plain["tokens_in"], plain["tokens_out"], plain["tokens_cache_read"]) == (
        101,
        20,
        5000,
    )
    assert (plain["tokens_cache_write"], plain["cost_micros"]) == (7, 0)
    (key,) = (k for k in found if k.count(":") == 5)
    session = found[key]
    assert key.endswith(":" + events.short_hash("ctx", SESSION, FINGERPRINT))
    assert (session["session"], session["instructions"]) == (SESSION, FINGERPRINT)
    assert (session["tool_calls"], session["commands"], session["failures"]) == (1, 1, 1)
    assert (session["tokens_in"], session["tokens_out"], session["cost_micros"]) == (4, 3, 12500)
    record = setup_record(settings)
    assert (record["tool_calls"], record["commands"], record["xp"]) == (2, 2, 6)
    assert (record["failures"], record["tokens_out"], record["cost_micros"]) == (2, 23, 12500)
    assert_totals_match_rebuild(settings)


def test_the_newest_activity_is_remembered_with_its_session_even_when_the_model_is_unknown(
    settings: config.Settings,
) -> None:
    first = append(settings, "tool", name="edit", session="older")
    unknown_model = ("claude-code", "main", "unknown")
    later = float(first["ts"]) + 1  # type: ignore[arg-type]
    append(settings, "session", unknown_model, name="start", session="newest", ts=later)
    flush(settings)
    assert len(usage_facts(settings)) == 1  # the tool call; the session event spent nothing
    found = Journal(settings.journal_dir).last_activity(PROJECT, since=0)
    assert found == (unknown_model, "newest")


def test_commits_keep_what_their_session_spent_without_adding_it_to_usage(
    settings: config.Settings,
) -> None:
    context = {"session": SESSION, "instructions": FINGERPRINT}
    append(settings, "tool", name="edit", tokens={"in": 1000, "out": 500}, cost=0.5, **context)
    spent = {"tokens": {"in": 1000, "out": 500}, "cost": 0.5}
    event = commit_event(SETUP, PROJECT, "1" * 40, **context, **spent)
    Journal(settings.journal_dir).append(events.encode(event))
    Journal(settings.journal_dir).append(events.encode(commit_event(SETUP, PROJECT, "2" * 40)))
    flush(settings)
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    assert db is not None
    with db:
        fact = db.get_commit(events.project_id(PROJECT), "1" * 40)
        bare = db.get_commit(events.project_id(PROJECT), "2" * 40)
    assert fact is not None
    assert bare is not None
    assert (fact["session"], fact["instructions"]) == (SESSION, FINGERPRINT)
    assert (fact["tokens"], fact["cost_micros"]) == ({"in": 1000, "out": 500}, 500_000)
    assert not {"session", "instructions", "tokens", "cost_micros"} & bare.keys()
    record = setup_record(settings)
    assert (record["tokens_in"], record["tokens_out"], record["cost_micros"]) == (
        1000,
        500,
        500_000,
    )
    assert (record["commit_tokens"], record["commits_with_tokens"]) == (1500, 1)
    assert (record["commit_cost_micros"], record["commits_with_cost"]) == (500_000, 1)
    days = {
        k.decode(): json.loads(v) for k, v in db_entries(settings).items() if k.startswith(b"day:")
    }
    assert sorted(k.rsplit(":", 1)[1] for k in days) == ["-", FINGERPRINT]
    assert {d["instructions"]: d["commits"] for d in days.values()} == {FINGERPRINT: 1, None: 1}
    assert_totals_match_rebuild(settings)


@pytest.mark.parametrize("seed", range(6))
def test_any_sequence_of_events_gives_what_a_rebuild_from_the_facts_gives(
    settings: config.Settings, seed: int
) -> None:
    """Incremental totals (flush after flush) equal the totals recomputed from the facts,
    whatever the events: sessions, instructions, failures, tokens, cost, amended commits,
    grades before and after their commits, flushes in between."""
    rng = random.Random(seed)
    journal = Journal(settings.journal_dir)
    setups = [SETUP, OTHER, ("codex", "main", "unknown")]
    shas: list[tuple[str, str]] = []
    base = 1_780_000_000.0
    for step in range(120):
        setup, project = rng.choice(setups), rng.choice(["p1", "p2"])
        context: dict[str, object] = {}
        if rng.random() < 0.6:
            context["session"] = rng.choice(["s1", "s2"])
        if rng.random() < 0.5:
            context["instructions"] = rng.choice(["0a0a0a0a", "0b0b0b0b", "NOT-HEX/" * 5])
        spent: dict[str, object] = {}
        if rng.random() < 0.5:
            spent["tokens"] = {k: rng.randrange(0, 5000) for k in rng.sample(events.TOKEN_KINDS, 2)}
        if rng.random() < 0.3:
            spent["cost"] = rng.randrange(0, 10_000) / 1e4
        ts = base + step * 3000  # about 2 events per hour: several days
        roll = rng.random()
        if roll < 0.5:
            kind = rng.choice(["tool", "command", "session"])
            name = "idle" if kind == "session" else "x"
            fields = {"ok": rng.random() < 0.8} if kind != "session" else {}
            event = events.make(kind, setup, project, name=name, **context, **spent, **fields)
        elif roll < 0.75 or not shas:
            sha = f"{step:040x}"
            replaces = rng.choice(shas)[1] if shas and rng.random() < 0.2 else None
            extra = {"replaces": replaces} if replaces else {}
            event = commit_event(setup, project, sha, **context, **spent, **extra)
            shas.append((project, sha))
        else:
            project, sha = rng.choice(shas)
            if rng.random() < 0.3:
                sha = f"{step + 1000:040x}"  # graded before its commit is known (or never)
            grade = rng.choice(events.GRADE_VALUES)
            by = rng.choice(events.PARTIES)
            event = events.make("grade", setup, project, hash=sha, by=by, grade=grade)
        event["ts"] = ts
        journal.append(events.encode(event))
        if rng.random() < 0.08:
            flush(settings)
    flush(settings)
    assert_totals_match_rebuild(settings)


def test_a_format_1_database_is_brought_forward_with_nothing_lost(
    settings: config.Settings,
) -> None:
    written = format1.write(settings.database_path)
    # Read-only, it is reported as it is (with pending format-2 events on top), and flagged.
    append(
        settings,
        "tool",
        format1.SETUP,
        format1.PROJECT,
        name="edit",
        session=SESSION,
        tokens={"in": 10},
    )
    report = build(settings, Query())
    assert report.stale_derived
    (group,) = report.groups
    assert (group.commits, group.tool_calls) == (1, 8)
    assert flush(settings).applied == 1  # opening for writing brings it forward
    after = db_entries(settings)
    assert json.loads(after[b"meta:format"]) == store.DB_FORMAT == 3
    assert json.loads(after[b"meta:derived"]) == store.DERIVED_VERSION
    facts_before = {k: v for k, v in written.items() if k.startswith(format1.FACT_PREFIXES)}
    assert {k: after[k] for k in facts_before} == facts_before  # every fact as it was
    sid = events.setup_id(*format1.SETUP)
    pid = events.project_id(format1.PROJECT)
    old_day = f"day:{format1.DAY}:{sid}:{pid}".encode()
    assert old_day not in after
    day = json.loads(after[old_day + b":-"])
    assert (day["tool_calls"], day["commands"], day["commits"], day["score"]) == (7, 2, 1, 5)
    assert (day["user_graded"], day["user_sum"], day["agent_graded"]) == (1, 5, 0)
    assert json.loads(after[b"meta:scoring"]) == store.SCORING_VERSION
    record = setup_totals(settings, format1.SETUP)
    assert (record["tool_calls"], record["commits"], record["xp"], record["score"]) == (8, 1, 17, 5)
    assert record["tokens_in"] == 10
    report = build(settings, Query())
    assert not report.stale_derived
    assert report.sources == {"journal": 1}
    assert_totals_match_rebuild(settings)


def test_an_older_agent_tracker_refuses_a_format_3_database(
    settings: config.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    append(settings, "tool", name="edit")
    flush(settings)
    monkeypatch.setattr(store, "DB_FORMAT", 1)  # as the previous release was
    with pytest.raises(FormatError, match="has format 3; this agent-tracker understands format 1"):
        LMDBDatabase.open_read(settings.database_path, settings.max_database_size)


def test_costs_become_whole_millionths_and_impossible_amounts_are_ignored() -> None:
    assert facts.cost_micros(0.0123456789) == 12346
    assert facts.cost_micros(2) == 2_000_000
    assert facts.cost_micros(1e300) is None
    assert facts.cost_micros(True) is None
    assert facts.token_counts({"in": 3, "reasoning": 2, "out": 1, "other": 9}) == {
        "in": 3,
        "out": 3,
    }


def test_a_late_grade_of_an_amended_commit_counts_for_the_commit_that_replaced_it(
    settings: config.Settings,
) -> None:
    append_commit(settings, "1" * 40)
    flush(settings)
    amended = commit_event(OTHER, PROJECT, "2" * 40, replaces="1" * 40)
    Journal(settings.journal_dir).append(events.encode(amended))
    flush(settings)
    grade_event(settings, "1" * 40, "user", 5)  # graded by the hash it had before the amend
    flush(settings)
    record = setup_record(settings, OTHER)
    assert (record["commits"], record["score"], record["graded_commits"]) == (1, 5, 1)
    assert setup_record(settings)["commits"] == 0
    db = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    assert db is not None
    with db:
        assert db.get_communication(events.project_id(PROJECT), "2" * 40, "user") is not None
    assert_totals_match_rebuild(settings)


# -- scoring 2: per-party aggregates, reverts -----------------------------------------------


def day_cells(settings: config.Settings) -> list[dict[str, object]]:
    return [json.loads(v) for k, v in db_entries(settings).items() if k.startswith(b"day:")]


def test_day_cells_keep_each_partys_current_grade_of_each_commit(
    settings: config.Settings,
) -> None:
    append_commit(settings, "1" * 40)
    append_commit(settings, "2" * 40)
    grade_event(settings, "1" * 40, "agent", 5)
    grade_event(settings, "1" * 40, "user", 2)
    flush(settings)
    grade_event(settings, "1" * 40, "user", -1)  # a regrade replaces the user's grade
    grade_event(settings, "2" * 40, "user", 2)
    flush(settings)
    (cell,) = day_cells(settings)
    expected = {
        "user_graded": 2,
        "user_sum": 1,
        "user_sq": 5,
        "agent_graded": 1,
        "agent_sum": 5,
        "agent_sq": 25,
        "both_graded": 1,
        "both_diff_sum": 6,
        "both_diff_sq": 36,
        "reverted": 0,
    }
    assert {k: cell[k] for k in expected} == expected
    record = setup_record(settings)
    assert {k: record[k] for k in expected} == expected
    assert_totals_match_rebuild(settings)


def test_a_database_of_scoring_1_is_rebuilt_from_its_facts_once(
    settings: config.Settings,
) -> None:
    append_commit(settings, "1" * 40)
    grade_event(settings, "1" * 40, "user", 5)
    flush(settings)
    db = LMDBDatabase.open_write(settings.database_path, settings.max_database_size)
    with db, db.env.begin(write=True) as txn:  # as the previous release left it
        for key, value in list(txn.cursor()):
            if bytes(key).startswith((b"day:", b"agent:")):
                record = json.loads(value)
                for field in (*totals.PARTY_FIELDS, totals.REVERTED):
                    del record[field]
                txn.put(bytes(key), json.dumps(record).encode())
        txn.put(b"meta:derived", b"2")
        txn.put(b"meta:scoring", b"1")
    old = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    assert old is not None
    with old:
        assert old.derived_outdated()
    append(settings, "tool", name="edit")
    flush(settings)  # opening for writing brings it forward
    (cell,) = day_cells(settings)
    assert (cell["user_graded"], cell["user_sum"], cell["tool_calls"]) == (1, 5, 1)
    after = db_entries(settings)
    assert json.loads(after[b"meta:scoring"]) == store.SCORING_VERSION == 2
    assert json.loads(after[b"meta:derived"]) == store.DERIVED_VERSION == 4
    db = LMDBDatabase.open_write(settings.database_path, settings.max_database_size)
    with db:
        assert not db.derived_outdated()
        assert db.write_transactions == 0  # once: not rebuilt again


@pytest.mark.parametrize("reverting_first", [False, True])
@pytest.mark.parametrize("flush_between", [False, True])
def test_a_reverted_commit_is_counted_once_whichever_commit_is_recorded_first(
    settings: config.Settings, reverting_first: bool, flush_between: bool
) -> None:
    journal = Journal(settings.journal_dir)
    reverted = commit_event(SETUP, PROJECT, "1" * 40)
    reverting = [
        commit_event(OTHER, PROJECT, sha, reverts="1" * 40) for sha in ("2" * 40, "3" * 40)
    ]
    order = [*reverting, reverted] if reverting_first else [reverted, *reverting]
    for event in order:
        journal.append(events.encode(event))
        if flush_between:
            flush(settings)
    flush(settings)
    assert (setup_record(settings)["reverted"], setup_record(settings, OTHER)["reverted"]) == (
        1,
        0,
    )
    cells = {c["agent"]: c for c in day_cells(settings)}
    assert (cells["build"]["reverted"], cells["plan"]["reverted"]) == (1, 0)
    assert_totals_match_rebuild(settings)


def test_a_revert_follows_the_reverted_commit_through_its_amendment(
    settings: config.Settings,
) -> None:
    journal = Journal(settings.journal_dir)
    journal.append(events.encode(commit_event(OTHER, PROJECT, "9" * 40, reverts="1" * 40)))
    append_commit(settings, "1" * 40)
    flush(settings)
    assert setup_record(settings)["reverted"] == 1
    journal.append(events.encode(commit_event(SETUP, PROJECT, "2" * 40, replaces="1" * 40)))
    flush(settings)
    record = setup_record(settings)
    assert (record["commits"], record["reverted"]) == (1, 1)
    assert_totals_match_rebuild(settings)


def test_a_late_grade_of_an_amended_commit_counts_as_in_a_rebuild_newest_grade_winning(
    settings: config.Settings,
) -> None:
    append_commit(settings, "1" * 40)
    flush(settings)
    journal = Journal(settings.journal_dir)
    journal.append(events.encode(commit_event(OTHER, PROJECT, "2" * 40, replaces="1" * 40)))
    first = grade_event(settings, "2" * 40, "user", 2)
    flush(settings)
    late = grade_event(settings, "1" * 40, "user", 5)  # by the hash it had before the amend
    stale = dict(late, id="f" * 24, ts=float(first["ts"]) - 10, grade=-1)  # older: ignored
    journal.append(events.encode(stale))
    flush(settings)
    record = setup_record(settings, OTHER)
    assert (record["commits"], record["user_sum"], record["user_graded"]) == (1, 5, 1)
    assert setup_record(settings)["commits"] == 0
    assert_totals_match_rebuild(settings)


def test_grading_a_commit_never_recorded_says_so_in_one_line_and_still_counts_later(
    cli: Callable[..., Result], make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo()
    monkeypatch.chdir(repo)
    before = commit_file(repo, "a.py", "1\n", "Before hooks install")
    recorded_sha = commit_file(repo, "b.py", "1\n", "Recorded")
    settings = config.load()
    assert cli("grade", "good", "--by", "user", "--commit", before).err == ""  # nothing known yet
    assert cli("commit", "--agent", "build", "--model", "m").code == 0
    pending = cli("grade", "good", "--by", "user")  # HEAD: pending in the journal
    assert (pending.code, pending.err) == (0, "")
    assert cli("flush").code == 0
    flushed = cli("grade", "excellence", "--by", "agent", "--commit", recorded_sha)
    assert (flushed.code, flushed.err) == (0, "")
    unknown = cli("grade", "bad", "--by", "user", "--commit", before)
    assert unknown.code == 0
    assert unknown.err.count("\n") == 1
    assert f"commit {before[:12]} was never recorded" in unknown.err
    assert cli("commit", "--rev", before, "--agent", "plan", "--model", "m").code == 0
    assert cli("flush").code == 0
    plan = setup_totals(settings, (events.UNKNOWN, "plan", "m"))
    assert (plan["commits"], plan["user_sum"]) == (1, -1)  # the kept grade counts now
    assert cli("grade", "bad", "--by", "agent", "--commit", before).err == ""


def test_an_amend_keeps_each_partys_newest_grade_of_the_two_commits(
    settings: config.Settings,
) -> None:
    early = grade_event(settings, "2" * 40, "user", -1)  # the replacing commit, graded early
    append_commit(settings, "1" * 40)
    # Newer: it wins after the amend (a later ts, not one that may fall in the same ms).
    append(
        settings,
        "grade",
        ("unknown",) * 3,
        hash="1" * 40,
        by="user",
        grade=5,
        ts=float(early["ts"]) + 1,
    )  # type: ignore[arg-type]
    flush(settings)
    Journal(settings.journal_dir).append(
        events.encode(commit_event(SETUP, PROJECT, "2" * 40, replaces="1" * 40))
    )
    flush(settings)
    record = setup_record(settings)
    assert (record["commits"], record["user_graded"], record["user_sum"]) == (1, 1, 5)
    assert_totals_match_rebuild(settings)


def test_counts_beyond_any_real_one_are_quarantined_and_never_overflow_a_flush(
    settings: config.Settings,
) -> None:
    journal = Journal(settings.journal_dir)
    huge = {"in": 2**64 - 1}
    for _ in range(2):
        journal.append(events.encode(events.make("tool", SETUP, "p", name="e", tokens=huge)))
    journal.append(events.encode(events.make("tool", SETUP, "p", name="e", tokens={"in": 7})))
    journal.append(events.encode(commit_event(SETUP, "p", "ab" * 20, insertions=2**63)))
    result = flush(settings)
    assert (result.applied, result.quarantined) == (1, 3)
    assert flush(settings).quarantined == 0  # the next flush is not blocked


def test_a_commit_line_without_its_optional_figures_becomes_a_valid_fact(
    settings: config.Settings,
) -> None:
    line = events.make("commit", SETUP, "p", hash="abcd1235")  # no files, source, subject
    Journal(settings.journal_dir).append(events.encode(line))
    assert flush(settings).applied == 1
    stored = {k: v for k, v in db_entries(settings).items() if k.startswith(b"commit:")}
    assert len(stored) == 1
    fact = facts.check("commit", json.loads(next(iter(stored.values()))))
    assert (fact["source"], fact["files"], fact["subject"]) == ("unknown", 0, "")


def _pending_tools(settings: config.Settings, count: int) -> None:
    """`count` tool calls of one setup, project and day, written as many appends leave them."""
    ts = float(int(events.make("tool", SETUP, PROJECT)["ts"]) // 86400 * 86400 + 3600)
    lines = b"".join(
        b"\n" + events.encode(events.make("tool", SETUP, PROJECT, ts=ts + i / 1000, name="edit"))
        for i in range(count)
    )
    Journal(settings.journal_dir).check_folder()
    with open(settings.journal_dir / "live.jsonl", "ab") as handle:
        handle.write(lines)


def test_flush_memory_grows_with_the_keys_touched_not_with_the_events(
    settings: config.Settings,
) -> None:
    import tracemalloc

    _pending_tools(settings, 10)
    flush(settings)  # the database and every key exist before the measured flushes
    peaks = []
    for count in (2_000, 8_000):
        _pending_tools(settings, count)
        tracemalloc.start()
        try:
            result = flush(settings)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert result.applied == count
    # The same keys either way: 6,000 more events may cost a read buffer, not ~200 bytes of
    # line (and more of decoded event) each, as a flush that reads the whole file does.
    assert peaks[1] - peaks[0] < 6_000 * 20, peaks


def test_the_summary_adds_up_and_counts_in_words() -> None:
    """The kinds count every line read, duplicates included: the total says the same, and
    the duplicates are named as part of it."""
    result = FlushResult(
        segments=1,
        applied=5,
        duplicates=1,
        quarantined=1,
        puts=1,
        by_type={"command": 1, "commit": 2, "grade": 2, "tool": 1},
    )
    assert result.summary_lines() == [
        "flushed 6 events (1 command, 2 commits, 2 grades, 1 tool) in one transaction, "
        "1 key written",
        "  of which 1 duplicate or superseded, ignored",
        "  1 bad journal line moved to the quarantine",
    ]
