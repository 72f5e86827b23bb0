"""`report` without Typer: the command a person types most, parsed here when it is plain.

Typer's import alone is about as long as the rest of a report on a year of heavy use, so
`entry` hands `report ...` here first. What this parser does not take exactly as it stands
(help, `--version`, an unknown, repeated or misspelt option, a value that is not one of the
choices or not a plain number, a value that starts with `-`, `--`) returns None, and
Typer's CLI runs the command with its full treatment: the same usage errors, the same
`--help`. `show` is the body of the `report` command for both; tests/test_cli.py holds the
two parsers to the same options.
"""

from __future__ import annotations

import sys

from agent_tracker.errors import UsageError, guarded

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import date

    from agent_tracker.config import Settings
    from agent_tracker.report import Report

#: Options of the root command that take a value (before the command's name).
ROOT_OPTIONS = {
    "--config": "config",
    "--database-path": "database_path",
    "--max-database-size": "max_database_size",
}
#: Flags of the root command.
ROOT_FLAGS = {"--no-color": "no_color"}
BY_CHOICES = ("setup", "agent", "model", "harness", "project", "instructions")
FORMAT_CHOICES = ("text", "json", "csv", "markdown", "html")
#: `report`'s options that take a value -> (parameter, the values taken: None for any).
REPORT_OPTIONS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "--by": ("by", BY_CHOICES),
    "--since": ("since", None),
    "--until": ("until", None),
    "--project": ("project", None),
    "--agent": ("agent", None),
    "--model": ("model", None),
    "--harness": ("harness", None),
    "--like": ("like", None),
    "--setup": ("setup", None),
    "--top": ("top", None),
    "--format": ("fmt", FORMAT_CHOICES),
    "--member": ("member", None),
}
REPORT_FLAGS = {"--flushed-only": "flushed_only", "--team": "team"}


def parse(argv: list[str]) -> tuple[dict[str, str | None], dict[str, object]] | None:
    """(root options, report's parameters) of a plain `[ROOT OPTIONS] report [OPTIONS]`,
    else None (Typer's turn)."""
    root: dict[str, str | None] = dict.fromkeys([*ROOT_OPTIONS.values(), *ROOT_FLAGS.values()])
    index = 0
    while index < len(argv) and argv[index] != "report":
        if argv[index] in ROOT_FLAGS:
            name = ROOT_FLAGS[argv[index]]
            if root[name] is not None:
                return None
            root[name] = "1"
            index += 1
            continue
        taken = _option(argv, index, ROOT_OPTIONS)
        if taken is None:
            return None
        name, value, index = taken
        if root[name] is not None:
            return None
        root[name] = value
    if index >= len(argv):
        return None
    values: dict[str, object] = {}
    index += 1
    while index < len(argv):
        arg = argv[index]
        if arg in REPORT_FLAGS:
            name = REPORT_FLAGS[arg]
            if name in values:
                return None
            values[name] = True
            index += 1
            continue
        taken = _option(argv, index, {key: name for key, (name, _) in REPORT_OPTIONS.items()})
        if taken is None:
            return None
        name, value, index = taken
        choices = next(c for n, c in REPORT_OPTIONS.values() if n == name)
        if name in values or (choices is not None and value not in choices):
            return None
        if name == "top":
            if not value.isascii() or not value.isdigit():
                return None
            values[name] = int(value)
        else:
            values[name] = value
    return root, values


def _option(argv: list[str], index: int, names: dict[str, str]) -> tuple[str, str, int] | None:
    """(parameter, value, next index) of `--name value` or `--name=value` at `index`."""
    arg = argv[index]
    if "=" in arg:
        option, value = arg.split("=", 1)
        step = 1
    elif index + 1 < len(argv):
        option, value = arg, argv[index + 1]
        step = 2
    else:
        return None
    if option not in names or value.startswith("-"):
        return None
    return names[option], value, index + step


def main(argv: list[str]) -> int | None:
    """Run `report` if `argv` is a plain one; None when Typer must (see the docstring)."""
    parsed = parse(argv)
    if parsed is None:
        return None
    root, values = parsed
    if root["no_color"]:
        import os

        os.environ["NO_COLOR"] = "1"  # as the CLI's --no-color: every console reads it

    def settings() -> Settings:
        from agent_tracker import config

        loaded = config.load(
            config_flag=root["config"],
            flags={key: root[key] for key in ("database_path", "max_database_size")},
        )
        for key in ("database_path", "max_database_size", "journal_dir"):
            loaded.value(key)  # raises the setting's ConfigError, as `cli_base.settings_of`
        return loaded

    def body() -> int:
        show(settings, **values)  # type: ignore[arg-type]
        return 0

    return guarded(body)


