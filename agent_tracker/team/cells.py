"""Recomputing the cells a push changed: per project, per member, per day.

A member's cells of a project are what `recompute.from_facts` makes of: that member's commit
and usage facts there, the project's `replaced` facts (amendments, whoever pushed them), and
the grades that belong to the member. A grade belongs to the member of the commit it finally
grades (following amendments), or to the member who pushed it while that commit is not on
the server. So the rules of a local rebuild hold exactly: amendments, reverts (within one
member's commits), the newest grade per party.

Only what a push can have changed is recomputed, so that a day's sync costs that day's
facts, not a year's:

- the members: the pusher, the previous holders of facts it replaced, and every member
  holding a fact about a commit the push touched (the commit, its grades, its amendments,
  the commit it reverts, followed through amendment chains both ways);
- the days: those of the changed facts (new and replaced versions), and those of every fact
  about a touched commit. A cell counts usage of its day, commits of its day, and grades on
  the day of their commit (or of the earliest current grade while the commit is absent), so
  these days hold every cell whose figures can move.

For each such member, the facts of those days (plus the member's reverting commits, and the
grades of the loaded commits whatever their day) are recomputed, and the cells of exactly
those days replaced. Each member's project summary is then recomputed with SQL over the
member's cells and commit facts. Everything runs inside the push's transaction, under the
project's advisory lock (see `server.push`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from agent_tracker import totals
from agent_tracker.facts import USAGE_COUNTS
from agent_tracker.team.schema import (
    CELL_COUNTS,
    CELL_KEYS,
    CELL_NUMBERS,
    MIX_COLUMNS,
    SCHEMA,
    SOURCE_COLUMNS,
)

if TYPE_CHECKING:
    from agent_tracker.team.connection import Connection

Body = dict[str, Any]


@dataclass
class Change:
    """What a push changed in one project."""

    members: set[str] = field(default_factory=set)
    hashes: set[str] = field(default_factory=set)  # commits the changed facts are about
    days: set[str] = field(default_factory=set)  # days of the changed facts (old and new)

    def note(self, kind: str, fact: Body, member: str, day: str) -> None:
        self.members.add(member)
        self.days.add(day)
        if kind != "usage":
            self.hashes.add(fact["hash"])
        if kind == "replaced":
            self.hashes.add(fact["by_hash"])
        if kind == "commit" and fact.get("reverts"):
            self.hashes.add(fact["reverts"])


def recompute(conn: Connection, project: str, change: Change) -> int:
    """Recompute the cells `change` can have moved; returns how many members'."""
    replaced = list(
        conn.execute(
            f"SELECT key, body FROM {SCHEMA}.fact WHERE project = %s AND kind = 'replaced'",
            (project,),
        )
    )
    successor = {body["hash"]: body["by_hash"] for _, body in replaced}
    members = set(change.members)
    days = set(change.days)
    chain = chains(successor, change.hashes)
    if chain:
        for member, day in conn.execute(
            f"SELECT DISTINCT member, day FROM {SCHEMA}.fact WHERE project = %s AND hash = ANY(%s)",
            (project, sorted(chain)),
        ):
            members.add(member)
            days.add(day.isoformat())
    for member in sorted(members):
        _member_days(conn, project, member, sorted(days), replaced, successor)
        _summary(conn, project, member, sorted(successor))
    return len(members)


def chains(successor: dict[str, str], hashes: set[str]) -> set[str]:
    """`hashes` and every commit linked to one of them by amendments, either way."""
    links: dict[str, set[str]] = {}
    for old, new in successor.items():
        links.setdefault(old, set()).add(new)
        links.setdefault(new, set()).add(old)
    found = set(hashes)
    todo = list(hashes)
    while todo:
        for other in links.get(todo.pop(), ()):
            if other not in found:
                found.add(other)
                todo.append(other)
    return found


