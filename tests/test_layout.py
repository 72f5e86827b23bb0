"""The on-disk layout (format 3): packed commits and grades, older databases brought forward
on the first write with nothing lost, read as they are until then, and the record sizes
that the compaction is for."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import format2
import lmdb
import orjson
import pytest
from conftest import commit_event
from rawdb import db_entries

from agent_tracker import config, events, keys, records, store
from agent_tracker.exchange import export_lines
from agent_tracker.flush import flush
from agent_tracker.journal import Journal
from agent_tracker.migrate import merge
from agent_tracker.report import build
from agent_tracker.status import collect
from agent_tracker.store import LMDBDatabase

SETUP = ("opencode", "build", "anthropic/claude-sonnet-4-5")
PROJECT = "github.com/oss/lsp-server"


def digest(path: Path) -> str:
    return hashlib.sha256((path / "data.mdb").read_bytes()).hexdigest()


def raw_keys(settings: config.Settings) -> list[bytes]:
    env = lmdb.open(str(settings.database_path), subdir=True, readonly=True, lock=False)
    with env.begin() as txn:
        found = [bytes(k) for k, _ in txn.cursor()]
    env.close()
    return found


def decoded(entries: dict[bytes, bytes]) -> dict[str, Any]:
    return {k.decode(): orjson.loads(v) for k, v in entries.items()}


def test_a_format_2_database_is_read_as_it_is_until_the_first_write(
    settings: config.Settings,
) -> None:
    format2.write(settings.database_path)
    before = digest(settings.database_path)
    lines = {orjson.loads(line)["id"] for line in export_lines(settings) if b'"id"' in line}
    commits = [v for k, v in format2.facts().items() if k.startswith("commit:")]
    assert {c["id"] for c in commits} <= lines
    report = build(settings)
    assert report.commits == len(commits)
    assert collect(settings).setups == 2
    assert digest(settings.database_path) == before  # read-only commands never upgrade


def test_the_first_write_brings_a_format_2_database_forward_with_nothing_lost(
    settings: config.Settings,
) -> None:
    written = format2.write(settings.database_path)
    exported = sorted(export_lines(settings))
    with LMDBDatabase.open_write(settings.database_path, settings.max_database_size) as db:
        assert db.get("meta:format") == store.DB_FORMAT == 3
    after = decoded(db_entries(settings))
    expected = decoded(written)
    expected["meta:format"] = 3
    assert after.pop("meta:origin")["path"]  # a database without its origin gets one
    assert after == expected
    assert sorted(export_lines(settings)) == exported  # export format unchanged
    found = raw_keys(settings)
    text_facts = [k for k in found if k.startswith((b"commit:", b"communication:"))]
    pid = events.project_id(format2.PROJECT)
    # Only the odd-length hash stays a text key (valid in format 3); the rest are packed.
    assert sorted(text_facts) == [
        f"commit:{pid}:abcde".encode(),
        f"communication:{pid}:abcde:user".encode(),
    ]
    packed = [k for k in found if keys.packed_kind(k) is not None]
    assert len(packed) == sum(
        1 for k in written if k.startswith((b"commit:", b"communication:"))
    ) - len(text_facts)
    # And it goes on working: a flush on top counts on the upgraded totals.
    Journal(settings.journal_dir).append(
        events.encode(commit_event(format2.BUILD, format2.PROJECT, "77" * 20))
    )
    assert flush(settings).applied == 1
    totals = LMDBDatabase.open_read(settings.database_path, settings.max_database_size)
    assert totals is not None
    with totals:
        build_totals = totals.get_agent(events.setup_id(*format2.BUILD))
    assert build_totals is not None
    assert (
        build_totals["commits"]
        == expected[f"agent:{events.setup_id(*format2.BUILD)}"]["commits"] + 1
    )


def test_an_upgrade_cut_short_reads_as_it_was_and_goes_on_at_the_next_write(
    settings: config.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = format2.write(settings.database_path)
    exported = sorted(export_lines(settings))
    commits = build(settings).commits
    monkeypatch.setattr(store, "UPGRADE_STEP", 2)  # many steps, one transaction each
    encode = records.Codec.encode
    calls = []

    def failing(self: records.Codec, raw_key: bytes, value: Any) -> bytes:
        calls.append(raw_key)
        if len(calls) == 5:  # in the third step: two have committed
            raise OSError("disk gone")
        return encode(self, raw_key, value)

    monkeypatch.setattr(records.Codec, "encode", failing)
    with pytest.raises(OSError, match="disk gone"):
        LMDBDatabase.open_write(settings.database_path, settings.max_database_size)
    monkeypatch.setattr(records.Codec, "encode", encode)
    # Half packed, half not: every fact is there once, and reads as before.
    half = raw_keys(settings)
    assert b"meta:upgrading" in half
    assert any(keys.packed_kind(k) is not None for k in half)
    assert any(k.startswith(b"commit:") and not k.endswith(b":abcde") for k in half)
    assert sorted(export_lines(settings)) == exported
    assert build(settings).commits == commits
    # The next write finishes it, with nothing lost.
    with LMDBDatabase.open_write(settings.database_path, settings.max_database_size) as db:
        assert db.get("meta:format") == 3
    after = decoded(db_entries(settings))
    expected = decoded(written)
    expected["meta:format"] = 3
    assert after.pop("meta:origin")["path"]
    assert after == expected  # meta:upgrading gone too
    assert sorted(export_lines(settings)) == exported
    assert [k for k in raw_keys(settings) if k.startswith(b"commit:")] == [
        f"commit:{events.project_id(format2.PROJECT)}:abcde".encode()
    ]


def test_an_upgrade_needs_little_more_room_than_the_packed_facts(
    tmp_path: Path, settings: config.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In one transaction the upgrade held old and new copies of every page at once: about
    1.6 times the file, so a database past ~60 % of its size limit could never be upgraded
    and every flush failed. In steps, the freed pages are reused."""
    settings.database_path.mkdir(mode=0o700, parents=True)
    env = lmdb.open(str(settings.database_path), subdir=True, map_size=64 << 20)
    pid = events.project_id(PROJECT)
    with env.begin(write=True) as txn:
        txn.put(b"meta:format", b"2")
        for n in range(12_000):
            commit_hash = hashlib.sha1(str(n).encode()).hexdigest()
            fact = {
                "agent": "build", "author_time": 1_700_000_000 + n, "deletions": 1, "exts": {},
                "files": 1, "harness": "opencode", "hash": commit_hash, "id": f"{n:024x}",
                "insertions": 2, "model": "m", "project": PROJECT, "source": "env",
                "subject": f"change {n}", "ts": 1_700_000_000.0 + n,
            }  # fmt: skip
            txn.put(f"commit:{pid}:{commit_hash}".encode(), orjson.dumps(fact))
    env.close()
    size = (settings.database_path / "data.mdb").stat().st_size
    # Room for the file and a quarter more: one transaction needed about 1.6 times.
    limit = size * 5 // 4
    with LMDBDatabase.open_write(settings.database_path, limit) as db:
        assert db.get("meta:format") == 3
    assert (settings.database_path / "data.mdb").stat().st_size <= limit


