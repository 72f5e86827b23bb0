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
  per project and never deadlock), each member whose cells can have changed gets them
  recomputed with `recompute.from_facts` over: that member's commit and usage facts in the
  project, the project's `replaced` facts, and the grades that belong to the member. A grade
  belongs to the member of the commit it finally grades (following amendments), or to the
  member who pushed it when that commit is not on the server. So the local rules hold
  exactly (amendments, reverts within a member's commits, the newest grade per party), and a
  push costs what the touched members' facts in the touched projects cost, not the pool.
- **Errors are one line.** Every failure is a `TeamError` naming the server (never a
  password) and the fix, with the exit code of `errors` (69 unreachable, 77 refused, 65
  version or schema); nothing is committed by a push that raised.

psycopg is imported inside the functions only: nothing else in agent-tracker loads it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_tracker import events, facts, totals
from agent_tracker.errors import (
    EXIT_TEAM_AUTH,
    EXIT_TEAM_SCHEMA,
    EXIT_TEAM_UNREACHABLE,
    TrackerError,
)
from agent_tracker.team import schema
from agent_tracker.team.schema import CELL_COUNTS, SCHEMA

if TYPE_CHECKING:
    import psycopg

    Connection = psycopg.Connection[Any]

#: How long one push waits for a lock another push holds before it gives up (seconds).
LOCK_TIMEOUT = 120
#: Attempts of a push that the server aborted to break a deadlock (should not happen: locks
#: are taken in key order; a retry costs nothing since nothing was committed).
_ATTEMPTS = 3
_ENSURE_LOCK = 0x61676E74_7472636B  # "agnttrck": serialises schema creation and migration
Fact = tuple[str, str, dict[str, Any]]


class TeamError(TrackerError):
    """A team server operation failed; the message names the server and the fix."""

    def __init__(self, message: str, exit_code: int = EXIT_TEAM_UNREACHABLE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


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


# -- connecting --------------------------------------------------------------------------------


def describe(url: str) -> str:
    """`host:port/dbname` of a URL or conninfo, for messages (never the password)."""
    import os

    try:
        from psycopg.conninfo import conninfo_to_dict

        params = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - any unreadable URL: say what we can
        return "the team server"
    host = str(params.get("host") or os.environ.get("PGHOST") or "localhost")
    port = str(params.get("port") or os.environ.get("PGPORT") or "5432")
    dbname = str(params.get("dbname") or os.environ.get("PGDATABASE") or params.get("user") or "")
    return f"{host}:{port}/{dbname}"


def connect(url: str, *, timeout: float = 10) -> Connection:
    """A connection to the team database (autocommit: each function here runs its own
    transaction). libpq's environment variables, ~/.pgpass and `sslmode` apply."""
    import psycopg
    from psycopg.types.json import set_json_dumps, set_json_loads

    where = describe(url)
    try:
        conn = psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=max(1, round(timeout)),
            application_name="agent-tracker",
        )
    except psycopg.Error as exc:
        raise error_of(exc, where) from None
    except ValueError as exc:  # psycopg's ProgrammingError for a malformed URL is an Error
        raise TeamError(f"cannot read team_database_url: {exc}", EXIT_TEAM_AUTH) from None
    import orjson

    set_json_loads(orjson.loads, conn)
    set_json_dumps(orjson.dumps, conn)
    conn.info_where = where  # type: ignore[attr-defined]
    return conn


def _where(conn: Connection) -> str:
    where = getattr(conn, "info_where", None)
    if where is None:
        info = conn.info
        where = f"{info.host}:{info.port}/{info.dbname}"
    return str(where)


_AUTH_WORDS = (
    "password",
    "authentication",
    "ssl",
    "tls",
    "certificate",
    "pg_hba.conf",
    "role",
)


def error_of(exc: BaseException, where: str) -> TeamError:
    """The `TeamError` of a psycopg error: one line, the server named, the fix said."""
    import psycopg

    state = getattr(exc, "sqlstate", None) or ""
    text = " ".join(str(exc).split()) or type(exc).__name__
    lowered = text.lower()
    if isinstance(exc, TeamError):
        return exc
    if state == "42501" or "permission denied" in lowered:
        return TeamError(
            f"the team server {where} denied a privilege: {_short(text)}; ask whoever runs it "
            "for the member role of docs/team-server.md",
            EXIT_TEAM_AUTH,
        )
    if state in ("28P01", "28000") or (
        isinstance(exc, psycopg.OperationalError)
        and not state
        and any(word in lowered for word in _AUTH_WORDS)
        and "timeout" not in lowered
        and "connection refused" not in lowered
    ):
        return TeamError(
            f"the team server {where} refused the connection: {_short(text)}; check the user "
            "and password (~/.pgpass or PGPASSWORD, never the config) and sslmode in "
            "team_database_url",
            EXIT_TEAM_AUTH,
        )
    if state == "3D000" or ("database" in lowered and "does not exist" in lowered):
        return TeamError(
            f"the team server {where} has no such database: {_short(text)}; create it "
            "(docs/team-server.md) or fix team_database_url",
            EXIT_TEAM_UNREACHABLE,
        )
    if isinstance(exc, psycopg.OperationalError) or state.startswith(("08", "57P")):
        return TeamError(
            f"cannot reach the team server {where}: {_short(text)}; check team_database_url "
            "and that the server runs (nothing is lost: the next sync sends everything again)",
            EXIT_TEAM_UNREACHABLE,
        )
    return TeamError(f"the team server {where} failed: {_short(text)}", EXIT_TEAM_UNREACHABLE)


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- the schema --------------------------------------------------------------------------------


def server_version(conn: Connection) -> int:
    """The server's `server_version_num` (e.g. 150018). A seam for the tests."""
    return int(conn.info.server_version)


def ensure_schema(conn: Connection) -> int:
    """Create or migrate the schema; returns its version. Raises TeamError(65) when the
    server is older than supported or its schema was written by a newer agent-tracker."""
    import psycopg

    where = _where(conn)
    version = server_version(conn)
    if version < schema.MIN_SERVER_VERSION:
        raise TeamError(
            f"the team server {where} runs PostgreSQL {_version_text(version)}; agent-tracker "
            f"needs {_version_text(schema.MIN_SERVER_VERSION)} or newer: upgrade the server",
            EXIT_TEAM_SCHEMA,
        )
    try:
        found = _stored_version(conn)
        if found == schema.SCHEMA_VERSION:
            return found  # the usual case: no lock, no privilege beyond reading
        _refuse_newer(found, where)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_ENSURE_LOCK,))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            conn.execute(schema.META_TABLE)
            found = _stored_version(conn) or 0  # again: another machine may have done it
            _refuse_newer(found, where)
            for number in range(found + 1, schema.SCHEMA_VERSION + 1):
                for statement in schema.MIGRATIONS[number]:
                    conn.execute(statement)
            conn.execute(
                f"INSERT INTO {SCHEMA}.meta (key, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (str(schema.SCHEMA_VERSION),),
            )
    except psycopg.Error as exc:
        raise error_of(exc, where) from None
    return schema.SCHEMA_VERSION


