"""Export to JSON Lines and import elsewhere: pooling the history of several machines."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result, commit_event
from rawdb import db_entries

from agent_tracker import config, events, facts
from agent_tracker.flush import flush
from agent_tracker.journal import Journal

Cli = Callable[..., Result]
BUILD = ("opencode", "build", "anthropic/claude-sonnet-4-5")
PLAN = ("claude-code", "plan", "openai/gpt-5")


def seed(settings: config.Settings) -> None:
    journal = Journal(settings.journal_dir)
    items: list[dict[str, object]] = []
    for index, (setup, project) in enumerate(
        [(BUILD, "github.com/me/api"), (BUILD, "github.com/me/web"), (PLAN, "github.com/me/api")]
        * 3
    ):
        sha = f"{index:040x}"
        items += [events.make("tool", setup, project, name="edit") for _ in range(index)]
        items.append(events.make("command", setup, project, name="test"))
        items.append(commit_event(setup, project, sha, exts={".py": 2}))
        items.append(events.make("grade", setup, project, hash=sha, by="agent", grade=5))
        if index % 2:
            items.append(events.make("grade", setup, project, hash=sha, by="user", grade=-1))
    for event in items:
        journal.append(events.encode(event))
    flush(settings)


def report(cli: Cli, *args: str) -> list[dict[str, object]]:
    groups: list[dict[str, object]] = json.loads(cli("report", "--format", "json", *args).out)[
        "groups"
    ]
    return groups


@pytest.fixture
def exported(cli: Cli, tmp_path: Path) -> tuple[Path, list[dict[str, object]]]:
    seed(config.load())
    path = tmp_path / "history.jsonl"
    result = cli("export")
    assert result.code == 0
    path.write_text(result.out)
    return path, report(cli)


def use_empty_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> config.Settings:
    monkeypatch.setenv("AGENT_TRACKER_DATABASE_PATH", str(tmp_path / "other.lmdb"))
    monkeypatch.setenv("AGENT_TRACKER_JOURNAL_DIR", str(tmp_path / "other.journal"))
    return config.load()


def test_export_writes_one_flat_versioned_fact_per_line(
    exported: tuple[Path, list[dict[str, object]]],
) -> None:
    path, _ = exported
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    kinds = [line["kind"] for line in lines]
    assert kinds.count("commit") == 9
    assert kinds.count("grade") == 9 + 4
    assert kinds.count("usage") == 3  # one per (project, setup, day)
    assert all(line["v"] == facts.EXPORT_VERSION for line in lines)
    usage = next(line for line in lines if line["kind"] == "usage")
    assert len(usage["dbid"]) == 16
    # flat records of scalars (and the small extension map): loadable by pandas or DuckDB
    assert all(
        not isinstance(value, list) and (not isinstance(value, dict) or key == "exts")
        for line in lines
        for key, value in line.items()
    )


def test_export_then_import_into_an_empty_database_reproduces_the_report(
    exported: tuple[Path, list[dict[str, object]]],
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    path, original = exported
    use_empty_database(monkeypatch, tmp_path)
    result = cli("import", str(path))
    assert result.code == 0
    assert "imported 25 facts from 25 lines in 1 file; 0 updated" in result.out
    assert report(cli) == original


def test_importing_twice_changes_nothing(
    exported: tuple[Path, list[dict[str, object]]],
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    path, _ = exported
    settings = use_empty_database(monkeypatch, tmp_path)
    cli("import", str(path))
    once = db_entries(settings)
    again = json.loads(cli("import", str(path), "--format", "json").out)
    assert (again["added"], again["already_present"]) == (0, 25)
    assert db_entries(settings) == once


def test_importing_into_the_database_it_came_from_changes_nothing(
    exported: tuple[Path, list[dict[str, object]]],
    cli: Cli,
) -> None:
    path, original = exported
    before = db_entries(config.load())
    assert cli("import", str(path)).code == 0
    assert db_entries(config.load()) == before
    assert report(cli) == original


def test_a_bad_line_is_named_and_the_rest_imported(
    exported: tuple[Path, list[dict[str, object]]],
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    path, _ = exported
    lines = path.read_text().splitlines()
    lines.insert(2, "{not json")
    lines.insert(5, json.dumps({"v": 1, "kind": "grade", "project": "p", "hash": "zz"}))
    lines.insert(7, json.dumps({"v": 9, "kind": "commit"}))
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines) + "\n")
    use_empty_database(monkeypatch, tmp_path)
    result = cli("import", str(broken))
    assert result.code == 1
    assert f"{broken}:3: skipped: not JSON" in result.out
    assert f"{broken}:6: skipped: field 'harness' missing or not text" in result.out
    assert f"{broken}:8: skipped: format version 9 is newer" in result.out
    assert "imported 25 facts" in result.out


def test_export_filters_by_period_and_project(
    exported: tuple[Path, list[dict[str, object]]],
    cli: Cli,
) -> None:
    lines = [json.loads(x) for x in cli("export", "--project", "web").out.splitlines()]
    assert {line["project"] for line in lines} == {"github.com/me/web"}
    assert cli("export", "--until", "2000-01-01").out == ""
    assert len(cli("export", "--since", "1d").out.splitlines()) == 25


def test_import_of_a_missing_file_is_a_clear_error(cli: Cli, tmp_path: Path) -> None:
    result = cli("import", str(tmp_path / "nope.jsonl"))
    assert result.code == 2
    assert "cannot read" in result.err


NODE_MODULES = os.environ.get("AGENT_TRACKER_TEST_NODE_MODULES")


@pytest.mark.skipif(
    not (NODE_MODULES and shutil.which("node")),
    reason="needs Node.js and the npm lmdb package (AGENT_TRACKER_TEST_NODE_MODULES); "
    ".ci/run installs them when the npm registry answers",
)
def test_the_typescript_plugins_database_comes_over_through_export_legacy(
    cli: Cli, tmp_path: Path
) -> None:
    root = Path(__file__).resolve().parent.parent
    (tmp_path / "node_modules").symlink_to(str(NODE_MODULES))
    script = tmp_path / "export-legacy.mjs"
    shutil.copy(root / "examples" / "export-legacy.mjs", script)
    source = tmp_path / "old.lmdb"
    shutil.copy(root / "tests" / "fixtures" / "legacy-v2.lmdb", source)
    done = subprocess.run(
        ["node", str(script), str(source)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("old")) == ["old.lmdb"], (
        "no lock file beside the source"
    )
    exported = tmp_path / "legacy.jsonl"
    exported.write_text(done.stdout)
    assert cli("import", str(exported)).code == 0
    (group,) = report(cli)
    assert (group["label"], group["commits"], group["score"]) == (
        "build@anthropic/claude-sonnet-4-5 (opencode)",
        1,
        2,
    )


def export_from(cli: Cli, settings: config.Settings) -> list[str]:
    lines: list[str] = cli("export").out.splitlines()
    return lines


def test_pooling_again_takes_grown_counts_and_newer_grades(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    laptop = config.load()
    journal = Journal(laptop.journal_dir)
    sha = "ab" * 20
    for event in [events.make("tool", BUILD, "p", name="x") for _ in range(3)] + [
        commit_event(BUILD, "p", sha),
        events.make("grade", BUILD, "p", hash=sha, by="user", grade=-1),
    ]:
        journal.append(events.encode(event))
    flush(laptop)
    first = tmp_path / "first.jsonl"
    first.write_text(cli("export").out)
    for event in [events.make("tool", BUILD, "p", name="x") for _ in range(7)] + [
        events.make("grade", BUILD, "p", hash=sha, by="user", grade=5),  # changed their mind
    ]:
        journal.append(events.encode(event))
    flush(laptop)
    second = tmp_path / "second.jsonl"
    second.write_text(cli("export").out)
    expected = report(cli)

    use_empty_database(monkeypatch, tmp_path)
    cli("import", str(first))
    result = json.loads(cli("import", str(second), "--format", "json").out)
    assert (result["added"], result["updated"]) == (0, 2)
    assert report(cli) == expected
    (group,) = expected
    assert (group["tool_calls"], group["score"]) == (10, 5)
    again = json.loads(cli("import", str(first), "--format", "json").out)
    assert (again["added"], again["updated"]) == (0, 0)  # older copies change nothing
    assert report(cli) == expected


def test_an_amended_commit_does_not_come_back_from_an_older_export(
    cli: Cli, tmp_path: Path
) -> None:
    settings = config.load()
    journal = Journal(settings.journal_dir)
    old, new = "aa" * 20, "bb" * 20
    journal.append(events.encode(commit_event(BUILD, "p", old)))
    journal.append(events.encode(events.make("grade", BUILD, "p", hash=old, by="user", grade=5)))
    flush(settings)
    before_amend = tmp_path / "before.jsonl"
    before_amend.write_text(cli("export").out)
    journal.append(events.encode(commit_event(BUILD, "p", new, replaces=old)))
    flush(settings)
    after = report(cli)
    assert (after[0]["commits"], after[0]["score"]) == (1, 5)
    assert any(json.loads(x)["kind"] == "replaced" for x in cli("export").out.splitlines())
    assert cli("import", str(before_amend)).code == 0
    assert report(cli) == after


def test_a_flush_after_a_merge_agrees_with_a_rebuild(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = config.load()
    journal = Journal(settings.journal_dir)
    sha = "cd" * 20
    # graded on this machine while its commit was only known elsewhere
    journal.append(events.encode(events.make("grade", PLAN, "p", hash=sha, by="agent", grade=2)))
    flush(settings)
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({**commit_event(BUILD, "p", sha), "v": 1, "kind": "commit"}))
    assert cli("import", str(other)).code == 0
    journal.append(events.encode(events.make("grade", PLAN, "p", hash=sha, by="user", grade=5)))
    flush(settings)
    incremental = db_entries(settings)
    assert cli("rebuild").code == 0
    assert db_entries(settings) == incremental
    (group,) = report(cli)
    assert (group["agent"], group["graded_commits"], group["score"]) == ("build", 1, 7)


def test_a_minimal_commit_line_imports_and_can_be_amended_later(cli: Cli, tmp_path: Path) -> None:
    settings = config.load()
    line = {
        "v": 1,
        "kind": "commit",
        "harness": "h",
        "agent": "a",
        "model": "m",
        "project": "p",
        "hash": "ef" * 20,
        "ts": 1_700_000_000,
    }
    minimal = tmp_path / "minimal.jsonl"
    minimal.write_text(json.dumps(line) + "\n")
    assert cli("import", str(minimal)).code == 0
    amend = commit_event(("h", "a", "m"), "p", "12" * 20, replaces="ef" * 20)
    Journal(settings.journal_dir).append(events.encode(amend))
    assert not flush(settings).busy
    (group,) = report(cli)
    assert group["commits"] == 1


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"ts": 1e20}, "field 'ts' is not a time"),
        ({"dbid": "f" * 600}, "field 'dbid' is not a database id"),
        ({"dbid": "a:b"}, "field 'dbid' is not a database id"),
        ({"day": "zzzz"}, "field 'day' is not a day"),
    ],
)
def test_damaged_lines_are_skipped_not_crashing(
    exported: tuple[Path, list[dict[str, object]]],
    cli: Cli,
    tmp_path: Path,
    change: dict[str, object],
    error: str,
) -> None:
    path, _ = exported
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    kind = "commit" if "ts" in change else "usage"
    victim = next(line for line in lines if line["kind"] == kind)
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text(json.dumps(dict(victim, **change)) + "\n")
    result = cli("import", str(damaged))
    assert result.code == 1
    assert f"{damaged}:1: skipped: {error}" in result.out
    assert "Traceback" not in result.out + result.err


def test_export_since_leaves_out_older_facts(cli: Cli) -> None:
    settings = config.load()
    journal = Journal(settings.journal_dir)
    old = commit_event(BUILD, "p", "01" * 20)
    old["ts"] = 1_600_000_000.0  # 2020
    journal.append(events.encode(old))
    journal.append(events.encode(commit_event(BUILD, "p", "02" * 20)))
    flush(settings)
    recent = [json.loads(x) for x in cli("export", "--since", "30d").out.splitlines()]
    assert [line["hash"] for line in recent if line["kind"] == "commit"] == ["02" * 20]
    early = [json.loads(x) for x in cli("export", "--until", "2021-01-01").out.splitlines()]
    assert [line["hash"] for line in early] == ["01" * 20]


def test_a_copied_database_counts_under_a_new_id_so_counts_add_up(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    original = config.load()
    journal = Journal(original.journal_dir)
    for _ in range(3):
        journal.append(events.encode(events.make("tool", BUILD, "p", name="x")))
    flush(original)
    copy = tmp_path / "restored.lmdb"
    shutil.copytree(original.database_path, copy)  # a backup restored on another machine
    monkeypatch.setenv("AGENT_TRACKER_DATABASE_PATH", str(copy))
    monkeypatch.setenv("AGENT_TRACKER_JOURNAL_DIR", str(tmp_path / "restored.journal"))
    restored = config.load()
    for _ in range(4):
        Journal(restored.journal_dir).append(
            events.encode(events.make("tool", BUILD, "p", name="x"))
        )
    flush(restored)
    exported = tmp_path / "restored.jsonl"
    exported.write_text(cli("export").out)
    dbids = {
        json.loads(x)["dbid"]
        for x in exported.read_text().splitlines()
        if json.loads(x)["kind"] == "usage"
    }
    assert len(dbids) == 2, "the copy counts under a new id"
    monkeypatch.delenv("AGENT_TRACKER_DATABASE_PATH")
    monkeypatch.delenv("AGENT_TRACKER_JOURNAL_DIR")
    for _ in range(2):
        journal.append(events.encode(events.make("tool", BUILD, "p", name="x")))
    flush(original)
    assert cli("import", str(exported)).code == 0
    (group,) = report(cli)
    assert group["tool_calls"] == 3 + 4 + 2


# -- format 2 ---------------------------------------------------------------------------------

FACT_PREFIXES = (b"commit:", b"communication:", b"usage:", b"replaced:")


def stored_facts(settings: config.Settings) -> dict[bytes, bytes]:
    return {k: v for k, v in db_entries(settings).items() if k.startswith(FACT_PREFIXES)}


def test_a_version_1_export_file_still_imports(cli: Cli, tmp_path: Path) -> None:
    day, ts, sha = "2026-03-02", 1_772_452_800, "ab" * 20
    common = {"v": 1, "harness": "opencode", "agent": "build", "model": "m", "project": "p"}
    lines = [
        {**common, "kind": "commit", "hash": sha, "ts": ts, "source": "journal"},
        {**common, "kind": "grade", "hash": sha, "ts": ts, "by": "user", "grade": 5},
        {**common, "kind": "usage", "day": day, "tool_calls": 4, "commands": 1, "dbid": "0" * 16},
    ]
    path = tmp_path / "v1.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = cli("import", str(path))
    assert result.code == 0, result.out
    assert "imported 3 facts" in result.out
    (group,) = report(cli)
    assert (group["commits"], group["score"], group["tool_calls"], group["tokens"]) == (1, 5, 4, 0)
    (usage_key,) = (k for k in stored_facts(config.load()) if k.startswith(b"usage:"))
    assert usage_key.count(b":") == 4  # the key a version-1 usage count always had


def test_sessions_tokens_and_cost_survive_export_and_import(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = config.load()
    journal = Journal(settings.journal_dir)
    context = {"session": "ses_9", "instructions": "0123abcd"}
    spent = {"tokens": {"in": 10, "out": 20, "cache_read": 300}, "cost": 0.0042}
    for event in [
        events.make("tool", BUILD, "p", name="edit", **context, **spent),
        events.make("command", BUILD, "p", name="pytest", ok=False, **context),
        events.make("session", BUILD, "p", name="idle", tokens={"out": 5}, **context),
        events.make("tool", BUILD, "p", name="edit"),
        commit_event(BUILD, "p", "cd" * 20, **context, **spent),
    ]:
        journal.append(events.encode(event))
    flush(settings)
    exported = [json.loads(line) for line in cli("export").out.splitlines()]
    commit = next(line for line in exported if line["kind"] == "commit")
    assert "tokens" not in commit  # flat: the same columns as usage lines
    assert (commit["tokens_in"], commit["tokens_cache_read"], commit["cost_micros"]) == (
        10,
        300,
        4200,
    )
    usages = [line for line in exported if line["kind"] == "usage"]
    assert sorted(str(line.get("session")) for line in usages) == ["None", "ses_9"]
    with_session = next(line for line in usages if "session" in line)
    assert (with_session["tool_calls"], with_session["commands"]) == (1, 1)
    assert (with_session["failures"], with_session["tokens_out"]) == (1, 25)
    assert all(
        not isinstance(value, list) and (not isinstance(value, dict) or key == "exts")
        for line in exported
        for key, value in line.items()
    )
    path = tmp_path / "v2.jsonl"
    path.write_text(cli("export").out)
    expected, facts_before = report(cli), stored_facts(settings)
    other = use_empty_database(monkeypatch, tmp_path)
    assert cli("import", str(path)).code == 0
    assert stored_facts(other) == facts_before
    assert report(cli) == expected
    (group,) = expected
    assert (group["tokens"], group["tokens_per_commit"], group["failures"]) == (335, 330, 1)


def test_pooling_again_takes_the_larger_of_each_new_count(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = config.load()
    journal = Journal(settings.journal_dir)
    journal.append(events.encode(events.make("tool", BUILD, "p", name="x", tokens={"in": 5})))
    flush(settings)
    first = tmp_path / "first.jsonl"
    first.write_text(cli("export").out)
    journal.append(events.encode(events.make("tool", BUILD, "p", name="x", ok=False, cost=1)))
    flush(settings)
    second = tmp_path / "second.jsonl"
    second.write_text(cli("export").out)
    expected = report(cli)
    use_empty_database(monkeypatch, tmp_path)
    cli("import", str(first))
    result = json.loads(cli("import", str(second), "--format", "json").out)
    assert (result["added"], result["updated"]) == (0, 1)
    assert report(cli) == expected
    (group,) = expected
    assert (group["tool_calls"], group["failures"], group["tokens_in"], group["cost"]) == (
        2,
        1,
        5,
        1.0,
    )


def test_a_usage_line_with_a_bad_new_count_is_reported(cli: Cli, tmp_path: Path) -> None:
    line = {
        "v": 2,
        "kind": "usage",
        "harness": "h",
        "agent": "a",
        "model": "m",
        "project": "p",
        "day": "2026-03-02",
        "tool_calls": 1,
        "commands": 0,
        "tokens_in": -3,
        "dbid": "0123456789abcdef",
    }
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(line) + "\n" + json.dumps(dict(line, tokens_in=3, session="")))
    result = cli("import", str(path))
    assert result.code == 1
    assert "field 'tokens_in' is not a count" in result.out
    assert "field 'session' missing or not text" in result.out


def test_a_commit_amended_on_another_machine_is_counted_once_after_import(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    old, new = "aa" * 20, "bb" * 20
    laptop = config.load()
    journal = Journal(laptop.journal_dir)
    journal.append(events.encode(commit_event(BUILD, "p", old)))
    journal.append(events.encode(events.make("grade", BUILD, "p", hash=old, by="user", grade=2)))
    flush(laptop)
    from_laptop = tmp_path / "laptop.jsonl"
    from_laptop.write_text(cli("export").out)

    desktop = use_empty_database(monkeypatch, tmp_path)  # never saw the commit it amends
    journal = Journal(desktop.journal_dir)
    journal.append(events.encode(commit_event(PLAN, "p", new, replaces=old)))
    journal.append(events.encode(events.make("grade", PLAN, "p", hash=old, by="agent", grade=5)))
    flush(desktop)
    from_desktop = tmp_path / "desktop.jsonl"
    from_desktop.write_text(cli("export").out)
    assert cli("import", str(from_laptop)).code == 0

    def counted(settings: config.Settings) -> tuple[int, int, int, int]:
        records = [
            json.loads(v) for k, v in db_entries(settings).items() if k.startswith(b"agent:")
        ]
        return (
            sum(r["commits"] for r in records),
            sum(r["graded_commits"] for r in records),
            sum(r["user_sum"] for r in records),
            sum(r["agent_sum"] for r in records),
        )

    assert counted(desktop) == (1, 1, 2, 5)
    monkeypatch.setenv("AGENT_TRACKER_DATABASE_PATH", str(laptop.database_path))
    monkeypatch.setenv("AGENT_TRACKER_JOURNAL_DIR", str(laptop.journal_dir))
    assert cli("import", str(from_desktop)).code == 0
    assert counted(laptop) == (1, 1, 2, 5)
    # What the laptop keeps is what a flush of the amendment there would have left.
    journal = Journal(laptop.journal_dir)
    journal.append(events.encode(events.make("grade", BUILD, "p", hash=old, by="user", grade=-1)))
    flush(laptop)
    assert counted(laptop) == (1, 1, -1, 5)
    incremental = db_entries(laptop)
    assert cli("rebuild").code == 0
    assert db_entries(laptop) == incremental
