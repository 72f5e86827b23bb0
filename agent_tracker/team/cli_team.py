"""`agent-tracker team ...`: set up the team server and sync to it. Thin, like the rest of
the CLI: parse, call `team.sync` or `team.server`, render, map errors to exit codes."""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from agent_tracker.cli_base import Format, FormatOpt, Group, opt, settings_of

team_app = typer.Typer(
    help="Pool history with teammates and your other machines through a PostgreSQL server.",
    no_args_is_help=True,
    cls=Group,
    rich_markup_mode="markdown",
)

#: How long a sync started in the background after a flush may take (seconds).
BACKGROUND_BOUND = 120


@team_app.command("init")
def team_init(ctx: typer.Context, fmt: FormatOpt = Format.text) -> None:
    """Create the team tables on the server (or migrate them) and print the schema version.

    Needs `team_database_url`; the password comes from ~/.pgpass or PGPASSWORD. Exits 69
    when the server cannot be reached, 77 when it refuses us, 65 when its version or schema
    does not fit this agent-tracker.
    """
    from agent_tracker import render
    from agent_tracker.team import sync

    settings = settings_of(ctx)
    url = sync.team_url(settings)
    sync.require_driver()
    from agent_tracker.team import server

    conn = server.connect(url)
    try:
        version = server.ensure_schema(conn)
    finally:
        conn.close()
    where = server.describe(url)
    out = render.console()
    if fmt is Format.json:
        render.json_out(out, {"server": where, "schema_version": version})
    else:
        out.print(f"team schema version {version} ready on {where}", markup=False)


@team_app.command("sync")
def team_sync(
    ctx: typer.Context,
    background: Annotated[
        bool,
        opt(
            "--background",
            "Quiet and bounded in time, as started after a flush: a failure is only recorded "
            "(doctor and status show it) and the exit status is 0.",
        ),
    ] = False,
    full: Annotated[
        bool,
        opt(
            "--full",
            "Send every fact again, whatever this machine remembers sending (after the server "
            "was restored from a backup); the server's merge keeps totals exact.",
        ),
    ] = False,
    fmt: FormatOpt = Format.text,
) -> None:
    """Push the facts the team server does not have yet (idempotent: run it any time).

    Only what `share_project_names` and the sharing rules allow leaves this machine (see the
    README). Exits 69 when the server cannot be reached, 77 when it refuses us (password,
    TLS, privilege), 65 when its schema is newer than this agent-tracker; nothing local is
    lost, and the next sync sends what this one could not.
    """
    from agent_tracker import render
    from agent_tracker.errors import TrackerError
    from agent_tracker.team import sync

    settings = settings_of(ctx)
    sync.team_url(settings)
    if background:
        _bound(BACKGROUND_BOUND)
    try:
        sync.require_driver()
        result = sync.sync(
            settings,
            wait=0.0 if background else sync.LOCK_WAIT,
            check=not background,  # a person asks: make sure the server is the same pool
            full=full,
        )
    except (TrackerError, TimeoutError) as exc:
        sync.record_status(settings, str(exc), None)
        if background:
            return
        raise
    except Exception as exc:
        if not background:
            raise
        sync.record_status(settings, f"{type(exc).__name__}: {exc}", None)
        return
    if not result.busy:
        sync.record_status(settings, None, result)
    if background:
        return
    out = render.console()
    if fmt is Format.json:
        render.json_out(out, result.as_dict())
    else:
        out.print(result.summary(), markup=False)


def _bound(seconds: int) -> None:
    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"gave up after {seconds} s; the next flush tries again")

    signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
