"""CLI commands that read or merge history: report, migrate, export, import, rebuild.

Registered on the app by `cli`. Thin, like the rest of the CLI: parse, call one core
function, render.
"""

from __future__ import annotations

import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from agent_tracker.cli_base import (
    Format,
    FormatOpt,
    WaitOpt,
    notes_console,
    opt,
    settings_of,
    waiting,
)
from agent_tracker.errors import TrackerError, printable

# Each command imports the core it calls when it runs (see `cli`): `report` never loads the
# merging code, `export` never Rich.


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    html = "html"


class By(StrEnum):
    setup = "setup"
    agent = "agent"
    model = "model"
    harness = "harness"
    project = "project"
    instructions = "instructions"


ByOpt = Annotated[
    By,
    opt(
        "--by",
        "Group by setup, agent, model, harness, project or instructions (the fingerprint of "
        "the instruction files; - for none recorded).",
        "GROUP",
    ),
]
SinceOpt = Annotated[
    str | None, opt("--since", "From this day: YYYY-MM-DD, or 30d, 12w, 6m, 1y.", "DAY")
]
UntilOpt = Annotated[str | None, opt("--until", "Up to this day (same forms).", "DAY")]
ProjectOpt = Annotated[
    str | None,
    opt("--project", "Only this project: its name or remote (github.com/me/app).", "PROJECT"),
]
LikeOpt = Annotated[
    Path | None, opt("--like", "Only projects in the main language of the project at PATH.")
]
SetupOpt = Annotated[
    str | None,
    opt("--setup", "One setup in depth: AGENT@MODEL or HARNESS/AGENT@MODEL.", "SETUP"),
]
TopOpt = Annotated[int | None, opt("--top", "Show the best N only.")]
FlushedOpt = Annotated[bool, opt("--flushed-only", "Leave out events still in the journal.")]
ReportFormatOpt = Annotated[
    ReportFormat,
    opt(
        "--format",
        "Output format: text, json, csv, markdown, or html (one page with charts, for a file).",
    ),
]


def _day(option: str, text: str | None, today: date) -> str | None:
    from agent_tracker import cli_fast

    return cli_fast.day(option, text, today)


def report(
    ctx: typer.Context,
    by: ByOpt = By.setup,
    since: SinceOpt = None,
    until: UntilOpt = None,
    project: ProjectOpt = None,
    agent: Annotated[str | None, opt("--agent", "Only this agent.", "NAME")] = None,
    model: Annotated[str | None, opt("--model", "Only this model.", "MODEL")] = None,
    harness: Annotated[str | None, opt("--harness", "Only this harness.", "NAME")] = None,
    like: LikeOpt = None,
    setup: SetupOpt = None,
    top: TopOpt = None,
    flushed_only: FlushedOpt = False,
    fmt: ReportFormatOpt = ReportFormat.text,
    team: Annotated[
        bool,
        opt(
            "--team",
            "The whole team pool on the team server (`team sync` fills it), ranked the same "
            "way. Needs the team extra.",
        ),
    ] = False,
    member: Annotated[
        str | None,
        opt(
            "--member",
            "The team report of this member's machines together (implies --team).",
            "NAME",
        ),
    ] = None,
) -> None:
    """Rank agent setups by the quality of their work, and recommend one.

    Quality is your own grade of their commits (`grade --by user`), adjusted for how hard
    each project is, with a 95% interval and the chance to be the best; the agent's grades
    are shown, never counted. See the README for the method. Reads only; never flushes.
    """
    from agent_tracker import cli_fast

    cli_fast.show(
        lambda: settings_of(ctx),
        by=by.value,
        since=since,
        until=until,
        project=project,
        agent=agent,
        model=model,
        harness=harness,
        like=None if like is None else str(like),
        setup=setup,
        top=top,
        flushed_only=flushed_only,
        fmt=fmt.value,
        team=team,
        member=member,
    )


# -- merging: migrate, export, import, rebuild ----------------------------------------------------

FromOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--from",
        metavar="DATABASE",
        help="A database to merge (repeatable). Default: the per-project database an older "
        "tool left here, ./~/.config/opencode/agent-tracker.lmdb.",
    ),
]


