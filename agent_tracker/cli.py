"""The Typer command-line interface: parse, call one core function, render, map errors.

Capture commands are usually served by `entry`'s fast path; they are defined here too so
that `--help` and mistakes get Typer's full treatment, with the same options.
"""

from __future__ import annotations

import os
import signal
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from agent_tracker import (
    __version__,
    capture,
    config,
    exchange,
    hookscripts,
    languages,
    migrate,
    render,
    reportview,
)
from agent_tracker import report as report_mod
from agent_tracker import status as status_mod
from agent_tracker.errors import EXIT_INTERRUPTED, ConfigError, TrackerError, UsageError
from agent_tracker.flush import flush as flush_journal
from agent_tracker.store import LMDBDatabase

app = typer.Typer(
    name="agent-tracker",
    help="Record how AI coding agents perform across your projects, and learn which agent "
    "setup (agent + model) to use next.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
track_app = typer.Typer(
    help="Record an agent's tool call or command (appends to the journal).", no_args_is_help=True
)
hooks_app = typer.Typer(
    help="Install, remove or inspect the git hooks of a repository.", no_args_is_help=True
)
config_app = typer.Typer(
    help="Show or change settings (database path, size limit).", no_args_is_help=True
)
app.add_typer(track_app, name="track")
app.add_typer(hooks_app, name="hooks")
app.add_typer(config_app, name="config")


class Format(StrEnum):
    text = "text"
    json = "json"


class Party(StrEnum):
    agent = "agent"
    user = "user"


# -- shared options ------------------------------------------------------------------------

AgentOpt = Annotated[
    str | None,
    typer.Option("--agent", help="Agent name or mode, e.g. build. Default: $AGENT_TRACKER_AGENT."),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model", help="Model, e.g. anthropic/claude-sonnet-4-5. Default: $AGENT_TRACKER_MODEL."
    ),
]
HarnessOpt = Annotated[
    str | None,
    typer.Option(
        "--harness",
        help="Harness, e.g. opencode, claude-code. Default: $AGENT_TRACKER_HARNESS, else detected.",
    ),
]
RepoOpt = Annotated[
    str | None, typer.Option("--repo", help="Folder of the project (default: current folder).")
]
FormatOpt = Annotated[Format, typer.Option("--format", help="Output format.")]


def _settings(ctx: typer.Context) -> config.Settings:
    obj: dict[str, Any] = ctx.find_root().obj or {}
    return config.load(config_flag=obj.get("config"), flags=obj.get("flags"))


def _config_file(ctx: typer.Context) -> str:
    obj: dict[str, Any] = ctx.find_root().obj or {}
    return config.config_path(obj.get("config"))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agent-tracker {__version__}")
        raise typer.Exit


@app.callback()
def root(
    ctx: typer.Context,
    config_file: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="Config file (default: $AGENT_TRACKER_CONFIG, else "
            "~/.config/opencode/agent-tracker.toml).",
        ),
    ] = None,
    database_path: Annotated[
        str | None,
        typer.Option("--database-path", help="Database folder (overrides env and config file)."),
    ] = None,
    max_database_size: Annotated[
        str | None,
        typer.Option(
            "--max-database-size",
            help="Database size limit in bytes or with a unit (512MiB); 1 MiB..2 GiB.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    ctx.obj = {
        "config": config_file,
        "flags": {"database_path": database_path, "max_database_size": max_database_size},
    }


# -- capture ---------------------------------------------------------------------------------


def _capture(ctx: typer.Context, command: str, **values: str | None) -> None:
    capture.run(command, values, _settings(ctx))


@track_app.command("tool")
def track_tool(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            help="Tool name, e.g. edit, read, bash; `-` reads a harness hook's JSON from "
            "standard input (tool_name and cwd, as Claude Code sends them)."
        ),
    ],
    agent: AgentOpt = None,
    model: ModelOpt = None,
    harness: HarnessOpt = None,
    repo: RepoOpt = None,
) -> None:
    """Record one tool call (+1 XP). Appends to the journal; never touches the database."""
    _capture(ctx, "track tool", name=name, agent=agent, model=model, harness=harness, repo=repo)


@track_app.command("command")
def track_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Command name, e.g. test, build.")],
    agent: AgentOpt = None,
    model: ModelOpt = None,
    harness: HarnessOpt = None,
    repo: RepoOpt = None,
) -> None:
    """Record one completed command (+2 XP). Appends to the journal only."""
    _capture(ctx, "track command", name=name, agent=agent, model=model, harness=harness, repo=repo)


