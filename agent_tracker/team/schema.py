"""The team database's schema: its tables, its version and the migrations that reach it.

Everything lives in the PostgreSQL schema `agent_tracker` (so the tool can share a database
with anything else), described for the person who runs the server in docs/team-server.md:

- `meta(key, value)`: `schema_version` (the number below; a newer one is refused);
- `member(name)`: the names teammates see; `machine(id, member, last_push)`: each machine's
  local database id and whose it is;
- `fact(key, kind, project, member, hash, day, body, synced_at)`: every fact pushed, under
  its local key (unique across machines), its body as JSON;
- `cell(project, member, day, harness, agent, model, instructions, <counts>, mix_*,
  source_*, other_sources)`: the day records of `totals`, per member, every figure a
  column: what `report --team` sums;
- `summary(project, member, body)`: the project record of `totals` per member.

Facts are the truth; cells and summaries are derived from them by `server.push` (the same
`recompute.from_facts` a local rebuild uses) in the transaction that changed the facts.

Migrations are numbered SQL lists, applied in order in one transaction by
`server.ensure_schema`; once released, a migration is never edited, only followed by a new one.
`stored_version` and `require` read the version a database holds (no psycopg import here:
they take the connection).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent_tracker.errors import EXIT_TEAM_SCHEMA
from agent_tracker.facts import USAGE_COUNTS
from agent_tracker.team.connection import TeamError
from agent_tracker.totals import COMMIT_FIGURES, PARTY_FIELDS, REVERTED

if TYPE_CHECKING:
    from agent_tracker.team.connection import Connection

SCHEMA = "agent_tracker"
#: The schema this agent-tracker writes and reads.
SCHEMA_VERSION = 1
#: The oldest PostgreSQL this schema and its queries are written for (13: the oldest
#: version its developers still support when this was written; `server_version_num`).
MIN_SERVER_VERSION = 130000

#: The numeric columns of a cell: every count of a `totals.day_record` (a test holds the two
#: together: a new count in `totals` needs a migration here).
CELL_COUNTS = (
    *USAGE_COUNTS,
    *COMMIT_FIGURES,
    "commits",
    "graded_commits",
    "score",
    "score_sq",
    "grades",
    *PARTY_FIELDS,
    REVERTED,
)
#: What identifies a cell within a project and member.
CELL_KEYS = ("day", "harness", "agent", "model", "instructions")
#: A day record's `mix` (graded commits by grade value) as columns: summing plain integers
#: over a team's cells is several times cheaper than summing JSON members (team_bench.py).
MIX_COLUMNS = {"-1": "mix_bad", "1": "mix_neutral", "2": "mix_good", "5": "mix_excellent"}
#: Its `sources` (commits by how their setup was decided) likewise, for every source this
#: agent-tracker writes (report.SOURCES); any other name goes to the JSON `other_sources`.
SOURCE_COLUMNS = {
    name: f"source_{name}"
    for name in ("session", "flag", "env", "trailer", "author", "recent", "journal", "legacy")
} | {"unknown": "source_unknown"}
#: Every numeric column of a cell, in table order: what the team report sums.
CELL_NUMBERS = (*CELL_COUNTS, *MIX_COLUMNS.values(), *SOURCE_COLUMNS.values())

_COUNT_COLUMNS = ",\n".join(f"    {name} bigint NOT NULL DEFAULT 0" for name in CELL_NUMBERS)

MIGRATIONS: dict[int, list[str]] = {
    1: [
        f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.member (
    name text PRIMARY KEY,
    first_push timestamptz NOT NULL DEFAULT now()
)""",
        f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.machine (
    id text PRIMARY KEY,
    member text NOT NULL REFERENCES {SCHEMA}.member (name),
    last_push timestamptz NOT NULL DEFAULT now()
)""",
        f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.fact (
    key text PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('commit', 'grade', 'usage', 'replaced')),
    project text NOT NULL,
    member text NOT NULL,
    hash text,
    day date NOT NULL,
    body jsonb NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now()
)""",
        # A push recomputes the days it touched of one member's cells in a project, from
        # that member's facts of those days there.
        f"CREATE INDEX IF NOT EXISTS fact_project_member ON {SCHEMA}.fact "
        "(project, member, kind, day)",
        # ... and finds whose cells a commit's grades, amendments and arrival touch.
        f"CREATE INDEX IF NOT EXISTS fact_project_hash ON {SCHEMA}.fact (project, hash) "
        "WHERE hash IS NOT NULL",
        f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.cell (
    project text NOT NULL,
    member text NOT NULL,
    day date NOT NULL,
    harness text NOT NULL,
    agent text NOT NULL,
    model text NOT NULL,
    instructions text NOT NULL DEFAULT '',
{_COUNT_COLUMNS},
    other_sources jsonb NOT NULL DEFAULT '{{}}',
    PRIMARY KEY (project, member, day, harness, agent, model, instructions)
)""",
        # `report --team --since/--until` reads a range of days.
        f"CREATE INDEX IF NOT EXISTS cell_day ON {SCHEMA}.cell (day)",
        f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.summary (
    project text NOT NULL,
    member text NOT NULL,
    body jsonb NOT NULL,
    PRIMARY KEY (project, member)
)""",
    ],
}

META_TABLE = f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.meta (
    key text PRIMARY KEY,
    value text NOT NULL
)"""


def stored_version(conn: Connection) -> int | None:
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
    if row is None:
        return None
    try:
        return int(row[0])
    except ValueError:
        raise TeamError(
            f"the team database's schema version is {row[0]!r}, not a number: its "
            f"{SCHEMA}.meta table was changed by hand; ask whoever runs the server",
            EXIT_TEAM_SCHEMA,
        ) from None


def refuse_newer(found: int | None, where: str) -> None:
    if found is not None and found > SCHEMA_VERSION:
        raise TeamError(
            f"the team database {where} has schema version {found}, newer than this "
            f"agent-tracker's ({SCHEMA_VERSION}): upgrade agent-tracker on this machine",
            EXIT_TEAM_SCHEMA,
        )


def require(conn: Connection, where: str) -> None:
    """Raise TeamError(65) unless the database holds this agent-tracker's schema version."""
    found = stored_version(conn)
    if found is None:
        raise TeamError(
            f"the team database {where} has no agent-tracker schema yet: run "
            "`agent-tracker team init`",
            EXIT_TEAM_SCHEMA,
        )
    refuse_newer(found, where)
    if found < SCHEMA_VERSION:
        raise TeamError(
            f"the team database {where} has schema version {found}, older than this "
            f"agent-tracker's ({SCHEMA_VERSION}): run `agent-tracker team init`",
            EXIT_TEAM_SCHEMA,
        )