def _version_text(number: int) -> str:
    major = number // 10000
    return str(major) if major >= 10 else f"{major}.{number // 100 % 100}"


def _stored_version(conn: Connection) -> int | None:
    """The schema version on the server; None when there is no schema yet. Reading it
    needs USAGE on the schema (a role without it gets error 42501, exit 77)."""
    row = conn.execute(
        "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = 'meta'",
        (SCHEMA,),
    ).fetchone()
    if row is None:
        return None
    row = conn.execute(f"SELECT value FROM {SCHEMA}.meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else None


def _refuse_newer(found: int | None, where: str) -> None:
    if found is not None and found > schema.SCHEMA_VERSION:
        raise TeamError(
            f"the team database {where} has schema version {found}, newer than this "
            f"agent-tracker's ({schema.SCHEMA_VERSION}): upgrade agent-tracker on this machine",
            EXIT_TEAM_SCHEMA,
        )


def _require_schema(conn: Connection, where: str) -> None:
    found = _stored_version(conn)
    if found is None:
        raise TeamError(
            f"the team database {where} has no agent-tracker schema yet: run "
            "`agent-tracker team init`",
            EXIT_TEAM_SCHEMA,
        )
    _refuse_newer(found, where)
    if found < schema.SCHEMA_VERSION:
        raise TeamError(
            f"the team database {where} has schema version {found}, older than this "
            f"agent-tracker's ({schema.SCHEMA_VERSION}): run `agent-tracker team init`",
            EXIT_TEAM_SCHEMA,
        )


# -- pushing -----------------------------------------------------------------------------------


def push(conn: Connection, member: str, machine: str, pushed: Iterable[Fact]) -> PushResult:
    """Merge `pushed` facts (key, kind, body) from `machine` of `member` into the pool and
    recompute the cells they change, in one transaction (see the module docstring)."""
    import psycopg

    where = _where(conn)
    for name, value in (("member", member), ("machine", machine)):
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise TeamError(f"team {name} name {value!r} is not a name", EXIT_TEAM_SCHEMA)
    incoming = _checked(pushed)
    for attempt in range(_ATTEMPTS):
        try:
            with conn.transaction():
                return _push(conn, member, machine, incoming, where)
        except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
            if attempt == _ATTEMPTS - 1:
                raise TeamError(
                    f"the team server {where} kept aborting the sync for a lock conflict; "
                    "try again (nothing was committed)"
                ) from None
        except psycopg.Error as exc:
            raise error_of(exc, where) from None
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


def _hash_of(kind: str, fact: dict[str, Any]) -> str | None:
    return str(fact["hash"]) if kind != "usage" else None


def _push(
    conn: Connection,
    member: str,
    machine: str,
    incoming: dict[str, tuple[str, dict[str, Any]]],
    where: str,
) -> PushResult:
    import orjson

    _require_schema(conn, where)
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
        "hash text, body jsonb) ON COMMIT DROP"
    )
    with (
        conn.cursor() as cur,
        cur.copy("COPY incoming (key, kind, project, hash, body) FROM STDIN") as copy,
    ):
        for key in sorted(incoming):
            kind, fact = incoming[key]
            body = orjson.dumps(fact).decode()
            copy.write_row((key, kind, fact["project"], _hash_of(kind, fact), body))
    # New keys, in key order (concurrent pushes then wait for each other in one order).
    added = {
        row[0]
        for row in conn.execute(
            f"INSERT INTO {SCHEMA}.fact (key, kind, project, member, hash, body) "
            "SELECT key, kind, project, %s, hash, body FROM incoming ORDER BY key "
            "ON CONFLICT (key) DO NOTHING RETURNING key",
            (member,),
        )
    }
    changed: dict[str, set[str]] = {}  # project -> members whose facts there changed
    touched: dict[str, set[str]] = {}  # project -> commit hashes of the changed facts
    for key in added:
        kind, fact = incoming[key]
        _note(changed, touched, kind, fact, member)
    updates: list[tuple[str, str, str]] = []
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
                result.unchanged += 1
                continue
            updates.append((orjson.dumps(better).decode(), member, key))
            _note(changed, touched, kind, better, member)
            changed[better["project"]].add(owner)  # the old owner's cells lose it
    if updates:
        with conn.cursor() as cur:
            cur.executemany(
                f"UPDATE {SCHEMA}.fact SET body = %s::jsonb, member = %s, synced_at = now() "
                "WHERE key = %s",
                updates,
            )
    result.added, result.updated = len(added), len(updates)
    result.unchanged = len(incoming) - result.added - result.updated
    for project in sorted(changed):
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_project_lock(project),))
        result.members += _recompute(conn, project, changed[project], touched[project])
        result.projects += 1
    return result