@app.command("commit")
def commit(
    ctx: typer.Context,
    agent: AgentOpt = None,
    model: ModelOpt = None,
    harness: HarnessOpt = None,
    repo: RepoOpt = None,
    rev: Annotated[
        str | None, typer.Option("--rev", help="Commit to record (default: HEAD).")
    ] = None,
) -> None:
    """Record a commit (+5 XP, +1 commit); run by the post-commit hook.

    The setup is decided by, in order: --agent/--model, $AGENT_TRACKER_AGENT/MODEL,
    Agent:/Model: commit trailers, the setup last active in this project, else unknown.
    """
    _capture(ctx, "commit", agent=agent, model=model, harness=harness, repo=repo, rev=rev)


@app.command("grade", context_settings={"ignore_unknown_options": True})
def grade(
    ctx: typer.Context,
    value: Annotated[
        str,
        typer.Argument(help=f"The grade: {render.GRADE_HELP}; names or numbers.", metavar="GRADE"),
    ],
    by: Annotated[
        Party, typer.Option("--by", help="Who grades: agent or user.", case_sensitive=False)
    ],
    commit_rev: Annotated[
        str | None, typer.Option("--commit", help="Commit to grade (default: HEAD).")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why.")] = None,
    agent: AgentOpt = None,
    model: ModelOpt = None,
    harness: HarnessOpt = None,
    repo: RepoOpt = None,
) -> None:
    """Grade a commit. One grade per party per commit: grading again replaces the grade.

    The grade counts for the setup that made the commit. A negative grade is a value:
    `agent-tracker grade -1 --by user` works as typed.
    """
    _capture(
        ctx,
        "grade",
        value=value,
        by=by.value,
        commit=commit_rev,
        note=note,
        agent=agent,
        model=model,
        harness=harness,
        repo=repo,
    )


# -- flush, status, report ---------------------------------------------------------------------


@app.command("flush")
def flush(ctx: typer.Context, fmt: FormatOpt = Format.text) -> None:
    """Apply every pending journal event to the database, in one transaction, exactly once.

    If another flush is running, say so and exit 0 (never hang `git push`).
    """
    # Inside the pre-push hook, a large per-project database waits for an explicit migrate.
    in_hook = bool(os.environ.get("AGENT_TRACKER_HOOK_TIMEOUT"))
    limit = migrate.HOOK_MERGE_LIMIT if in_hook else None
    result = flush_journal(_settings(ctx), str(Path.cwd()), limit)
    out = render.console()
    if fmt is Format.json:
        render.json_out(out, result.as_dict())
    else:
        render.flush_summary(out, result)


@app.command("status")
def status(ctx: typer.Context, fmt: FormatOpt = Format.text) -> None:
    """Show paths, pending events and database use against its limit. Changes nothing."""
    st = status_mod.collect(_settings(ctx), str(Path.cwd()))
    out = render.console()
    if fmt is Format.json:
        render.json_out(out, st.as_dict())
    else:
        render.status_table(out, st)


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class By(StrEnum):
    setup = "setup"
    agent = "agent"
    model = "model"
    harness = "harness"
    project = "project"


def _opt(name: str, text: str) -> Any:
    return typer.Option(name, help=text)


ByOpt = Annotated[By, _opt("--by", "Group by setup, agent, model, harness or project.")]
SinceOpt = Annotated[str | None, _opt("--since", "From this day: YYYY-MM-DD, or 30d, 12w, 6m, 1y.")]
UntilOpt = Annotated[str | None, _opt("--until", "Up to this day (same forms).")]
ProjectOpt = Annotated[
    str | None, _opt("--project", "Only this project: its name or remote (github.com/me/app).")
]
LikeOpt = Annotated[
    Path | None, _opt("--like", "Only projects in the main language of the project at PATH.")
]
SetupOpt = Annotated[
    str | None, _opt("--setup", "One setup in depth: AGENT@MODEL or HARNESS/AGENT@MODEL.")
]
TopOpt = Annotated[int | None, _opt("--top", "Show the best N only.")]
FlushedOpt = Annotated[bool, _opt("--flushed-only", "Leave out events still in the journal.")]
ReportFormatOpt = Annotated[ReportFormat, _opt("--format", "Output format.")]


@app.command("report")
def report(
    ctx: typer.Context,
    by: ByOpt = By.setup,
    since: SinceOpt = None,
    until: UntilOpt = None,
    project: ProjectOpt = None,
    agent: Annotated[str | None, _opt("--agent", "Only this agent.")] = None,
    model: Annotated[str | None, _opt("--model", "Only this model.")] = None,
    harness: Annotated[str | None, _opt("--harness", "Only this harness.")] = None,
    like: LikeOpt = None,
    setup: SetupOpt = None,
    top: TopOpt = None,
    flushed_only: FlushedOpt = False,
    fmt: ReportFormatOpt = ReportFormat.text,
) -> None:
    """Rank agent setups by the quality of their work, and recommend one.

    Quality is the score per graded commit (agent's and user's grades), shrunk toward the
    overall mean for small samples; see the README for the method. Reads only; never flushes.
    """
    today = report_mod.utc_today()
    language = None
    if like is not None:
        language = languages.of_project(str(like))
        if language is None:
            raise UsageError(f"--like {like}: cannot tell the main language of that project")
    query = report_mod.Query(
        by=by.value,
        since=report_mod.parse_day(since, today) if since else None,
        until=report_mod.parse_day(until, today) if until else None,
        project=project,
        agent=agent,
        model=model,
        harness=harness,
        language=language,
        top=top,
        include_pending=not flushed_only,
    )
    settings = _settings(ctx)
    out = render.console()
    if setup is not None:
        detail = report_mod.setup_detail(settings, query, setup)
        if fmt is ReportFormat.json:
            render.json_out(out, detail.as_dict())
        else:
            reportview.setup_detail(out, detail)
        return
    data = report_mod.build(settings, query, str(Path.cwd()))
    if fmt is ReportFormat.json:
        render.json_out(out, data.as_dict())
    elif fmt is ReportFormat.csv:
        sys.stdout.write(reportview.csv_text(data))
    elif fmt is ReportFormat.markdown:
        sys.stdout.write(reportview.markdown_text(data))
    else:
        reportview.table(out, data)


# -- merging: migrate, export, import, rebuild ----------------------------------------------------

FromOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--from",
        help="A database to merge (repeatable). Default: the per-project database an older "
        "tool left here, ./~/.config/opencode/agent-tracker.lmdb.",
    ),
]