def show(
    settings_of: Callable[[], Settings],
    by: str = "setup",
    since: str | None = None,
    until: str | None = None,
    project: str | None = None,
    agent: str | None = None,
    model: str | None = None,
    harness: str | None = None,
    like: str | None = None,
    setup: str | None = None,
    top: int | None = None,
    flushed_only: bool = False,
    fmt: str = "text",
    team: bool = False,
    member: str | None = None,
) -> None:
    """The `report` command (its --help is in `cli_history.report`)."""
    import os

    from agent_tracker import render, reportview
    from agent_tracker import report as report_mod
    from agent_tracker.errors import printable

    team = team or member is not None
    if team and flushed_only:
        raise UsageError(
            "--flushed-only: the team report holds only synced facts, never pending journal "
            "events; leave --flushed-only out (or run `agent-tracker flush` and `team sync`)"
        )
    if member is not None and not member.strip():
        raise UsageError("--member: give a member's name as the team report shows it")
    today = report_mod.utc_today()
    language = None
    if like is not None:
        from pathlib import Path

        from agent_tracker import languages

        shown = Path(like)  # as Typer hands it over: `--like ./app/` is named `app`
        if not shown.is_dir():
            raise UsageError(f"--like {shown}: no such folder")
        language = languages.of_project(str(shown))
        if language is None:
            raise UsageError(f"--like {shown}: cannot tell the main language of that project")
        # Said before the report: on stdout for a person, on stderr beside machine output.
        render.console(stderr=fmt != "text").print(
            f"--like {shown}: its main language is {language}; "
            f"only projects mostly in {language} count",
            markup=False,
        )
    query = report_mod.Query(
        by=by,
        since=day("--since", since, today),
        until=day("--until", until, today),
        project=project,
        agent=agent,
        model=model,
        harness=harness,
        language=language,
        top=top,
        include_pending=not flushed_only and not team,
        team=team,
        member=member,
    )
    if fmt == "html" and sys.stdout.isatty():
        raise UsageError(
            "--format html writes a whole web page: send it to a file, "
            "e.g. `agent-tracker report --format html > report.html`"
        )
    settings = settings_of()
    out = render.console()
    if setup is not None:
        if fmt in ("csv", "markdown", "html") or by != "setup":
            raise UsageError("--setup shows one setup by project: use --format text or json")
        detail = report_mod.setup_detail(settings, query, setup, _builder(team))
        if fmt == "json":
            render.json_out(out, detail.as_dict())
        else:
            reportview.setup_detail(out, detail)
        return
    data = _builder(team)(settings, query, os.getcwd())  # noqa: PTH109 - no pathlib here
    if fmt == "json":
        render.json_out(out, data.as_dict())
    elif fmt == "csv":
        sys.stdout.write(printable(reportview.csv_text(data), newlines=True))
    elif fmt == "markdown":
        sys.stdout.write(printable(reportview.markdown_text(data), newlines=True))
    elif fmt == "html":
        from agent_tracker import reporthtml

        reporthtml.write(data, sys.stdout)
    else:
        reportview.table(out, data)


def _builder(team: bool) -> Callable[..., Report]:
    """How the report is built: from the central database, or from the team server."""
    if not team:
        from agent_tracker import report as report_mod

        return report_mod.build
    from agent_tracker.team import view

    return view.build


def day(option: str, text: str | None, today: date) -> str | None:
    """The day an option names, or None; a day beyond the calendar is a usage error."""
    if text is None:
        return None
    from agent_tracker import report as report_mod

    try:
        return report_mod.parse_day(text, today)
    except UsageError as exc:  # named like every other bad value: `--since: ...`
        raise UsageError(f"{option}: {exc}") from None
    except (OverflowError, ValueError):  # 3000y, 99999999999d: before year 1
        raise UsageError(
            f"{option}: {text!r} is out of range: use a day between 0001-01-01 and "
            "9999-12-31, or a relative form like 30d, 12w, 6m, 1y"
        ) from None