def _note(
    changed: dict[str, set[str]],
    touched: dict[str, set[str]],
    kind: str,
    fact: dict[str, Any],
    member: str,
) -> None:
    project = fact["project"]
    changed.setdefault(project, set()).add(member)
    hashes = touched.setdefault(project, set())
    if kind != "usage":
        hashes.add(fact["hash"])
    if kind == "replaced":
        hashes.add(fact["by_hash"])


def _project_lock(project: str) -> int:
    digest = hashlib.blake2b(project.encode(), digest_size=8, person=b"at-team").digest()
    return int.from_bytes(digest, "big", signed=True)


# -- recomputing cells -------------------------------------------------------------------------


def _recompute(conn: Connection, project: str, members: set[str], hashes: set[str]) -> int:
    """Recompute the cells and summary of every member of `project` whose records the
    changed facts (by `members`, about commit `hashes`) can change. Returns how many."""
    replaced = [
        (key, body)
        for key, body in conn.execute(
            f"SELECT key, body FROM {SCHEMA}.fact WHERE project = %s AND kind = 'replaced'",
            (project,),
        )
    ]
    successor = {body["hash"]: body["by_hash"] for _, body in replaced}
    chain = _chains(successor, hashes)
    if chain:
        members = members | {
            row[0]
            for row in conn.execute(
                f"SELECT DISTINCT member FROM {SCHEMA}.fact WHERE project = %s AND hash = ANY(%s)",
                (project, sorted(chain)),
            )
        }
    for member in sorted(members):
        _recompute_member(conn, project, member, replaced, successor)
    return len(members)