def migrate_command(
    ctx: typer.Context,
    sources: FromOpt = None,
    dry_run: Annotated[bool, opt("--dry-run", "Only count what would be merged.")] = False,
    legacy_script: Annotated[
        bool,
        opt(
            "--legacy-script",
            "Print where export-legacy.mjs is (for databases of the "
            "original TypeScript plugin) and exit.",
        ),
    ] = False,
    fmt: FormatOpt = Format.text,
    wait: WaitOpt = None,
) -> None:
    """Merge other agent-tracker databases into the central one, additively.

    Only facts whose keys are missing are written (nothing is overwritten), summaries are
    rebuilt from the facts, and the source is never changed. Running it again merges
    nothing new. Exits 1 if a source named with --from cannot be read, 75 ("database
    busy") if another process keeps the database locked longer than `--wait`.
    """
    from agent_tracker import migrate, render

    if legacy_script:
        typer.echo(migrate.legacy_script())
        return
    settings = settings_of(ctx)
    named = bool(sources)
    paths = sources or [migrate.default_source(str(Path.cwd()))]
    out = render.console()
    with waiting(wait):
        if named and not dry_run:  # like every writing command: the per-project database too
            render.migrations(notes_console(fmt), migrate.auto_merge(settings, str(Path.cwd())))
        with render.progress(out, "reading", enabled=fmt is Format.text) as step:
            results = migrate.merge(settings, paths, dry_run=dry_run, progress=step)
    if fmt is Format.json:
        render.json_out(out, [r.as_dict() for r in results])
    else:
        render.migrations(out, results)
        if all(r.status == "unchanged" for r in results):
            out.print("nothing new to merge")
    failed = [r for r in results if r.status in ("unreadable", "missing")]
    if failed and named:
        raise TrackerError(f"{len(failed)} of {len(results)} sources could not be merged")


def export_command(
    ctx: typer.Context,
    since: SinceOpt = None,
    until: UntilOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Write the facts (commits, grades, usage counts) as JSON Lines to standard output.

    One fact per line, versioned (see docs/export-format.md); DuckDB and pandas load it as
    is. Import it on another machine with `agent-tracker import`. A damaged fact is
    skipped and named on standard error, the rest exported, and the exit status is 1.
    """
    from agent_tracker import exchange
    from agent_tracker import report as report_mod

    today = report_mod.utc_today()
    skipped: list[str] = []
    lines = exchange.export_lines(
        settings_of(ctx),
        since=_day("--since", since, today),
        until=_day("--until", until, today),
        project=project,
        skipped=skipped,
    )
    sys.stdout.buffer.writelines(lines)
    sys.stdout.flush()
    if skipped:
        for key in skipped[: exchange.MAX_REPORTED_BAD]:
            sys.stderr.write(printable(f"agent-tracker: skipped damaged fact {key}") + "\n")
        raise TrackerError(
            f"{len(skipped)} damaged facts were not exported (named above); the rest were"
        )


def import_command(
    ctx: typer.Context,
    files: Annotated[list[str], typer.Argument(help="Export files ('-' for standard input).")],
    fmt: FormatOpt = Format.text,
    wait: WaitOpt = None,
) -> None:
    """Merge exported facts into the central database, additively and idempotently.

    A fact already present is kept unless the file has a newer grade or a grown usage count
    of it, so importing a file twice changes nothing. Bad lines are reported with their line
    numbers and skipped; the rest is imported (exit 1 if any line was bad). If another
    process keeps the database locked longer than `--wait`, nothing is imported: "database
    busy", exit 75.
    """
    from rich.markup import escape

    from agent_tracker import exchange, migrate, render

    settings = settings_of(ctx)
    streams = exchange.open_inputs(files)
    out = render.console()
    try:
        with waiting(wait):
            render.migrations(notes_console(fmt), migrate.auto_merge(settings, str(Path.cwd())))
            result = exchange.import_files(settings, streams)
    finally:
        for name, stream in streams:
            if name != "<stdin>":
                stream.close()
    if fmt is Format.json:
        render.json_out(out, result.as_dict())
    else:
        for line in exchange.describe(result):
            out.print(escape(line), soft_wrap=True)
    if result.bad:
        count = len(result.bad)
        raise TrackerError(
            f"{count} bad line{'s' if count != 1 else ''} skipped (listed above); "
            "the rest was imported"
        )


def rebuild_command(ctx: typer.Context, wait: WaitOpt = None) -> None:
    """Recompute every summary (per setup, project and day) from the stored facts.

    Records whose values are damaged (not JSON, or not of the shape their key calls for) are
    set aside under `damaged:<key>`, named, and left out. If another process keeps the
    database locked longer than `--wait`: "database busy", nothing changed, exit 75.
    """
    from agent_tracker import exchange, migrate, render

    settings = settings_of(ctx)
    with waiting(wait):
        count, merged, set_aside = migrate.rebuild_all(settings, str(Path.cwd()))
    render.migrations(render.console(), merged)
    for key in set_aside[: exchange.MAX_REPORTED_BAD]:
        typer.echo(printable(f"set aside damaged record {key} (kept as damaged:{key})"))
    if len(set_aside) > exchange.MAX_REPORTED_BAD:
        typer.echo(f"... and {len(set_aside) - exchange.MAX_REPORTED_BAD} more damaged records")
    typer.echo(printable(f"rebuilt {count} summaries from the facts in {settings.database_path}"))