def test_a_format_2_database_merges_as_a_migrate_source(
    tmp_path: Path, settings: config.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "old.lmdb"
    written = format2.write(source)
    facts = {k: v for k, v in written.items() if k.startswith(format2.FACT_PREFIXES)}
    (result,) = merge(settings, [str(source)])
    assert (result.status, result.facts_added) == ("merged", len(facts))
    central = db_entries(settings)
    assert decoded({k: central[k] for k in facts}) == decoded(facts)
    # ... and a format-3 database (this one, packed) merges into another one as well.
    monkeypatch.setenv("AGENT_TRACKER_DATABASE_PATH", str(tmp_path / "second.lmdb"))
    second = config.load()
    (again,) = merge(second, [str(settings.database_path)])
    assert (again.status, again.facts_added) == ("merged", len(facts))
    copied = db_entries(second)
    assert decoded({k: copied[k] for k in facts}) == decoded(facts)


# -- record sizes ----------------------------------------------------------------------------


def _sizes(settings: config.Settings) -> dict[str, list[int]]:
    """(physical bytes, format-2 bytes) of each commit and grade fact, by kind."""
    env = lmdb.open(str(settings.database_path), subdir=True, readonly=True, lock=False)
    sizes: dict[str, list[int]] = {"commit": [0, 0, 0], "grade": [0, 0, 0]}
    with env.begin() as txn:
        codec = records.Codec(txn)
        for raw_key, raw in txn.cursor():
            key = codec.logical(bytes(raw_key))
            if key is None or not key.startswith(("commit:", "communication:")):
                continue
            kind = "commit" if key.startswith("commit:") else "grade"
            value = codec.decode(key, bytes(raw_key), bytes(raw))
            sizes[kind][0] += 1
            sizes[kind][1] += len(raw_key) + len(raw)
            sizes[kind][2] += len(key.encode()) + len(records.dump(value))
    env.close()
    return sizes


def test_commit_and_grade_facts_take_a_third_or_less_of_their_format_2_bytes(
    settings: config.Settings,
) -> None:
    """As gen_history.py writes them: a subject, a few extensions, a grade from each party.
    Format 2 took ~418 bytes of key and value per commit and ~320 per grade."""
    journal = Journal(settings.journal_dir)
    for n in range(200):
        sha = hashlib.sha1(str(n).encode()).hexdigest()
        made = commit_event(
            SETUP,
            PROJECT,
            sha,
            subject="Test cache invalidation",
            author_time=1787919628 + n,
            files=4,
            insertions=14,
            deletions=3,
            exts={".ts": 3, ".tsx": 1},
            source="env",
        )
        journal.append(events.encode(made))
        for party in events.PARTIES:
            grade = events.make("grade", SETUP, PROJECT, hash=sha, by=party, grade=2)
            journal.append(events.encode(grade))
    flush(settings)
    sizes = _sizes(settings)
    (commits, commit_bytes, commit_before) = sizes["commit"]
    (grades, grade_bytes, grade_before) = sizes["grade"]
    assert (commits, grades) == (200, 400)
    assert commit_before / commits > 380  # the format-2 form, for comparison
    assert grade_before / grades > 280
    assert commit_bytes / commits <= 140  # 136 when written (30 of them the key)
    assert commit_bytes <= 0.35 * commit_before
    assert grade_bytes <= 0.25 * grade_before
    assert grade_bytes / grades <= 78  # 74 when written (30 of them the key)