def _notes(fmt: Format) -> Console:
    """Where side remarks go: stdout for text, stderr when stdout carries JSON."""
    return render.console(stderr=fmt is Format.json)


@app.command("migrate")
def migrate_command(
    ctx: typer.Context,
    sources: FromOpt = None,
    dry_run: Annotated[bool, _opt("--dry-run", "Only count what would be merged.")] = False,
    fmt: FormatOpt = Format.text,
) -> None:
    """Merge other agent-tracker databases into the central one, additively.

    Only facts whose keys are missing are written (nothing is overwritten), summaries are
    rebuilt from the facts, and the source is never changed. Running it again merges
    nothing new. Exits 1 if a source named with --from cannot be read.
    """
    settings = _settings(ctx)
    named = bool(sources)
    paths = sources or [str(Path.cwd().joinpath(*migrate.LEGACY_PARTS))]
    out = render.console()
    if named and not dry_run:  # like every writing command: the per-project database too
        render.migrations(_notes(fmt), migrate.auto_merge(settings, str(Path.cwd())))
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


@app.command("export")
def export_command(
    ctx: typer.Context,
    since: SinceOpt = None,
    until: UntilOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Write the facts (commits, grades, usage counts) as JSON Lines to standard output.

    One fact per line, versioned (see docs/export-format.md); DuckDB and pandas load it as
    is. Import it on another machine with `agent-tracker import`.
    """
    today = report_mod.utc_today()
    lines = exchange.export_lines(
        _settings(ctx),
        since=report_mod.parse_day(since, today) if since else None,
        until=report_mod.parse_day(until, today) if until else None,
        project=project,
    )
    sys.stdout.buffer.writelines(lines)
    sys.stdout.flush()


@app.command("import")
def import_command(
    ctx: typer.Context,
    files: Annotated[list[str], typer.Argument(help="Export files ('-' for standard input).")],
    fmt: FormatOpt = Format.text,
) -> None:
    """Merge exported facts into the central database, additively and idempotently.

    Facts already present are left alone, so importing a file twice changes nothing. Bad
    lines are reported with their line numbers and skipped; the rest is imported (exit 1
    if any line was bad).
    """
    settings = _settings(ctx)
    streams = exchange.open_inputs(files)
    out = render.console()
    render.migrations(_notes(fmt), migrate.auto_merge(settings, str(Path.cwd())))
    try:
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
        raise typer.Exit(code=1)


@app.command("rebuild")
def rebuild_command(ctx: typer.Context) -> None:
    """Recompute every summary (per setup, project and day) from the stored facts."""
    settings = _settings(ctx)
    render.migrations(render.console(), migrate.auto_merge(settings, str(Path.cwd())))
    db = LMDBDatabase.open_write(settings.database_path, settings.max_database_size)
    with db:
        count = db.rebuild_totals()
    typer.echo(f"rebuilt {count} summaries from the facts in {settings.database_path}")


# -- hooks -----------------------------------------------------------------------------------

RepoArg = Annotated[Path, typer.Option("--repo", help="Repository (default: current folder).")]


@hooks_app.command("install")
def hooks_install(repo: RepoArg = Path()) -> None:
    """Install post-commit (records commits) and pre-push (flushes) hooks; safe to repeat.

    Honours core.hooksPath and worktrees. An existing hook is kept and still runs first.
    """
    render.actions(render.console(), hookscripts.install(repo))


@hooks_app.command("uninstall")
def hooks_uninstall(repo: RepoArg = Path()) -> None:
    """Remove our hooks only, restoring any hook they had kept."""
    render.actions(render.console(), hookscripts.uninstall(repo))


@hooks_app.command("status")
def hooks_status(repo: RepoArg = Path()) -> None:
    """Show whether our hooks are installed in the repository."""
    render.hook_states(render.console(), hookscripts.status(repo))


# -- config ----------------------------------------------------------------------------------

KeyArg = Annotated[str, typer.Argument(help=f"One of: {', '.join(config.KEYS)}.")]


@config_app.command("show")
def config_show(ctx: typer.Context, fmt: FormatOpt = Format.text) -> None:
    """Show every setting, its value and where it came from (flag, env, file, default)."""
    st = _settings(ctx)
    out = render.console()
    data = {
        key: {"value": st.value(key), "source": st.sources.get(key, "default")}
        for key in config.KEYS
    }
    if fmt is Format.json:
        render.json_out(out, data)
        return
    for key, item in data.items():
        out.print(f"{key} = {item['value']}  ({item['source']})")


@config_app.command("get")
def config_get(ctx: typer.Context, key: KeyArg) -> None:
    """Print the effective value of one setting."""
    if key not in config.KEYS:
        raise ConfigError(f"unknown setting {key!r}; known: {', '.join(config.KEYS)}")
    typer.echo(str(_settings(ctx).value(key)))


@config_app.command("set")
def config_set(
    ctx: typer.Context, key: KeyArg, value: Annotated[str, typer.Argument(help="New value.")]
) -> None:
    """Validate a value and write it to the config file (atomically).

    Works even when the current settings are invalid, so that a bad value can be repaired.
    """
    path = _config_file(ctx)
    stored = config.set_value(path, key, value)
    typer.echo(f"{key} = {stored}  (written to {path})")


@config_app.command("path")
def config_path(ctx: typer.Context) -> None:
    """Print the path of the config file in use."""
    typer.echo(_config_file(ctx))


# -- running ---------------------------------------------------------------------------------


class _Interrupted(BaseException):
    """Ctrl-C, raised past Typer (which would turn KeyboardInterrupt into exit 1)."""


def _on_sigint(signum: int, frame: object) -> None:
    raise _Interrupted


def run(argv: list[str]) -> int:
    """Run the CLI on `argv`; returns the exit code (no SystemExit for callers)."""
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        app(args=argv, prog_name="agent-tracker", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except _Interrupted:
        sys.stderr.write("agent-tracker: interrupted\n")
        return EXIT_INTERRUPTED
    except TrackerError as exc:
        # Plain write, not Rich: an error is one line, never wrapped, for people and scripts.
        sys.stderr.write(f"agent-tracker: error: {exc}\n")
        return exc.exit_code
    finally:
        signal.signal(signal.SIGINT, previous)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(sys.argv[1:]))
