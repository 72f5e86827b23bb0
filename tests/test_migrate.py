"""Merging per-project and other databases into the central one, with real LMDB files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import format1
import lmdb
import pytest
from conftest import Result, commit_event, setup_totals
from rawdb import db_entries

from agent_tracker import config, events, store
from agent_tracker.flush import flush
from agent_tracker.journal import Journal
from agent_tracker.migrate import LEGACY_PARTS, merge
from agent_tracker.store import LMDBDatabase

Cli = Callable[..., Result]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
BUILD = ("opencode", "build", "anthropic/claude-sonnet-4-5")
PLAN = ("opencode", "plan", "openai/gpt-5")


def write_database(path: Path, journal: Path, items: list[dict[str, object]]) -> None:
    """A database as an older agent-tracker would have left it: real journal, real flush."""
    settings = config.load(flags={"database_path": str(path), "journal_dir": str(journal)})
    for event in items:
        Journal(settings.journal_dir).append(events.encode(event))
    flush(settings)


def work(
    setup: tuple[str, str, str], project: str, first: int, commits: int, tools: int
) -> list[dict[str, object]]:
    items: list[dict[str, object]] = [
        events.make("tool", setup, project, name="edit") for _ in range(tools)
    ]
    for index in range(first, first + commits):
        sha = f"{index:040x}"
        items.append(commit_event(setup, project, sha))
        items.append(events.make("grade", setup, project, hash=sha, by="user", grade=2))
    return items


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "work" / "app"
    folder.mkdir(parents=True)
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def legacy(project_dir: Path, tmp_path: Path) -> Path:
    """The per-project database an older tool left inside the project."""
    path = project_dir.joinpath(*LEGACY_PARTS)
    write_database(path, tmp_path / "old-journal", work(BUILD, "github.com/me/app", 0, 3, 5))
    return path


def fingerprint(path: Path) -> dict[str, str]:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_next_flush_merges_a_per_project_database_even_with_nothing_pending(
    legacy: Path, cli: Cli, home: Path
) -> None:
    before = fingerprint(legacy)
    settings = config.load()
    status = cli("status")
    assert "will be merged by the next flush" in status.out
    report = json.loads(cli("report", "--format", "json").out)
    assert any("per-project database" in w for w in report["warnings"])
    assert not settings.database_path.exists(), "read-only commands must not write"

    result = cli("flush")
    assert result.code == 0
    assert "merged 7 facts, 0 already present" in result.out
    log = (settings.journal_dir / "migrate.log").read_text()
    assert "merged 7 facts" in log  # 3 commits, 3 grades, 1 usage count
    totals = setup_totals(settings, BUILD)
    assert (totals["commits"], totals["tool_calls"], totals["score"]) == (3, 5, 6)
    assert fingerprint(legacy) == before, "the source must not change"
    assert "per-project" not in cli("status").out


def test_present_entries_are_never_overwritten(legacy: Path, tmp_path: Path) -> None:
    settings = config.load()
    central_items = [commit_event(BUILD, "github.com/me/app", f"{0:040x}", subject="mine")]
    write_database(settings.database_path, settings.journal_dir, central_items)
    key = f"commit:{events.project_id('github.com/me/app')}:{0:040x}".encode()
    mine = db_entries(settings)[key]
    (result,) = merge(settings, [str(legacy)])
    assert (result.facts_added, result.already_present) == (6, 1)
    assert db_entries(settings)[key] == mine
    assert json.loads(mine)["subject"] == "mine"


def test_merging_twice_gives_the_same_database(legacy: Path) -> None:
    settings = config.load()
    merge(settings, [str(legacy)])
    once = db_entries(settings)
    (again,) = merge(settings, [str(legacy)])
    assert again.status == "unchanged"  # remembered by path and content stamp: not re-read
    assert db_entries(settings) == once
    os.utime(legacy / "data.mdb", ns=(1, 1))  # a changed stamp: read again, nothing new
    (third,) = merge(settings, [str(legacy)])
    assert (third.status, third.facts_added, third.already_present) == ("merged", 0, 7)
    without_markers = {k: v for k, v in db_entries(settings).items() if b"meta:migrated" not in k}
    assert without_markers == {k: v for k, v in once.items() if b"meta:migrated" not in k}


def test_two_databases_with_overlapping_setups_merge_to_summed_totals(
    tmp_path: Path,
) -> None:
    settings = config.load()
    write_database(
        settings.database_path,
        settings.journal_dir,
        work(BUILD, "github.com/me/app", 0, 4, 7) + work(PLAN, "github.com/me/app", 100, 1, 2),
    )
    other = tmp_path / "laptop.lmdb"
    write_database(
        other,
        tmp_path / "laptop-journal",
        work(BUILD, "github.com/me/app", 50, 2, 3) + work(PLAN, "github.com/me/lib", 200, 3, 1),
    )
    merge(settings, [str(other)])
    build = setup_totals(settings, BUILD)
    plan = setup_totals(settings, PLAN)
    assert (build["commits"], build["tool_calls"], build["score"]) == (6, 10, 12)
    assert build["xp"] == 10 + 6 * 5
    assert (plan["commits"], plan["tool_calls"], plan["score"]) == (4, 3, 8)


def test_corrupt_source_is_explained_and_the_flush_still_applies_its_events(
    project_dir: Path, cli: Cli
) -> None:
    path = project_dir.joinpath(*LEGACY_PARTS)
    path.parent.mkdir(parents=True)
    path.write_bytes(os.urandom(8192))
    before = fingerprint(path)
    settings = config.load()
    Journal(settings.journal_dir).append(events.encode(events.make("tool", BUILD, "p", name="x")))
    result = cli("flush")
    assert result.code == 0
    assert "not merged" in result.out
    assert "Traceback" not in result.out + result.err
    assert setup_totals(settings, BUILD)["tool_calls"] == 1
    assert fingerprint(path) == before


def test_a_format_v2_database_from_the_typescript_plugin_is_explained(
    project_dir: Path, cli: Cli
) -> None:
    path = project_dir.joinpath(*LEGACY_PARTS)
    path.parent.mkdir(parents=True)
    shutil.copy(FIXTURES / "legacy-v2.lmdb", path)
    before = fingerprint(path)
    settings = config.load()
    Journal(settings.journal_dir).append(events.encode(events.make("tool", BUILD, "p", name="x")))
    flushed = cli("flush")
    assert flushed.code == 0
    text = " ".join(flushed.out.split())
    assert "LMDB data format v2" in text
    assert "agent-tracker import" in text
    assert setup_totals(settings, BUILD)["tool_calls"] == 1
    named = cli("migrate", "--from", str(path))
    assert named.code == 1
    assert "could not be merged" in named.err
    assert fingerprint(path) == before
    assert not Path(f"{path}-lock").exists(), "no lock file may be created beside the source"


def test_records_that_are_not_our_facts_are_ignored(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.lmdb"
    env = lmdb.open(str(foreign), subdir=True)
    with env.begin(write=True) as txn:
        txn.put(b"agent:a1", b"\x85\xa2id\xa2a1")  # msgpack, as the TypeScript plugin wrote
        txn.put(b"commit:/home/u/p:abc123", b'{"agent_id": "a1"}')
    env.close()
    settings = config.load()
    (result,) = merge(settings, [str(foreign)])
    assert (result.facts_added, result.ignored) == (0, 2)
    assert "none of its entries are agent-tracker facts" in result.summary()


def test_migrate_dry_run_counts_and_writes_nothing(legacy: Path, cli: Cli) -> None:
    settings = config.load()
    data = json.loads(cli("migrate", "--dry-run", "--format", "json").out)
    assert [(r["status"], r["facts_added"]) for r in data] == [("would-merge", 7)]
    assert not settings.database_path.exists()
    merged = json.loads(cli("migrate", "--format", "json").out)
    assert [(r["status"], r["facts_added"]) for r in merged] == [("merged", 7)]
    assert cli("migrate").out.strip() == "nothing new to merge"


def test_the_central_database_is_never_merged_into_itself(cli: Cli) -> None:
    settings = config.load()
    write_database(settings.database_path, settings.journal_dir, work(BUILD, "p", 0, 1, 1))
    result = json.loads(
        cli("migrate", "--from", str(settings.database_path), "--format", "json").out
    )
    assert result[0]["status"] == "is-central"


def test_rebuild_recomputes_summaries(legacy: Path, cli: Cli) -> None:
    settings = config.load()
    merge(settings, [str(legacy)])
    db = LMDBDatabase.open_write(settings.database_path, settings.max_database_size)
    with db, db.env.begin(write=True) as txn:
        txn.put(b"agent:" + events.setup_id(*BUILD).encode(), b'{"xp": 1}')  # damaged
    result = cli("rebuild")
    assert result.code == 0
    assert "rebuilt" in result.out
    assert setup_totals(settings, BUILD)["xp"] == 5 + 3 * 5


def test_a_per_project_database_in_a_single_file_is_merged_too(
    project_dir: Path, tmp_path: Path, cli: Cli
) -> None:
    donor = tmp_path / "donor.lmdb"
    write_database(donor, tmp_path / "donor-journal", work(PLAN, "github.com/me/app", 7, 2, 4))
    env = lmdb.open(str(donor), readonly=True)
    with env.begin() as txn:
        records = [(bytes(k), bytes(v)) for k, v in txn.cursor()]
    env.close()
    path = project_dir.joinpath(*LEGACY_PARTS)
    path.parent.mkdir(parents=True)
    single = lmdb.open(str(path), subdir=False)  # one data file, as some LMDB bindings write
    with single.begin(write=True) as txn:
        for key, value in records:
            txn.put(key, value)
    single.close()
    Path(f"{path}-lock").unlink()
    before = fingerprint(path)
    assert cli("flush").code == 0
    totals = setup_totals(config.load(), PLAN)
    assert (totals["commits"], totals["tool_calls"]) == (2, 4)
    assert fingerprint(path) == before
    assert not Path(f"{path}-lock").exists()


def test_an_unreadable_source_is_explained_once_then_remembered(
    project_dir: Path, cli: Cli
) -> None:
    path = project_dir.joinpath(*LEGACY_PARTS)
    path.parent.mkdir(parents=True)
    shutil.copy(FIXTURES / "legacy-v2.lmdb", path)
    settings = config.load()
    cli("flush")
    log = settings.journal_dir / "migrate.log"
    assert len(log.read_text().splitlines()) == 1
    cli("flush")
    assert len(log.read_text().splitlines()) == 1, "the same explanation on every push"
    status = cli("status").out
    assert "cannot be read" in " ".join(status.split())
    data = json.loads(cli("migrate", "--from", str(path), "--format", "json").out)
    assert data[0]["status"] == "unreadable"


def test_a_large_source_waits_for_an_explicit_migrate_inside_the_hook(legacy: Path) -> None:
    settings = config.load()
    Journal(settings.journal_dir).append(events.encode(events.make("tool", BUILD, "p", name="x")))
    result = flush(settings, str(legacy.parents[3]), merge_limit=1024)
    assert result.applied == 1, "the journal is flushed whatever happens to the merge"
    assert [m.status for m in result.migrations] == ["postponed"]
    assert "agent-tracker migrate" in result.migrations[0].message
    assert [m.status for m in flush(settings, str(legacy.parents[3])).migrations] == ["merged"]


def test_special_files_and_links_to_the_central_database_are_not_merged(
    project_dir: Path, cli: Cli, tmp_path: Path
) -> None:
    settings = config.load()
    write_database(settings.database_path, settings.journal_dir, work(BUILD, "p", 0, 1, 1))
    link = tmp_path / "link.mdb"
    link.symlink_to(settings.database_path / "data.mdb")
    (result,) = merge(settings, [str(link)])
    assert result.status == "is-central"
    fifo = project_dir.joinpath(*LEGACY_PARTS)
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    assert cli("flush").code == 0  # returns at once: a named pipe is never opened
    (special,) = merge(settings, [str(fifo)])
    assert (special.status, special.message) == ("missing", "is not a database")


def test_a_source_from_a_newer_agent_tracker_is_refused(tmp_path: Path) -> None:
    newer = tmp_path / "newer.lmdb"
    write_database(newer, tmp_path / "newer-journal", work(BUILD, "p", 0, 1, 1))
    env = lmdb.open(str(newer))
    with env.begin(write=True) as txn:
        txn.put(b"meta:format", b"7")
    env.close()
    (result,) = merge(config.load(), [str(newer)])
    assert result.status == "unreadable"
    assert "newer agent-tracker" in result.message


def test_dry_run_against_an_existing_database_changes_nothing(legacy: Path, cli: Cli) -> None:
    settings = config.load()
    write_database(
        settings.database_path,
        settings.journal_dir,
        [commit_event(BUILD, "github.com/me/app", f"{0:040x}")],
    )
    before = db_entries(settings)
    data = json.loads(cli("migrate", "--dry-run", "--format", "json").out)
    assert [(r["facts_added"], r["already_present"]) for r in data] == [(6, 1)]
    assert db_entries(settings) == before


def test_json_output_stays_json_when_a_per_project_database_is_reported(
    project_dir: Path, cli: Cli, tmp_path: Path
) -> None:
    path = project_dir.joinpath(*LEGACY_PARTS)
    path.parent.mkdir(parents=True)
    shutil.copy(FIXTURES / "legacy-v2.lmdb", path)
    other = tmp_path / "other.lmdb"
    write_database(other, tmp_path / "other-journal", work(PLAN, "p", 0, 1, 1))
    result = cli("migrate", "--from", str(other), "--format", "json")
    assert [r["status"] for r in json.loads(result.out)] == ["merged"]
    assert "LMDB data format v2" in " ".join(result.err.split())


def test_a_format_1_database_merges_into_the_central_one(tmp_path: Path) -> None:
    old = tmp_path / "old.lmdb"
    written = format1.write(old)
    before = fingerprint(old)
    (result,) = merge(config.load(), [str(old)])
    assert (result.status, result.facts_added, result.ignored) == ("merged", 4, 7)
    assert fingerprint(old) == before  # the source is never changed
    settings = config.load()
    central = db_entries(settings)
    assert json.loads(central[b"meta:format"]) == store.DB_FORMAT
    facts = {k: v for k, v in written.items() if k.startswith(format1.FACT_PREFIXES)}
    assert {k: central[k] for k in facts} == facts
    record = setup_totals(settings, format1.SETUP)
    assert (record["commits"], record["tool_calls"], record["score"]) == (1, 7, 5)


def test_usage_counted_per_session_comes_over_from_another_database(tmp_path: Path) -> None:
    other = tmp_path / "laptop.lmdb"
    context = {"session": "ses_1", "instructions": "00aa00aa"}
    write_database(
        other,
        tmp_path / "laptop-journal",
        [
            events.make("tool", BUILD, "p", name="edit", tokens={"in": 7}, **context),
            events.make("tool", BUILD, "p", name="edit", ok=False),
            commit_event(BUILD, "p", "ef" * 20, tokens={"out": 3}, cost=0.5, **context),
        ],
    )
    (result,) = merge(config.load(), [str(other)])
    assert (result.status, result.facts_added) == ("merged", 3)
    record = setup_totals(config.load(), BUILD)
    assert (record["tool_calls"], record["failures"], record["tokens_in"]) == (2, 1, 7)
    assert (record["commit_tokens"], record["commit_cost_micros"]) == (3, 500_000)
