"""The team database's schema: its tables, its version and the migrations that reach it.

Everything lives in the PostgreSQL schema `agent_tracker` (so the tool can share a database
with anything else), described for the person who runs the server in docs/team-server.md:

- `meta(key, value)`: `schema_version` (the number below; a newer one is refused);
- `member(name)`: the names teammates see; `machine(id, member, last_push)`: each machine's
  local database id and whose it is;
- `fact(key, kind, project, member, hash, body, synced_at)`: every fact pushed, under its
  local key (unique across machines), its body as JSON;
- `cell(project, member, day, harness, agent, model, instructions, <counts>, mix,
  sources)`: the day records of `totals`, per member: what `report --team` sums;
- `summary(project, member, body)`: the project record of `totals` per member.

Facts are the truth; cells and summaries are derived from them by `server.push` (the same
`recompute.from_facts` a local rebuild uses) in the transaction that changed the facts.

Migrations are numbered SQL lists, applied in order in one transaction by
`server.ensure_schema`; once released, a migration is never edited, only followed by a new one.
Only standard library imports: the statements are plain text.
"""

from __future__ import annotations

SCHEMA = "agent_tracker"
#: The schema this agent-tracker writes and reads.
SCHEMA_VERSION = 1
#: The oldest PostgreSQL this schema and its queries are written for (13: the oldest
#: version its developers still support when this was written; `server_version_num`).
MIN_SERVER_VERSION = 130000

#: The numeric columns of a cell: every count of a `totals.day_record` (a test holds the two
#: together: a new count in `totals` needs a migration here).
CELL_COUNTS = (
    "tool_calls",
    "commands",
    "failures",
    "tokens_in",
    "tokens_out",
    "tokens_cache_read",
    "tokens_cache_write",
    "cost_micros",
    "commit_tokens",
    "commits_with_tokens",
    "commit_cost_micros",
    "commits_with_cost",
    "commits",
    "graded_commits",
    "score",
    "score_sq",
    "grades",
    "user_graded",
    "user_sum",
    "user_sq",
    "agent_graded",
    "agent_sum",
    "agent_sq",
    "both_graded",
    "both_diff_sum",
    "both_diff_sq",
    "reverted",
)
#: What identifies a cell within a project and member.
CELL_KEYS = ("day", "harness", "agent", "model", "instructions")

_COUNT_COLUMNS = ",\n".join(f"    {name} bigint NOT NULL DEFAULT 0" for name in CELL_COUNTS)

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
    body jsonb NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now()
)""",
        # A push recomputes one member's cells of a project from that member's facts there.
        f"CREATE INDEX IF NOT EXISTS fact_project_member ON {SCHEMA}.fact (project, member, kind)",
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
    mix jsonb NOT NULL DEFAULT '{{}}',
    sources jsonb NOT NULL DEFAULT '{{}}',
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