def _chains(successor: dict[str, str], hashes: set[str]) -> set[str]:
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


def _final(successor: dict[str, str], commit_hash: str) -> str:
    return totals.final_hash(commit_hash, successor.get)


def _recompute_member(
    conn: Connection,
    project: str,
    member: str,
    replaced: list[tuple[str, dict[str, Any]]],
    successor: dict[str, str],
) -> None:
    commits: list[tuple[str, dict[str, Any]]] = []
    usages: list[tuple[str, dict[str, Any]]] = []
    for key, kind, body in conn.execute(
        f"SELECT key, kind, body FROM {SCHEMA}.fact "
        "WHERE project = %s AND member = %s AND kind IN ('commit', 'usage')",
        (project, member),
    ):
        (commits if kind == "commit" else usages).append((key, body))
    own = {body["hash"] for _, body in commits}
    # Grades of the member's commits (or of commits amended into them), and the member's
    # own grades, which stay the member's when the commit they grade is not on the server.
    earlier = {old for old in successor if _final(successor, old) in own}
    grades: list[tuple[str, dict[str, Any]]] = []
    foreign: list[tuple[str, dict[str, Any], str]] = []
    for key, owner, body in conn.execute(
        f"SELECT key, member, body FROM {SCHEMA}.fact WHERE project = %s "
        "AND kind = 'grade' AND (member = %s OR hash = ANY(%s))",
        (project, member, sorted(own | earlier)),
    ):
        aim = _final(successor, body["hash"])
        if aim in own:
            grades.append((key, body))
        elif owner == member:
            foreign.append((key, body, aim))
    if foreign:
        present = {
            row[0]
            for row in conn.execute(
                f"SELECT hash FROM {SCHEMA}.fact WHERE project = %s "
                "AND kind = 'commit' AND hash = ANY(%s)",
                (project, sorted({aim for _, _, aim in foreign})),
            )
        }
        grades += [(key, body) for key, body, aim in foreign if aim not in present]
    from agent_tracker import recompute

    records = recompute.from_facts(commits, grades, usages, replaced)
    conn.execute(
        f"DELETE FROM {SCHEMA}.cell WHERE project = %s AND member = %s",
        (project, member),
    )
    conn.execute(
        f"DELETE FROM {SCHEMA}.summary WHERE project = %s AND member = %s",
        (project, member),
    )
    columns = ("project", "member", *schema.CELL_KEYS, *CELL_COUNTS, "mix", "sources")
    summary = records.get(f"project:{events.project_id(project)}")
    if summary is not None and (commits or usages or grades):
        conn.execute(
            f"INSERT INTO {SCHEMA}.summary (project, member, body) VALUES (%s, %s, %s)",
            (project, member, _jsonb(summary)),
        )
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY {SCHEMA}.cell ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for key, cell in records.items():
            if key.startswith("day:"):
                copy.write_row(_cell_row(project, member, cell))


