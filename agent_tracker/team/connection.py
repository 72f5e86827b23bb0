"""Connecting to the team server, and its errors as one line each.

`connect` returns an autocommit psycopg connection (every operation of `server` runs its own
transaction) with JSON read and written by orjson. `error_of` turns any psycopg error into a
`TeamError` whose message names the server (`host:port/dbname`, never a password) and the
fix, and whose exit code says what kind of failure it was (see `errors`): 69 the server
cannot be reached or went away, 77 it refused us (password, TLS, privilege), 65 its version
or schema does not fit. psycopg is imported inside the functions only.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from agent_tracker.errors import EXIT_TEAM_AUTH, EXIT_TEAM_UNREACHABLE, EXIT_USAGE, TrackerError

if TYPE_CHECKING:
    import psycopg

    Connection = psycopg.Connection[Any]


class TeamError(TrackerError):
    """A team server operation failed; the message names the server and the fix."""

    def __init__(self, message: str, exit_code: int = EXIT_TEAM_UNREACHABLE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# -- connecting --------------------------------------------------------------------------------


def describe(url: str) -> str:
    """`host:port/dbname` of a URL, for messages and the watermark (never the password)."""
    return server_identity(url)


def server_identity(url: str) -> str:
    """`host:port/database` of a URL, never its user or password: libpq's multi-host form
    (`h1:5432,h2:5433`) and the `host`, `port` and `dbname` parameters count, and libpq's
    PG* variables and defaults fill in what the URL leaves out."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    netloc = parts.netloc.rpartition("@")[2]
    hosts = (query.get("host") or unquote(netloc) or os.environ.get("PGHOST") or "").split(",")
    ports = (query.get("port") or os.environ.get("PGPORT") or "").split(",")
    named = []
    for n, entry in enumerate(hosts):
        host, port = entry, ""
        if entry.startswith("["):  # [::1]:5432
            host, _, rest = entry[1:].partition("]")
            port = rest.removeprefix(":")
        elif entry.count(":") == 1:
            host, _, port = entry.partition(":")
        port = port or (ports[n] if n < len(ports) else ports[-1]) or "5432"
        named.append(f"{host or 'localhost'}:{port}")
    path = unquote(parts.path.lstrip("/"))
    login = parts.netloc.rpartition("@")[0].partition(":")[0]
    user = query.get("user") or unquote(login) or os.environ.get("PGUSER")
    database = query.get("dbname") or path or os.environ.get("PGDATABASE") or user or "(default)"
    return f"{','.join(named)}/{database}"


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
        raise TeamError(f"cannot read team_database_url: {exc}", EXIT_USAGE) from None
    import orjson

    set_json_loads(orjson.loads, conn)
    set_json_dumps(orjson.dumps, conn)
    conn.info_where = where  # type: ignore[attr-defined]
    return conn


def where(conn: Connection) -> str:
    """`host:port/dbname` of a connection, for messages."""
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
    if not state and (
        isinstance(exc, psycopg.ProgrammingError)
        or "invalid connection option" in lowered
        or ("invalid" in lowered and "value" in lowered)
    ):  # the URL itself (sslmode=bogus, an unknown parameter): nothing the server said
        return TeamError(
            f"team_database_url cannot be used: {_short(text)}; fix it with "
            "`agent-tracker config set team_database_url ...`",
            EXIT_USAGE,
        )
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
