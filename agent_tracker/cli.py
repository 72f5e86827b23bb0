"""The Typer command-line interface: parse, call one core function, render, map errors.

Capture commands are usually served by `entry`'s fast path; they are defined here too so
that `--help` and mistakes get Typer's full treatment, with the same options.
"""

from __future__ import annotations

import copy
import os
import signal
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

try:  # Typer 0.26+ carries its own copy of Click, and raises its exceptions
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover - older Typer raises Click's own
    from click.exceptions import ClickException, NoArgsIsHelpError  # type: ignore[no-redef,import-not-found,unused-ignore]

from agent_tracker import __version__, capture, cli_doctor, cli_history, config, entry
from agent_tracker.cli_base import (
    Format,
    FormatOpt,
    Group,
    WaitOpt,
    config_file_of,
    plain_commands,
    settings_of,
    usage_message,
    waiting,
)
from agent_tracker.errors import (
    EXIT_ERROR,
    EXIT_USAGE,
    TrackerError,
    UsageError,
    guarded,
    message_line,
    printable,
    say,
)
from agent_tracker.harnesses import MODULES as HARNESSES
from agent_tracker.team.cli_team import team_app

# Each command imports the core it calls (and `render`, which brings Rich) when it runs:
# a person typing `report` waits for neither the merging code nor the hook installer.
# tests/test_cli.py holds the commands to that.

GRADE_HELP = "bad (-1), neutral (+1), good (+2), excellence (+5)"

app = typer.Typer(
    name="agent-tracker",
    help="Record how AI coding agents perform across your projects, and learn which agent "
    "setup (agent + model) to use next.",
    no_args_is_help=True,
    # Typer's own completion (`--install-completion`): the shell runs us with
    # _AGENT_TRACKER_COMPLETE set and no arguments, which no fast path takes.
    add_completion=True,
    cls=Group,
    pretty_exceptions_enable=False,
    # -h as well as --help, for every command (Click hands it down to subcommands).
    context_settings={"help_option_names": ["-h", "--help"]},
    # Markdown: docstrings are re-flowed to the terminal's width, `code` is shown as code.
    rich_markup_mode="markdown",
)
track_app = typer.Typer(
    help="Record an agent's tool call or command (appends to the journal).",
    no_args_is_help=True,
    cls=Group,
    rich_markup_mode="markdown",
)
hooks_app = typer.Typer(
    help="Install, remove or inspect the git hooks of a repository.",
    no_args_is_help=True,
    cls=Group,
    rich_markup_mode="markdown",
)
config_app = typer.Typer(
    help="Show or change settings (database path, size limit, journal folder).",
    no_args_is_help=True,
    cls=Group,
    rich_markup_mode="markdown",
)
app.add_typer(track_app, name="track")
app.add_typer(hooks_app, name="hooks")
app.add_typer(config_app, name="config")
app.add_typer(team_app, name="team")


class Party(StrEnum):
    agent = "agent"
    user = "user"


# -- shared options ------------------------------------------------------------------------