def _jsonb(value: Any) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(value)


def _cell_row(project: str, member: str, cell: dict[str, Any]) -> tuple[Any, ...]:
    import orjson

    return (
        project,
        member,
        cell["day"],
        cell["harness"],
        cell["agent"],
        cell["model"],
        cell.get("instructions") or "",
        *(cell.get(name, 0) for name in CELL_COUNTS),
        orjson.dumps(cell["mix"]).decode(),
        orjson.dumps(cell["sources"]).decode(),
    )


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

    where = _where(conn)
    conditions, params = _cell_filter(since, until, member)
    group = "day, harness, agent, model, project, instructions"
    sums = ", ".join(f"sum({name})::bigint" for name in CELL_COUNTS)
    grades = [str(value) for value in events.GRADE_VALUES]
    mix = ", ".join(f"sum((mix->>'{value}')::bigint)::bigint" for value in grades)
    try:
        _require_schema(conn, where)
        rows = conn.execute(
            f"SELECT {group}, {sums}, {mix} FROM {SCHEMA}.cell {conditions} "
            f"GROUP BY {group} ORDER BY {group}",
            params,
        ).fetchall()
        source_rows = conn.execute(
            f"SELECT {group}, s.key, sum(s.value::bigint)::bigint "
            f"FROM {SCHEMA}.cell, jsonb_each_text(sources) s {conditions} "
            f"GROUP BY {group}, s.key",
            params,
        ).fetchall()
    except psycopg.Error as exc:
        raise error_of(exc, where) from None
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    width = len(CELL_COUNTS)
    for row in rows:
        day, harness, agent, model, project, instructions = row[:6]
        record = totals.day_record(
            harness, agent, model, project, day.isoformat(), instructions or None
        )
        record.update(zip(CELL_COUNTS, row[6 : 6 + width], strict=True))
        record["mix"] = dict(zip(grades, row[6 + width :], strict=True))
        found[tuple(row[:6])] = record
    for row in source_rows:
        summed = found.get(tuple(row[:6]))
        if summed is not None and row[7]:
            summed["sources"][row[6]] = row[7]
    return list(found.values())


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

    where = _where(conn)
    try:
        _require_schema(conn, where)
        rows = conn.execute(
            f"SELECT project, body FROM {SCHEMA}.summary "
            + ("WHERE member = %s " if member is not None else "")
            + "ORDER BY project, member",
            [member] if member is not None else [],
        ).fetchall()
    except psycopg.Error as exc:
        raise error_of(exc, where) from None
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

    where = _where(conn)
    try:
        _require_schema(conn, where)
        rows = conn.execute(f"SELECT name FROM {SCHEMA}.member ORDER BY name").fetchall()
    except psycopg.Error as exc:
        raise error_of(exc, where) from None
    return [row[0] for row in rows]


def iter_facts(conn: Connection, member: str | None = None) -> Iterator[tuple[str, str, Any]]:
    """Every fact on the server (key, kind, body), for checks and tests."""
    query = f"SELECT key, kind, body FROM {SCHEMA}.fact"
    params: list[Any] = []
    if member is not None:
        query += " WHERE member = %s"
        params.append(member)
    yield from conn.execute(query + " ORDER BY key", params)
