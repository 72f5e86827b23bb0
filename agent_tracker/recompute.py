"""Every derived record recomputed from the facts, and merged facts brought into the form a
flush leaves them in.

`from_facts` is what `store.rebuild` writes (after `import`, `migrate`, `rebuild`, and when a
database's derived records are older than `store.DERIVED_VERSION`). It applies the rules of
`totals` to the whole set of facts at once; `applier` applies the same rules one event at a
time. A property test (tests/test_scoring_property.py) holds the two to the same result.

Rules that need more than one fact:

- Amendments: a commit named by a `replaced` fact does not count; its grades count for the
  commit that replaced it (following chains of amendments), the newest grade per party.
- Reverts: a counted commit fact may carry `reverts: <hash>` (the commit its message says it
  reverts). The fact stays on the reverting commit, so merging databases stays a key-by-key
  union; the reverted commit (followed through amendments) is marked in the derived index
  `reverts:<project>:<hash>` and, when it is a counted commit, its setup and day records
  count it once in `reverted`, whichever of the two commits was recorded first.

`canonicalise` runs after facts are merged from another database or an export: facts that
a flush would have moved (the commit and grades of a commit replaced by an amendment the
other database knew about) are moved the same way, so later flushes find what they expect.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from agent_tracker import events
from agent_tracker.facts import newer
from agent_tracker.keys import agent_key, communication_key, project_key, replaced_key, reverts_key
from agent_tracker.totals import (
    Facts,
    Record,
    add_commit,
    add_commit_grades,
    add_counts,
    add_day_commit,
    add_day_grades,
    add_project_commit,
    add_project_usage,
    add_reverted,
    add_usage,
    day_of,
    day_record,
    final_hash,
    grade_day,
    grades_by_setup,
    is_empty_day,
    project_record,
    revert_record,
    reverts_of,
    setup_record,
    touch,
)

if TYPE_CHECKING:
    from agent_tracker.store import WriteBatch


def from_facts(
    commits: Facts, grades: Facts, usages: Facts, replaced: Facts = ()
) -> dict[str, Record]:
    """Every derived record (`agent:*`, `project:*`, `day:*`, `reverts:*`) from the facts."""
    out: dict[str, Record] = {}
    replaced_facts = list(replaced)
    successor = {(fact["project"], fact["hash"]): fact["by_hash"] for _, fact in replaced_facts}

    def final(project: str, commit_hash: str) -> str:
        return final_hash(commit_hash, partial(_follow, successor, project))

    def setup(fact: Record) -> Record:
        sid = events.setup_id(fact["harness"], fact["agent"], fact["model"])
        return out.setdefault(
            agent_key(sid), setup_record(fact["harness"], fact["agent"], fact["model"])
        )

    def project(fact: Record) -> Record:
        pid = events.project_id(fact["project"])
        return out.setdefault(project_key(pid), project_record(fact["project"]))

    def day(fact: Record, on: str) -> Record:
        key, made = day_of(fact, on)
        return out.setdefault(key, day_record(*made))

    for _, fact in replaced_facts:
        # An amended commit no longer counts, but it was work on its day (as it was when a
        # flush applied it before its amendment).
        on = events.day_of(fact["ts"])
        touch(setup(fact), on)
        touch(project(fact), on)
    for _, fact in usages:
        add_usage(setup(fact), fact, fact["day"])
        add_project_usage(project(fact), fact, fact["day"])
        add_counts(day(fact, fact["day"]), fact)
    commit_facts = {
        (fact["project"], fact["hash"]): fact
        for _, fact in commits
        if (fact["project"], fact["hash"]) not in successor
    }
    reverted_by: dict[tuple[str, str], set[str]] = {}
    for fact in commit_facts.values():
        on = events.day_of(fact["ts"])
        add_commit(setup(fact), fact, on)
        add_project_commit(project(fact), fact, on)
        add_day_commit(day(fact, on), fact)
        target = reverts_of(fact)
        if target is not None and (aim := final(fact["project"], target)) != fact["hash"]:
            reverted_by.setdefault((fact["project"], aim), set()).add(fact["hash"])
    for (name, target), by in reverted_by.items():
        out[reverts_key(events.project_id(name), target)] = revert_record(name, target, by)
        commit = commit_facts.get((name, target))
        if commit is not None:
            add_reverted(setup(commit), +1)
            add_reverted(day(commit, events.day_of(commit["ts"])), +1)
    # A party's grade of a commit: its newest of the commit or of any commit it replaced.
    latest: dict[tuple[str, str, str], Record] = {}
    for _, fact in grades:
        slot = (fact["project"], final(fact["project"], fact["hash"]), fact["by"])
        if slot not in latest or newer(fact, latest[slot]):
            latest[slot] = fact
    per_commit: dict[tuple[str, str], list[Record]] = {}
    for (name, commit_hash, _), fact in latest.items():
        per_commit.setdefault((name, commit_hash), []).append(dict(fact, hash=commit_hash))
    for commit_id, facts in per_commit.items():
        commit = commit_facts.get(commit_id)
        on = grade_day(commit, facts)
        # As one graded commit per setup however many parties graded it.
        for made, values in grades_by_setup(commit, facts):
            add_commit_grades(setup(made), values, +1)
            add_day_grades(day(made, on), values, +1)
    return {k: v for k, v in out.items() if not (k.startswith("day:") and is_empty_day(v))}


def canonicalise(batch: WriteBatch) -> int:
    """Move the facts of commits replaced by an amendment as a flush would have: the commit
    fact goes (its `replaced` fact takes its time and setup, so its day stays active) and
    each party's newest grade goes to the commit that replaced it. Returns the facts moved.

    Needed after a merge only: a database that recorded a commit which another one saw
    amended gets both the commit and the amendment's `replaced` fact.
    """
    successor: dict[tuple[str, str], str] = {
        (fact["project"], fact["hash"]): fact["by_hash"] for _, fact in batch.scan("replaced:")
    }
    if not successor:
        return 0
    moved = 0
    for key, fact in list(batch.scan("commit:")):
        name, commit_hash = fact["project"], fact["hash"]
        if (name, commit_hash) in successor:
            mark = replaced_key(events.project_id(name), commit_hash)
            made = {k: fact[k] for k in ("ts", "harness", "agent", "model")}
            batch.put_now(mark, dict(batch.get(mark), **made))
            batch.delete_now(key)
            moved += 1
    for key, grade in list(batch.scan("communication:")):
        name = grade["project"]
        if (name, grade["hash"]) not in successor:
            continue
        aim = final_hash(grade["hash"], partial(_follow, successor, name))
        target = communication_key(events.project_id(name), aim, grade["by"])
        present: dict[str, Any] | None = batch.get(target)
        if present is None or newer(grade, present):
            batch.put_now(target, dict(grade, hash=aim))
        batch.delete_now(key)
        moved += 1
    return moved


def _follow(successor: dict[tuple[str, str], str], project: str, commit_hash: str) -> str | None:
    return successor.get((project, commit_hash))
