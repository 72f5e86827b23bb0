"""One scoring engine: whatever the events, in whatever chunks they are flushed, the derived
records a flush keeps equal a rebuild from the facts and what the report's pending overlay
computes for the same events before the flush (issue 8, STYLE habit 10).

Hypothesis generates event sequences over a small pool of commit hashes, so that grades
come before and after their commits, regrades replace grades, amends chain (a grade of the
amended-away commit after the amend included), reverts name commits recorded before or
after them, and other machines' databases (which saw some of the same commits, and amended
some of them) are exported and imported in between.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path
from typing import Any

from conftest import commit_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_tracker import events, exchange
from agent_tracker.applier import Applier, drop_empty_days
from agent_tracker.config import Settings
from agent_tracker.flush import flush
from agent_tracker.journal import Journal
from agent_tracker.report import Query, build
from agent_tracker.store import DERIVED_PREFIXES, LMDBDatabase, WriteBatch

SETUPS = [
    ("opencode", "build", "anthropic/claude-sonnet-4-5"),
    ("claude-code", "plan", "openai/gpt-5"),
    ("codex", "main", "unknown"),
]
PROJECTS = ["github.com/me/app", "github.com/me/lib"]
HASHES = [f"{n:x}" * 40 for n in range(1, 5)]  # 40 hex digits each: few, so they meet
BASE = 1_780_000_000.0
MAP_SIZE = 32 << 20

hashes = st.integers(0, len(HASHES) - 1)
project = st.sampled_from([0, 0, 0, 1])  # mostly one project, so that hashes meet
times = st.integers(0, 40).map(lambda n: BASE + n * 7200)  # ties and several days

commits = st.fixed_dictionaries(
    {
        "kind": st.just("commit"),
        "sha": hashes,
        "setup": st.integers(0, 2),
        "project": project,
        "ts": times,
        "replaces": st.none() | hashes,
        "reverts": st.none() | hashes,
        "instructions": st.none() | st.sampled_from(["0a0a0a0a", "0b0b0b0b"]),
    }
)
grades = st.fixed_dictionaries(
    {
        "kind": st.just("grade"),
        "sha": hashes,
        "setup": st.integers(0, 2),
        "project": project,
        "ts": times,
        "by": st.sampled_from(events.PARTIES),
        "grade": st.sampled_from(events.GRADE_VALUES),
    }
)
tools = st.fixed_dictionaries(
    {
        "kind": st.just("tool"),
        "setup": st.integers(0, 2),
        "project": project,
        "ts": times,
    }
)
recorded = st.one_of(commits, commits, grades, grades, grades, tools)
elsewhere = st.fixed_dictionaries(
    {"kind": st.just("import"), "events": st.lists(st.one_of(commits, grades), max_size=6)}
)
# Mostly events; a flush (1 in 10) or an import (1 in 20) now and then.
steps = st.integers(0, 19).flatmap(
    lambda n: recorded if n < 17 else st.just({"kind": "flush"}) if n < 19 else elsewhere
)


def event_of(step: dict[str, Any]) -> dict[str, Any]:
    setup, project = SETUPS[step["setup"]], PROJECTS[step["project"]]
    if step["kind"] == "tool":
        event = events.make("tool", setup, project, name="edit")
    elif step["kind"] == "grade":
        sha = HASHES[step["sha"]]
        event = events.make("grade", setup, project, hash=sha, by=step["by"], grade=step["grade"])
    else:
        extra = {
            name: HASHES[step[name]] for name in ("replaces", "reverts") if step[name] is not None
        }
        if step["instructions"]:
            extra["instructions"] = step["instructions"]
        event = commit_event(setup, project, HASHES[step["sha"]], **extra)
    event["ts"] = step["ts"]
    return event


def make_settings(folder: Path, name: str) -> Settings:
    return Settings(
        str(folder / f"{name}.toml"),
        str(folder / f"{name}.lmdb"),
        MAP_SIZE,
        str(folder / f"{name}.journal"),
        {},
    )


def derived(where: Settings) -> dict[str, Any]:
    db = LMDBDatabase.open_read(where.database_path, where.max_database_size)
    if db is None:
        return {}
    with db:
        return {k: v for prefix in DERIVED_PREFIXES for k, v in db.scan(prefix)}


def overlay(where: Settings) -> dict[str, Any]:
    """The derived records as the report sees them: stored ones with the pending events
    applied on top in memory (what `report` does with include_pending)."""
    db = LMDBDatabase.open_read(where.database_path, where.max_database_size)
    journal = Journal(where.journal_dir)
    if db is None:
        batch = WriteBatch(None)
        Applier(batch, "pending").apply(list(journal.pending_events()))
        drop_empty_days(batch)
        return _merged({}, batch)
    with db, db.env.begin() as txn:
        batch = WriteBatch(txn)
        stored = {k: v for prefix in DERIVED_PREFIXES for k, v in batch.scan(prefix)}
        pending = list(journal.pending_events(lambda sid: batch.has(f"meta:segment:{sid}")))
        Applier(batch, "pending").apply(pending)
        drop_empty_days(batch)
        return _merged(stored, batch)


def _merged(stored: dict[str, Any], batch: WriteBatch) -> dict[str, Any]:
    out = dict(stored)
    for key, value in batch.changes().items():
        if key.startswith(DERIVED_PREFIXES):
            if value is None:
                out.pop(key, None)
            else:
                out[key] = value
    return out


def is_zero(record: dict[str, Any]) -> bool:
    """A setup record whose every count went back to 0 (its grades moved to the commit's
    setup): a flush keeps it, a rebuild never makes it; both mean the same."""
    return all(
        not value
        for key, value in record.items()
        if key not in ("harness", "agent", "model", "first_day", "last_day")
        and not isinstance(value, dict)
    ) and not any(record.get("mix", {}).values())


def assert_same(kept: dict[str, Any], expected: dict[str, Any], what: str) -> None:
    for key in kept.keys() | expected.keys():
        if key not in expected and key.startswith("agent:") and is_zero(kept[key]):
            continue
        if key not in kept and key.startswith("agent:") and is_zero(expected[key]):
            continue
        assert kept.get(key) == expected.get(key), f"{what}: {key}"


def rebuilt(where: Settings) -> dict[str, Any]:
    with LMDBDatabase.open_write(where.database_path, where.max_database_size) as db:
        db.rebuild_totals()
    return derived(where)


def report_groups(where: Settings) -> list[dict[str, Any]]:
    report = build(where, Query())
    return [group.as_dict() for group in report.groups]


def import_from_elsewhere(main: Settings, folder: Path, number: int, steps: list[Any]) -> None:
    other = make_settings(folder, f"other{number}")
    journal = Journal(other.journal_dir)
    for step in steps:
        journal.append(events.encode(event_of(step)))
    flush(other)
    exported = b"".join(exchange.export_lines(other))
    if exported:
        exchange.import_files(main, [("other.jsonl", io.BytesIO(exported))])


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(steps, min_size=10, max_size=40))
def test_flush_rebuild_import_and_the_pending_report_agree(sequence: list[Any]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="scoring-"))
    try:
        main = make_settings(folder, "main")
        journal = Journal(main.journal_dir)
        imports = 0

        def flush_and_check() -> None:
            before = overlay(main)
            groups = report_groups(main)
            flush(main)
            assert_same(derived(main), before, "flush vs pending overlay")
            assert report_groups(main) == groups, "report after flush vs with pending"

        for step in [*sequence, {"kind": "flush"}]:
            if step["kind"] == "flush":
                flush_and_check()
            elif step["kind"] == "import":
                flush_and_check()  # pending events stay pending across an import
                imports += 1
                import_from_elsewhere(main, folder, imports, step["events"])
            else:
                journal.append(events.encode(event_of(step)))
        assert_same(derived(main), rebuilt(main), "flush vs rebuild")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