AgentOpt = Annotated[
    str | None,
    typer.Option(
        "--agent",
        metavar="NAME",
        help="Agent name or mode, e.g. build. Default: $AGENT_TRACKER_AGENT.",
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        metavar="MODEL",
        help="Model, e.g. anthropic/claude-sonnet-4-5. Default: $AGENT_TRACKER_MODEL.",
    ),
]
HarnessOpt = Annotated[
    str | None,
    typer.Option(
        "--harness",
        metavar="NAME",
        help="Harness, e.g. opencode, claude-code. Default: $AGENT_TRACKER_HARNESS, else detected.",
    ),
]
RepoOpt = Annotated[
    str | None,
    typer.Option(
        "--repo", metavar="FOLDER", help="Folder of the project (default: current folder)."
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agent-tracker {__version__}")
        raise typer.Exit


def _no_color(value: bool) -> None:
    if value:  # Rich, ours and Typer's help, reads it when a console is made
        os.environ["NO_COLOR"] = "1"


@app.callback()
def root(
    ctx: typer.Context,
    config_file: Annotated[
        str | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="Config file (default: $AGENT_TRACKER_CONFIG, else "
            "~/.config/opencode/agent-tracker.toml).",
        ),
    ] = None,
    database_path: Annotated[
        str | None,
        typer.Option(
            "--database-path",
            metavar="FOLDER",
            help="Database folder (overrides env and config file).",
        ),
    ] = None,
    max_database_size: Annotated[
        str | None,
        typer.Option(
            "--max-database-size",
            metavar="SIZE",
            help="Database size limit in bytes or with a unit (512MiB); 1 MiB..2 GiB.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_version,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
    no_color: Annotated[
        bool,
        typer.Option(
            "--no-color",
            callback=_no_color,
            is_eager=True,
            help="No colour in the output, as when $NO_COLOR is set.",
        ),
    ] = False,
) -> None:
    ctx.obj = {
        "config": config_file,
        "flags": {"database_path": database_path, "max_database_size": max_database_size},
    }


# -- capture ---------------------------------------------------------------------------------


def _capture(ctx: typer.Context, command: str, **values: str | None) -> None:
    obj = ctx.find_root().obj or {}
    code = capture.main(command, values, obj.get("config"), obj.get("flags"))
    if code:
        raise typer.Exit(code)


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
    name: Annotated[
        str,
        typer.Argument(
            help="Command name, e.g. test, build; `-` reads it from a harness hook's JSON on "
            "standard input (command or name, and cwd)."
        ),
    ],
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
        str | None,
        typer.Option("--rev", metavar="REV", help="Commit to record (default: HEAD)."),
    ] = None,
) -> None:
    """Record a commit (+5 XP, +1 commit); run by the post-commit hook.

    The setup is decided by, in order: --agent/--model, $AGENT_TRACKER_AGENT/MODEL,
    Agent:/Model:/Harness: commit trailers or an agent's marker (Claude Code's co-author,
    Aider's "(aider)" author), the setup last active in this project, else unknown.
    Commits re-applied by a rebase or cherry-pick are not counted again; an amend replaces
    the commit it amends.
    """
    _capture(ctx, "commit", agent=agent, model=model, harness=harness, repo=repo, rev=rev)


@app.command("grade", context_settings={"ignore_unknown_options": True})
def grade(
    ctx: typer.Context,
    value: Annotated[
        str,
        typer.Argument(help=f"The grade: {GRADE_HELP}; names or numbers.", metavar="GRADE"),
    ],
    by: Annotated[
        Party,
        typer.Option(
            "--by", metavar="WHO", help="Who grades: agent or user.", case_sensitive=False
        ),
    ],
    commit_rev: Annotated[
        str | None,
        typer.Option("--commit", metavar="REV", help="Commit to grade (default: HEAD)."),
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


@app.command("hook")
def hook_command(
    ctx: typer.Context,
    harness: Annotated[
        str,
        typer.Argument(
            help=f"The harness that runs this hook: {', '.join(HARNESSES)}.",
            metavar="HARNESS",
        ),
    ],
) -> None:
    """Record one harness hook call from the JSON payload on standard input.

    Run by the hooks that `agent-tracker integrate` installs (Claude Code, Codex) and by the
    OpenCode plugin. Prints nothing on standard output and always exits 0, so a harness is
    never held up; a payload it cannot read gives one line on standard error. Session-end
    events start a flush in the background.
    """
    from agent_tracker import hook

    # Not an enum: an unknown harness is one line on stderr and exit 0, as on the fast path.
    obj = ctx.find_root().obj or {}
    try:
        settings = capture.settings_for_capture(obj.get("config"), obj.get("flags"))
    except Exception as exc:  # noqa: BLE001 - nothing must fail the harness
        hook.say(f"hook {harness}: {exc}")
        return
    hook.main(harness, settings)


# -- flush, status, report ---------------------------------------------------------------------


@app.command("flush")
def flush(ctx: typer.Context, fmt: FormatOpt = Format.text, wait: WaitOpt = None) -> None:
    """Apply every pending journal event to the database, in one transaction, exactly once.

    Run by hand, it first waits (at most 35 s) for the commits and flushes our git hooks
    still run in the background, so that everything they started is in the database after.

    If another flush is running, or another process keeps the database locked for longer
    than `--wait`, say so ("busy", "database busy") and exit 0: the events stay pending and
    `git push` is never held.
    """
    from agent_tracker import detached, migrate, render

    # Inside the pre-push hook, a large per-project database waits for an explicit migrate.
    # Only inside our hook scripts (bounded in time), not whenever the variable is exported.
    # By hand, first the work our hooks still do in the background (as the fast path does).
    limit = migrate.HOOK_MERGE_LIMIT if os.environ.get(entry.HOOK_BOUND) else None
    with waiting(wait):
        result = detached.flush_by_hand(settings_of(ctx), str(Path.cwd()), limit)
    out = render.console()
    if fmt is Format.json:
        render.json_out(out, result.as_dict())
    else:
        render.flush_summary(out, result)


@app.command("status")
def status(ctx: typer.Context, fmt: FormatOpt = Format.text) -> None:
    """Show paths, pending events and database use against its limit. Changes nothing."""
    from agent_tracker import render
    from agent_tracker import status as status_mod

    st = status_mod.collect(settings_of(ctx), str(Path.cwd()))
    out = render.console()
    if fmt is Format.json:
        render.json_out(out, st.as_dict())
    else:
        render.status_table(out, st)


# The commands that read or merge history live in cli_history; they are registered here.
app.command("report")(cli_history.report)
app.command("migrate")(cli_history.migrate_command)
app.command("export")(cli_history.export_command)
app.command("import")(cli_history.import_command)
app.command("rebuild")(cli_history.rebuild_command)
# Looking at the set-up and what it captured: cli_doctor.
app.command("doctor")(cli_doctor.doctor)
app.command("log")(cli_doctor.log_command)


# -- hooks -----------------------------------------------------------------------------------

RepoArg = Annotated[
    Path | None,
    typer.Option("--repo", help="Repository (default: current folder).", metavar="DIR"),
]
GlobalOpt = Annotated[
    bool,
    typer.Option(
        "--global",
        help="Git's template folder (init.templateDir) instead of one repository: every new "
        "clone and `git init` then gets the hooks.",
    ),
]
AllOpt = Annotated[
    Path | None,
    typer.Option(
        "--all",
        help="Every git repository in or under this folder instead of one repository.",
        metavar="DIR",
        file_okay=False,
    ),
]
DepthOpt = Annotated[
    int,
    typer.Option(
        "--depth",
        help="With --all: how many folders down to look for repositories (0 to 20).",
        metavar="LEVELS",
    ),
]


def _one_scope(repo: Path | None, is_global: bool, everywhere: Path | None, depth: int = 3) -> None:
    if sum((repo is not None, is_global, everywhere is not None)) > 1:
        raise UsageError("--repo, --global and --all choose where: give only one of them")
    if not 0 <= depth <= 20:
        raise UsageError(f"--depth: {depth} is not between 0 and 20")


def _hooks_beyond_one_repo(
    is_global: bool, everywhere: Path | None, depth: int, *, add: bool
) -> None:
    """`--global` and `--all` of install and uninstall: render what was done; exit 1 when a
    repository was skipped (it is not covered)."""
    from agent_tracker import hookscope, render

    out = render.console()
    if is_global:
        done = hookscope.install_global() if add else hookscope.uninstall_global()
        notes = [("note", line) for line in done.notes]
        render.actions(out, [(hookscope.TEMPLATE_KEY, done.template), *done.hooks, *notes])
        return
    assert everywhere is not None
    act = hookscope.install_all if add else hookscope.uninstall_all
    results = act(everywhere, depth)
    if not results:
        raise TrackerError(
            f"no git repository in {everywhere} or {depth} folders below it "
            "(hidden folders and node_modules are not searched)"
        )
    render.actions(out, [(str(r.repo), r.what) for r in results])
    skipped = sum(r.skipped for r in results)
    if add:
        out.print(
            f"hooks in {len(results) - skipped} of {len(results)} repositories; {skipped} skipped"
        )
    else:
        had_none = sum(not r.skipped and r.what == "not installed" for r in results)
        removed = len(results) - skipped - had_none
        out.print(
            f"hooks removed from {removed} of {len(results)} repositories; {had_none} had none; "
            f"{skipped} skipped"
        )
    if skipped:
        raise typer.Exit(code=EXIT_ERROR)


@hooks_app.command("install")
def hooks_install(
    repo: RepoArg = None,
    is_global: GlobalOpt = False,
    everywhere: AllOpt = None,
    depth: DepthOpt = 3,
) -> None:
    """Install post-commit (records commits) and pre-push (flushes) hooks; safe to repeat.

    Honours core.hooksPath and worktrees. An existing hook is kept and still runs first.
    Under pre-commit, ours runs as `<hook>.legacy` (pre-commit's migration mode); lefthook's
    and other hooks are chained. A core.hooksPath inside the work tree (husky's .husky/_, a
    .githooks folder) belongs to the repository: nothing is written there unless every file
    touched is untracked and ignored by git; otherwise install refuses, changes nothing and
    says what to add by hand. Needs git 2.25 or newer.

    `--global` sets git's init.templateDir (global config) to a template folder of ours, so
    new clones and `git init` get the hooks; a template folder you already set is kept and
    our hooks are added to it. `--all DIR` installs in every repository under DIR (not in
    hidden folders or node_modules), skips with its reason each one install refuses, and
    exits 1 if any was skipped.
    """
    _one_scope(repo, is_global, everywhere, depth)
    if is_global or everywhere is not None:
        _hooks_beyond_one_repo(is_global, everywhere, depth, add=True)
        return
    from agent_tracker import hookscripts, render

    render.actions(render.console(), hookscripts.install(repo or Path()))


@hooks_app.command("uninstall")
def hooks_uninstall(
    repo: RepoArg = None,
    is_global: GlobalOpt = False,
    everywhere: AllOpt = None,
    depth: DepthOpt = 3,
) -> None:
    """Remove our hooks only, restoring any hook they had kept.

    `--global` undoes `install --global` (repositories made meanwhile keep their hooks);
    `--all DIR` uninstalls in every repository under DIR.
    """
    _one_scope(repo, is_global, everywhere, depth)
    if is_global or everywhere is not None:
        _hooks_beyond_one_repo(is_global, everywhere, depth, add=False)
        return
    from agent_tracker import hookscripts, render

    render.actions(render.console(), hookscripts.uninstall(repo or Path()))


@hooks_app.command("status")
def hooks_status(
    repo: RepoArg = None,
    is_global: Annotated[
        bool,
        typer.Option(
            "--global", help="Git's template folder for new repositories (init.templateDir)."
        ),
    ] = False,
) -> None:
    """Show whether our hooks are installed, and how they run: directly, after an earlier
    hook, or via pre-commit's migration mode; and the command that fixes any that is not.

    States: installed; missing; foreign (another hook is there, ours is not); outdated
    (installed by another version or another Python: install again); inactive (a copy of
    ours sits where nothing runs it); broken (the program the hook runs, recorded at install,
    is gone, e.g. its virtual environment was moved or deleted: install again).

    Exits 1 when a hook is not installed and current (so a script can check), 0 when both are.
    `--global`: the same for the template folder that new clones and `git init` copy.
    """
    from agent_tracker import hookscripts, render

    _one_scope(repo, is_global, None)
    out = render.console()
    if is_global:
        from agent_tracker import hookscope

        where, states = hookscope.global_status()
        render.actions(out, [(hookscope.TEMPLATE_KEY, where)])
        again = f"{hookscripts.command_name()} hooks install --global"
        fixes = [None if st.state == "installed" else again for st in states]
        render.hook_states(out, states, fixes if states else [again])
    else:
        states = hookscripts.status(repo or Path())
        named = None if repo is None or repo.resolve() == Path.cwd().resolve() else repo
        fixes = [hookscripts.fix_for(state, named) for state in states]
        render.hook_states(out, states, fixes)
    if not states or any(state.state != "installed" for state in states):
        raise typer.Exit(code=EXIT_ERROR)


@app.command("integrate")
def integrate_command(
    harness: Annotated[
        str,
        typer.Argument(help=f"One of: {', '.join(HARNESSES)}.", metavar="HARNESS"),
    ],
    project: Annotated[
        bool,
        typer.Option("--project", help="Install into this repository's harness config instead."),
    ] = False,
    remove: Annotated[
        bool, typer.Option("--remove", help="Remove what integrate added, and only that.")
    ] = False,
    show: Annotated[
        bool, typer.Option("--print", help="Show what would be written; write nothing.")
    ] = False,
    fmt: FormatOpt = Format.text,
) -> None:
    """Connect a harness to agent-tracker in one step; safe to repeat.

    Claude Code and Codex get hooks in their settings, OpenCode a plugin; each runs
    `agent-tracker hook <harness>`. Your settings are merged, not replaced, and the original
    file is kept as `<file>.agent-tracker.bak`. `--remove` puts the file back as it was when
    you changed nothing else meanwhile. Codex runs the new hooks only once you trust them
    (`/hooks` in Codex).
    """
    from agent_tracker import integrate, render

    root = integrate.repo_root(Path.cwd()) if project else None
    outcome = integrate.run(harness, project=root, remove=remove, dry_run=show)
    if fmt is Format.json:
        render.json_out(render.console(), outcome.as_dict())
        return
    # Plain echo, not Rich: file contents hold brackets that Rich would read as markup.
    for change in outcome.changes:
        typer.echo(printable(f"{change.path}: {change.detail}"))
        if show and change.content is not None:
            content = printable(change.content, newlines=True)
            typer.echo(content, nl=not content.endswith("\n"))
    for note in outcome.notes:
        typer.echo(printable(note))


# -- config ----------------------------------------------------------------------------------


class ConfigKey(StrEnum):
    """The settings (`config.KEYS`; tests hold the two to the same names): a choice, so that
    a mistyped key is a usage error naming them all, and the shell completes them."""

    database_path = "database_path"
    max_database_size = "max_database_size"
    journal_dir = "journal_dir"
    attribution_window = "attribution_window"
    team_database_url = "team_database_url"
    team_member = "team_member"
    share_project_names = "share_project_names"


KeyArg = Annotated[
    ConfigKey, typer.Argument(metavar="KEY", help=f"The setting: {', '.join(config.KEYS)}.")
]


@config_app.command("show")
def config_show(ctx: typer.Context, fmt: FormatOpt = Format.text) -> None:
    """Show every setting, its value and where it came from (flag, env, file, default).

    An invalid value is shown with what is wrong with it (exit 2).
    """
    from agent_tracker import render

    st = settings_of(ctx, needs=())
    out = render.console()
    data: dict[str, dict[str, object]] = {}
    for key in config.KEYS:
        item: dict[str, object] = {"source": st.sources.get(key, "default")}
        error = st.errors.get(key)
        if error is None:
            item["value"] = st.value(key)
        else:
            item["error"] = str(error)
        data[key] = item
    if fmt is Format.json:
        render.json_out(out, data)
    else:
        for key, item in data.items():
            shown = item.get("value", "(invalid)")
            shown = str(shown).lower() if isinstance(shown, bool) else shown
            out.print(f"{key} = {shown}  ({item['source']})", markup=False)
            if "error" in item:
                out.print(f"  invalid: {item['error']}", markup=False)
    if st.errors:
        raise typer.Exit(EXIT_USAGE)  # shown, but not usable as it is


@config_app.command("get")
def config_get(ctx: typer.Context, key: KeyArg) -> None:
    """Print the effective value of one setting."""
    from agent_tracker import render

    render.console().print(str(settings_of(ctx, needs=()).value(key.value)), markup=False)


@config_app.command("set")
def config_set(
    ctx: typer.Context,
    key: KeyArg,
    value: Annotated[str, typer.Argument(metavar="VALUE", help="New value.")],
) -> None:
    """Validate a value and write it to the config file (atomically).

    Works even when the current settings are invalid, so that a bad value can be repaired.
    """
    from agent_tracker import render

    path = config_file_of(ctx)
    stored, dropped = config.set_value(path, key.value, value)
    out = render.console()
    if dropped:
        render.console(stderr=True).print(
            f"agent-tracker: warning: repaired {path}: dropped {'; '.join(dropped)}",
            markup=False,
        )
    shown = str(stored).lower() if isinstance(stored, bool) else stored  # as TOML writes it
    out.print(f"{key.value} = {shown}  (written to {path})", markup=False)


@config_app.command("path")
def config_path(ctx: typer.Context) -> None:
    """Print the path of the config file in use."""
    from agent_tracker import render

    render.console().print(config_file_of(ctx), markup=False)


# -- running ---------------------------------------------------------------------------------


class _Interrupted(BaseException):
    """Ctrl-C, raised past Typer (which would turn KeyboardInterrupt into exit 1)."""


def _on_sigint(signum: int, frame: object) -> None:
    raise _Interrupted


#: Options of the root command that take a value (to find the command after them).
_ROOT_VALUE_OPTIONS = ("--config", "--database-path", "--max-database-size")
#: Commands that record, and never fail their caller inside a hook (issue 9, item 13).
_CAPTURE = ("track", "commit", "grade")


def _command_index(argv: list[str]) -> int | None:
    """Where the subcommand is in `argv`, past the root's options."""
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg in _ROOT_VALUE_OPTIONS:
            index += 2
        elif arg.startswith("-"):
            index += 1
        else:
            return index
    return None


def _app_for(argv: list[str]) -> typer.Typer:
    """The app with only the subcommand that `argv` runs, when it is one of ours.

    Typer makes a Click command of every registered command (inspecting its signature and
    annotations) on each run: ~20 ms for all of them, which a person waits for at every
    `report`. Root help, a mistyped command and no command at all get the whole app, so
    every text a person sees is the same.
    """
    plain_commands(app)  # every command registered by now, wherever it was
    index = _command_index(argv)
    if index is None or {"--help", "-h"} & set(argv[:index]):
        return app
    name = argv[index]
    commands = [c for c in app.registered_commands if c.name == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return app
    slim = copy.copy(app)  # the same settings and root callback
    slim.registered_commands = commands
    slim.registered_groups = groups
    return slim


def _usage_line(exc: ClickException) -> str:
    """One line in plain words (`cli_base.usage_message`) and where the help is."""
    ctx = getattr(exc, "ctx", None)
    where = f"; see `{ctx.command_path} --help`" if ctx is not None else ""
    return message_line(TrackerError(f"{usage_message(exc)}{where}"))


def run(argv: list[str]) -> int:
    """Run the CLI on `argv`; returns the exit code (no SystemExit for callers).

    Every failure is one line on stderr, `agent-tracker: error: ...`, with the exit code of
    the README's table; `hook`, and capture commands inside a hook, exit 0 even then.
    """
    index = _command_index(argv)
    command = None if index is None else argv[index]
    if "--no-color" in argv[:index]:  # before Typer: also for `--help --no-color`
        os.environ["NO_COLOR"] = "1"
    code = _run(argv)
    if code and (command == "hook" or (command in _CAPTURE and capture.in_hook())):
        return 0
    return code


def _run(argv: list[str]) -> int:
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        return guarded(lambda: _click(argv))
    finally:
        signal.signal(signal.SIGINT, previous)


def _click(argv: list[str]) -> int:
    """Typer's run, with its own failures as one line (usage errors, aborts); Ctrl-C, our
    errors and OS errors are left to `errors.guarded`, as in every entry point."""
    try:
        code = _app_for(argv)(args=argv, prog_name="agent-tracker", standalone_mode=False)
    except NoArgsIsHelpError:
        return EXIT_USAGE  # the help was printed
    except ClickException as exc:  # a usage error: one line, not Click's box
        say(_usage_line(exc))
        return exc.exit_code
    except typer.Abort:
        say("agent-tracker: error: aborted\n")
        return EXIT_ERROR
    except _Interrupted:
        raise KeyboardInterrupt from None  # past Typer now: `guarded` says "interrupted"
    return code if isinstance(code, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(sys.argv[1:]))
