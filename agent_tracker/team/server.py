"""The team database server: connecting, the schema, pushing facts, reading the pool.

Invariants:

- **Facts are the truth, merged as `import` merges them.** A fact keeps its local key
  (unique across machines); a push inserts absent keys and reconciles present ones with
  `facts.reconcile` under row locks (usage counts: the larger wins; grades: the newer wins;
  anything else is written once). Pushing the same facts again, from any machine, in any
  order, after a crash at any point, changes nothing.
- **One push, one transaction.** Facts, the cells they change and the summaries are written
  in one transaction: a push killed or cut off anywhere leaves the server as it was, and the
  client's watermark advances only after `push` returned.
- **Cells are recomputed, not patched.** For each project a push changed (in sorted order,
  under a transaction-scoped advisory lock of that project, so concurrent pushes serialise
  per project), the days of each member's cells that the changed facts can move are
  recomputed with `recompute.from_facts`, the local rebuild's code (see `cells`). A push
  costs the touched members' facts of the touched days, not the pool's history.
- **Errors are one line.** Every failure is a `TeamError` naming the server (never a
  password) and the fix, with the exit code of `errors` (69 unreachable, 77 refused, 65
  version or schema); nothing is committed by a push that raised.

This module is the interface the client side uses (`connect`, `ensure_schema`, `push`,
`cells`, `projects`, `members`, `TeamError`); `connection`, `schema`, `cells` and `pool` hold
the parts. psycopg is imported inside functions only: nothing else in agent-tracker loads it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_tracker import facts
from agent_tracker.errors import EXIT_TEAM_SCHEMA
from agent_tracker.team import schema
from agent_tracker.team.cells import Change, project_lock, recompute
from agent_tracker.team.connection import TeamError, connect, describe, error_of, where
from agent_tracker.team.pool import cells, iter_facts, members, projects
from agent_tracker.team.schema import SCHEMA

if TYPE_CHECKING:
    from agent_tracker.team.connection import Connection

__all__ = [
    "PushResult",
    "TeamError",
    "cells",
    "connect",
    "describe",
    "ensure_schema",
    "error_of",
    "iter_facts",
    "members",
    "pool_id",
    "projects",
    "push",
]

#: How long one push waits for a lock another push holds before it gives up (seconds).
LOCK_TIMEOUT = 120
#: Attempts of a push that the server aborted to break a deadlock (locks are taken in key
#: and project order, so this should not happen; a retry is safe: nothing was committed).
_ATTEMPTS = 3
_ENSURE_LOCK = 0x61676E74_7472636B  # "agnttrck": serialises schema creation and migration
Fact = tuple[str, str, dict[str, Any]]


@dataclass
class PushResult:
    """What a push changed on the server."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    projects: int = 0  # projects whose cells were recomputed
    members: int = 0  # (project, member) pairs recomputed

    def as_dict(self) -> dict[str, int]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "projects": self.projects,
            "members": self.members,
        }


# -- the schema --------------------------------------------------------------------------------


def server_version(conn: Connection) -> int:
    """The server's `server_version_num` (e.g. 150018). A seam for the tests."""
    return int(conn.info.server_version)


def ensure_schema(conn: Connection) -> int:
    """Create or migrate the schema; returns its version. Raises TeamError(65) when the
    server is older than supported or its schema was written by a newer agent-tracker."""
    import psycopg

    at = where(conn)
    version = server_version(conn)
    if version < schema.MIN_SERVER_VERSION:
        raise TeamError(
            f"the team server {at} runs PostgreSQL {_version_text(version)}; agent-tracker "
            f"needs {_version_text(schema.MIN_SERVER_VERSION)} or newer: upgrade the server",
            EXIT_TEAM_SCHEMA,
        )
    try:
        found = schema.stored_version(conn)
        if found == schema.SCHEMA_VERSION:
            return found  # the usual case: no lock, no privilege beyond reading
        schema.refuse_newer(found, at)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_ENSURE_LOCK,))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            conn.execute(schema.META_TABLE)
            found = schema.stored_version(conn) or 0  # again: another machine may have done it
            schema.refuse_newer(found, at)
            for number in range(found + 1, schema.SCHEMA_VERSION + 1):
                for statement in schema.MIGRATIONS[number]:
                    conn.execute(statement)
            conn.execute(
                f"INSERT INTO {SCHEMA}.meta (key, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (str(schema.SCHEMA_VERSION),),
            )
            # Who this pool is: a database emptied and made again, or another database
            # behind the same address, gets a new id, so machines send everything again.
            conn.execute(
                f"INSERT INTO {SCHEMA}.meta (key, value) VALUES ('pool_id', "
                "gen_random_uuid()::text) ON CONFLICT (key) DO NOTHING"
            )
    except psycopg.Error as exc:
        raise error_of(exc, at) from None
    return schema.SCHEMA_VERSION


def pool_id(conn: Connection) -> str | None:
    """The id `ensure_schema` gave this pool when it made its tables (None: none yet)."""
    import psycopg

    try:
        row = conn.execute(f"SELECT value FROM {SCHEMA}.meta WHERE key = 'pool_id'").fetchone()
    except psycopg.Error as exc:
        raise error_of(exc, where(conn)) from None
    return str(row[0]) if row else None


