"""Reading the team pool: what `report --team` is built from.

`cells` are the day records of the pool (or of one member) summed over members by the
server (`GROUP BY day, harness, agent, model, project, instructions`), in the shape of a
local `day:` record, so the personal report's grouping and ranking apply unchanged; their
number grows with setups x projects x days, never with events. `projects` are the project
records, each member's summary added up. Every function raises `TeamError` on failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from agent_tracker import totals
from agent_tracker.team import schema
from agent_tracker.team.connection import error_of, where
from agent_tracker.team.schema import (
    CELL_COUNTS,
    CELL_NUMBERS,
    MIX_COLUMNS,
    SCHEMA,
    SOURCE_COLUMNS,
)

if TYPE_CHECKING:
    from agent_tracker.team.connection import Connection


# -- reading the pool --------------------------------------------------------------------------


def cells(
    conn: Connection,
    since: str | None = None,
    until: str | None = None,
    member: str | None = None,
) -> list[dict[str, Any]]:
    """The day records of the pool (of one member with `member`) in [since, until], summed
    over members by the server, in the shape of a local `day:` record (`totals.day_record`)."""
    import psycopg

    at = where(conn)
    conditions, params = _cell_filter(since, until, member)
    group = "day, harness, agent, model, project, instructions"
    sums = ", ".join(f"sum({name})::bigint" for name in CELL_NUMBERS)
    other = "other_sources <> '{}'::jsonb"
    try:
        schema.require(conn, at)
        with conn.transaction():  # one snapshot for both queries: a push may commit between
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            conn.execute("SET LOCAL work_mem = '64MB'")  # group in memory, not on disk
            rows = conn.execute(
                f"SELECT {group}, {sums} FROM {SCHEMA}.cell {conditions} GROUP BY {group}",
                params,
            ).fetchall()
            other_rows = conn.execute(
                f"SELECT {group}, s.key, sum(s.value::bigint)::bigint "
                f"FROM {SCHEMA}.cell, jsonb_each_text(other_sources) s "
                f"{conditions + ' AND ' if conditions else 'WHERE '}{other} "
                f"GROUP BY {group}, s.key",
                params,
            ).fetchall()
    except psycopg.Error as exc:
        raise error_of(exc, at) from None
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    counts = len(CELL_COUNTS)
    mixes = counts + len(MIX_COLUMNS)
    for row in rows:
        day, harness, agent, model, project, instructions = row[:6]
        record = totals.day_record(
            harness, agent, model, project, day.isoformat(), instructions or None
        )
        figures = row[6:]
        record.update(zip(CELL_COUNTS, figures[:counts], strict=True))
        record["mix"] = dict(zip(MIX_COLUMNS, figures[counts:mixes], strict=True))
        record["sources"] = {
            name: n for name, n in zip(SOURCE_COLUMNS, figures[mixes:], strict=True) if n
        }
        found[tuple(row[:6])] = record
    for row in other_rows:
        summed = found.get(tuple(row[:6]))
        if summed is not None and row[7]:
            summed["sources"][row[6]] = row[7]
    return sorted(found.values(), key=_order)


def _order(record: dict[str, Any]) -> tuple[str, ...]:
    return tuple(record[k] or "" for k in ("day", "harness", "agent", "model", "project"))


def _cell_filter(since: str | None, until: str | None, member: str | None) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if since:
        clauses.append("day >= %s::date")
        params.append(since)
    if until:
        clauses.append("day <= %s::date")
        params.append(until)
    if member is not None:
        clauses.append("member = %s")
        params.append(member)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def projects(conn: Connection, member: str | None = None) -> dict[str, dict[str, Any]]:
    """The project records of the pool (`totals.project_record`), by identity: each
    member's summary added up (counts, languages, roots; the first and last day)."""
    import psycopg

    at = where(conn)
    try:
        schema.require(conn, at)
        rows = conn.execute(
            f"SELECT project, body FROM {SCHEMA}.summary "
            + ("WHERE member = %s " if member is not None else "")
            + "ORDER BY project, member",
            [member] if member is not None else [],
        ).fetchall()
    except psycopg.Error as exc:
        raise error_of(exc, at) from None
    found: dict[str, dict[str, Any]] = {}
    for project, body in rows:
        record = found.get(project)
        if record is None:
            found[project] = body
            continue
        _add_summary(record, body)
    return found


def _add_summary(record: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if key in ("project", "name"):
            continue
        if key in ("exts", "roots") and isinstance(value, dict):
            mine = record.setdefault(key, {})
            for name, count in value.items():
                mine[name] = mine.get(name, 0) + count
        elif key == "first_day":
            days = [d for d in (record.get(key), value) if d]
            record[key] = min(days) if days else None
        elif key == "last_day":
            days = [d for d in (record.get(key), value) if d]
            record[key] = max(days) if days else None
        elif isinstance(value, int) and not isinstance(value, bool):
            record[key] = record.get(key, 0) + value


def members(conn: Connection) -> list[str]:
    """The names of the pool's members, sorted."""
    import psycopg

    at = where(conn)
    try:
        schema.require(conn, at)
        rows = conn.execute(f"SELECT name FROM {SCHEMA}.member ORDER BY name").fetchall()
    except psycopg.Error as exc:
        raise error_of(exc, at) from None
    return [row[0] for row in rows]


def iter_facts(conn: Connection, member: str | None = None) -> Iterator[tuple[str, str, Any]]:
    """Every fact on the server (key, kind, body), for checks and tests."""
    query = f"SELECT key, kind, body FROM {SCHEMA}.fact"
    params: list[Any] = []
    if member is not None:
        query += " WHERE member = %s"
        params.append(member)
    yield from conn.execute(query + " ORDER BY key", params)