def _member_days(
    conn: Connection,
    project: str,
    member: str,
    days: list[str],
    replaced: list[tuple[str, Body]],
    successor: dict[str, str],
) -> None:
    from agent_tracker import recompute as rebuild

    def final(commit_hash: str) -> str:
        return totals.final_hash(commit_hash, successor.get)

    commits: list[tuple[str, Body]] = []
    usages: list[tuple[str, Body]] = []
    for key, kind, body in conn.execute(
        f"SELECT key, kind, body FROM {SCHEMA}.fact WHERE project = %s AND member = %s "
        "AND kind IN ('commit', 'usage') AND (day = ANY(%s::date[]) "
        "OR (kind = 'commit' AND body ? 'reverts'))",
        (project, member, days),
    ):
        (commits if kind == "commit" else usages).append((key, body))
    own = {body["hash"] for _, body in commits}
    earlier = {old for old in successor if final(old) in own}
    grades: dict[str, Body] = {}
    absent: dict[str, tuple[str, Body, str]] = {}
    for key, owner, body in conn.execute(
        f"SELECT key, member, body FROM {SCHEMA}.fact WHERE project = %s AND kind = 'grade' "
        "AND (hash = ANY(%s) OR (member = %s AND day = ANY(%s::date[])))",
        (project, sorted(own | earlier), member, days),
    ):
        aim = final(body["hash"])
        if aim in own:
            grades[key] = body
        elif owner == member:
            absent[key] = (key, body, aim)
    if absent:
        aims = {aim for _, _, aim in absent.values()}
        present = {
            row[0]
            for row in conn.execute(
                f"SELECT hash FROM {SCHEMA}.fact WHERE project = %s AND kind = 'commit' "
                "AND hash = ANY(%s)",
                (project, sorted(aims)),
            )
        }
        missing = aims - present
        if missing:  # the member's grades of those commits, whatever their day
            for key, body in conn.execute(
                f"SELECT key, body FROM {SCHEMA}.fact WHERE project = %s AND kind = 'grade' "
                "AND member = %s AND hash = ANY(%s)",
                (project, member, sorted(chains(successor, missing))),
            ):
                if final(body["hash"]) in missing:
                    grades[key] = body
    records = rebuild.from_facts(commits, list(grades.items()), usages, replaced)
    wanted = set(days)
    conn.execute(
        f"DELETE FROM {SCHEMA}.cell WHERE project = %s AND member = %s AND day = ANY(%s::date[])",
        (project, member, days),
    )
    columns = ("project", "member", *CELL_KEYS, *CELL_NUMBERS, "other_sources")
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY {SCHEMA}.cell ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for key, cell in records.items():
            if key.startswith("day:") and cell["day"] in wanted:
                copy.write_row(_row(project, member, cell))


def _row(project: str, member: str, cell: Body) -> tuple[Any, ...]:
    sources = cell["sources"]
    return (
        project,
        member,
        cell["day"],
        cell["harness"],
        cell["agent"],
        cell["model"],
        cell.get("instructions") or "",
        *(cell.get(name, 0) for name in CELL_COUNTS),
        *(cell["mix"].get(value, 0) for value in MIX_COLUMNS),
        *(sources.get(name, 0) for name in SOURCE_COLUMNS),
        orjson.dumps({k: n for k, n in sources.items() if k not in SOURCE_COLUMNS}).decode(),
    )


_SUMMED = (*USAGE_COUNTS, *totals.COMMIT_FIGURES, "commits")


def _summary(conn: Connection, project: str, member: str, amended: list[str]) -> None:
    """The member's project record (`totals.project_record`) from their cells (counts, first
    and last day) and counted commit facts (languages, root commits), with SQL."""
    from psycopg.types.json import Jsonb

    sums = ", ".join(f"sum({name})::bigint" for name in _SUMMED)
    row = conn.execute(
        f"SELECT count(*), min(day), max(day), {sums} FROM {SCHEMA}.cell "
        "WHERE project = %s AND member = %s",
        (project, member),
    ).fetchone()
    conn.execute(
        f"DELETE FROM {SCHEMA}.summary WHERE project = %s AND member = %s", (project, member)
    )
    if row is None or not row[0]:
        return
    record = totals.project_record(project)
    record.update(zip(_SUMMED, row[3:], strict=True))
    record["first_day"], record["last_day"] = row[1].isoformat(), row[2].isoformat()
    counted = "project = %s AND member = %s AND kind = 'commit' AND NOT (hash = ANY(%s))"
    record["exts"] = {
        ext: count
        for ext, count in conn.execute(
            f"SELECT e.key, sum(e.value::bigint)::bigint FROM {SCHEMA}.fact, "
            f"jsonb_each_text(body->'exts') e WHERE {counted} GROUP BY e.key",
            (project, member, amended),
        )
        if count
    }
    record["roots"] = dict(
        conn.execute(
            f"SELECT body->>'root', count(*) FROM {SCHEMA}.fact WHERE {counted} "
            "AND body ? 'root' GROUP BY 1",
            (project, member, amended),
        ).fetchall()
    )
    conn.execute(
        f"INSERT INTO {SCHEMA}.summary (project, member, body) VALUES (%s, %s, %s)",
        (project, member, Jsonb(record)),
    )


def project_lock(project: str) -> int:
    """The 64-bit advisory lock key of a project."""
    import hashlib

    digest = hashlib.blake2b(project.encode(), digest_size=8, person=b"at-team").digest()
    return int.from_bytes(digest, "big", signed=True)