def _version_text(number: int) -> str:
    major = number // 10000
    return str(major) if major >= 10 else f"{major}.{number // 100 % 100}"


# -- pushing -----------------------------------------------------------------------------------


def push(conn: Connection, member: str, machine: str, pushed: Iterable[Fact]) -> PushResult:
    """Merge `pushed` facts (key, kind, body) from `machine` of `member` into the pool and
    recompute the cells they change, in one transaction (see the module docstring)."""
    import psycopg

    at = where(conn)
    for name, value in (("member", member), ("machine", machine)):
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise TeamError(f"team {name} name {value!r} is not a name", EXIT_TEAM_SCHEMA)
    incoming = _checked(pushed)
    for attempt in range(_ATTEMPTS):
        try:
            with conn.transaction():
                return _push(conn, member, machine, incoming, at)
        except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
            if attempt == _ATTEMPTS - 1:
                raise TeamError(
                    f"the team server {at} kept aborting the sync for a lock conflict; "
                    "try again (nothing was committed)"
                ) from None
        except psycopg.Error as exc:
            raise error_of(exc, at) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _checked(pushed: Iterable[Fact]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each fact checked as `import` checks a line; a key sent twice is reconciled."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for key, kind, body in pushed:
        if facts.kind_of_key(key) != kind or len(key) > 1000:
            raise TeamError(f"fact {key[:80]!r} is not a {kind} fact's key", EXIT_TEAM_SCHEMA)
        try:
            fact = facts.check(kind, dict(body))
        except facts.BadFact as exc:
            raise TeamError(f"fact {key[:80]!r} is damaged: {exc}", EXIT_TEAM_SCHEMA) from None
        if key in found:
            better = facts.reconcile(kind, found[key][1], fact)
            if better is None:
                continue
            fact = better
        found[key] = (kind, fact)
    return found


def _push(
    conn: Connection,
    member: str,
    machine: str,
    incoming: dict[str, tuple[str, dict[str, Any]]],
    at: str,
) -> PushResult:
    import orjson

    schema.require(conn, at)
    conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}s'")
    conn.execute(
        f"INSERT INTO {SCHEMA}.member (name) VALUES (%s) ON CONFLICT DO NOTHING", (member,)
    )
    conn.execute(
        f"INSERT INTO {SCHEMA}.machine (id, member) VALUES (%s, %s) ON CONFLICT (id) "
        "DO UPDATE SET member = EXCLUDED.member, last_push = now()",
        (machine, member),
    )
    result = PushResult()
    if not incoming:
        return result
    conn.execute(
        "CREATE TEMP TABLE incoming (key text PRIMARY KEY, kind text, project text, "
        "hash text, day date, body jsonb) ON COMMIT DROP"
    )
    with (
        conn.cursor() as cur,
        cur.copy("COPY incoming (key, kind, project, hash, day, body) FROM STDIN") as copy,
    ):
        for key in sorted(incoming):
            kind, fact = incoming[key]
            copy.write_row(
                (
                    key,
                    kind,
                    fact["project"],
                    None if kind == "usage" else fact["hash"],
                    facts.day_of(kind, fact),
                    orjson.dumps(fact).decode(),
                )
            )
    # New keys, in key order (concurrent pushes then wait for each other in one order).
    added = {
        row[0]
        for row in conn.execute(
            f"INSERT INTO {SCHEMA}.fact (key, kind, project, member, hash, day, body) "
            "SELECT key, kind, project, %s, hash, day, body FROM incoming ORDER BY key "
            "ON CONFLICT (key) DO NOTHING RETURNING key",
            (member,),
        )
    }
    changes: dict[str, Change] = {}
    for key in added:
        kind, fact = incoming[key]
        changes.setdefault(fact["project"], Change()).note(
            kind, fact, member, facts.day_of(kind, fact)
        )
    updates: list[tuple[str, str, str, str]] = []
    if len(added) < len(incoming):
        rows = conn.execute(
            f"SELECT f.key, f.member, f.body FROM {SCHEMA}.fact f JOIN incoming i "
            "ON i.key = f.key WHERE NOT (f.key = ANY(%s)) ORDER BY f.key FOR UPDATE OF f",
            (list(added),),
        )
        for key, owner, stored in rows:
            kind, fact = incoming[key]
            better = facts.reconcile(kind, stored, fact)
            if better is None:
                continue
            day = facts.day_of(kind, better)
            updates.append((orjson.dumps(better).decode(), member, day, key))
            change = changes.setdefault(better["project"], Change())
            change.note(kind, better, member, day)
            change.note(kind, stored, owner, facts.day_of(kind, stored))  # what it leaves
    if updates:
        with conn.cursor() as cur:
            cur.executemany(
                f"UPDATE {SCHEMA}.fact SET body = %s::jsonb, member = %s, day = %s::date, "
                "synced_at = now() WHERE key = %s",
                updates,
            )
    result.added, result.updated = len(added), len(updates)
    result.unchanged = len(incoming) - result.added - result.updated
    for project in sorted(changes):
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (project_lock(project),))
        result.members += recompute(conn, project, changes[project])
        result.projects += 1
    return result
