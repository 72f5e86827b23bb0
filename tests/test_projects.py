"""Joining clones: project records that share a root commit are one project."""

from __future__ import annotations

import json
from typing import Any

from conftest import commit_event, db_entries

from agent_tracker import config, events, store
from agent_tracker.flush import flush
from agent_tracker.journal import Journal
from agent_tracker.projects import join_clones, shown_as
from agent_tracker.store import LMDBDatabase
from agent_tracker.totals import project_record

SETUP = ("opencode", "build", "m")


def record(identity: str, roots: dict[str, int], commits: int = 1, **extra: Any) -> dict[str, Any]:
    made = project_record(identity)
    made.update(roots=roots, commits=commits, **extra)
    return made


def test_nothing_shared_leaves_the_records_as_they_are() -> None:
    projects = {"a": record("a", {"r1": 1}), "b": record("b", {"r2": 1}), "c": record("c", {})}
    alias, joined = join_clones(projects)
    assert alias == {}
    assert joined is projects


def test_a_chain_of_shared_roots_joins_under_the_remote_identity() -> None:
    projects = {
        "/home/me/app": record(
            "/home/me/app", {"r1": 2}, 2, exts={".py": 2}, first_day="2025-01-02"
        ),
        "github.com/me/app": record("github.com/me/app", {"r1": 1, "r9": 1}, exts={".py": 1}),
        "/srv/mirror": record("/srv/mirror", {"r9": 3}, commits=3, last_day="2025-03-01"),
        "/home/me/other": record("/home/me/other", {"r2": 1}),
    }
    alias, joined = join_clones(projects)
    assert alias == {"/home/me/app": "github.com/me/app", "/srv/mirror": "github.com/me/app"}
    assert set(joined) == {"github.com/me/app", "/home/me/other"}
    app = joined["github.com/me/app"]
    assert (app["name"], app["commits"], app["exts"], app["roots"]) == (
        "app",
        6,
        {".py": 3},
        {"r1": 3, "r9": 4},
    )
    assert (app["first_day"], app["last_day"]) == ("2025-01-02", "2025-03-01")
    assert app["joined"] == ["/home/me/app", "/srv/mirror", "github.com/me/app"]
    assert projects["/home/me/app"]["commits"] == 2  # the stored records are not changed


def test_the_shown_identity_does_not_depend_on_the_order_records_come_in() -> None:
    names = ["/b/app", "/a/app", "/c/app"]
    for order in (names, names[::-1]):
        alias, joined = join_clones({n: record(n, {"r": 1}) for n in order})
        assert list(joined) == ["/a/app"]
        assert alias == {"/b/app": "/a/app", "/c/app": "/a/app"}


def test_cells_are_shown_under_the_joined_identity_without_touching_them() -> None:
    cells = [("k1", {"project": "/x"}), ("k2", {"project": "y"})]
    shown = list(shown_as({"/x": "y"}, cells))
    assert [cell["project"] for _, cell in shown] == ["y", "y"]
    assert cells[0][1] == {"project": "/x"}
    assert list(shown_as({}, cells)) == cells


def test_a_database_of_derived_version_3_gains_the_roots_on_open(
    settings: config.Settings,
) -> None:
    """Project records of derived version 3 have no `roots`; opening the database for
    writing rebuilds them from the commit facts, once, and marks version 4."""
    journal = Journal(settings.journal_dir)
    root = "c" * 40
    for number, project in enumerate(("/home/me/app", "github.com/me/app"), start=1):
        journal.append(events.encode(commit_event(SETUP, project, f"{number:040x}", root=root)))
    flush(settings)
    db = LMDBDatabase.open_write(settings.database_path, settings.max_database_size)
    with db, db.env.begin(write=True) as txn:
        for key, value in list(txn.cursor()):
            if bytes(key).startswith(b"project:"):
                old = json.loads(value)
                del old["roots"]
                txn.put(key, json.dumps(old).encode())
        txn.put(b"meta:derived", b"3")
    with LMDBDatabase.open_read(settings.database_path, settings.max_database_size) as old_db:  # type: ignore[union-attr]
        assert old_db.derived_outdated()
    journal.append(events.encode(events.make("tool", SETUP, "/home/me/app", name="edit")))
    flush(settings)  # opening for writing brings the database forward first
    entries = db_entries(settings)
    assert json.loads(entries[b"meta:derived"]) == store.DERIVED_VERSION == 4
    roots = [json.loads(v)["roots"] for k, v in entries.items() if k.startswith(b"project:")]
    assert roots == [{root: 1}, {root: 1}]
    facts = [json.loads(v) for k, v in entries.items() if k.startswith(b"commit:")]
    assert [fact["root"] for fact in facts] == [root, root]
