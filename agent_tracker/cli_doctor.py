"""CLI commands that look at the set-up and what it captured: `doctor` and `log`.

Registered on the app by `cli`. Each imports its core (`doctor`, `eventlog`) and `render`
(Rich) when it runs. Text output is for a person and a script alike: on a terminal, long
lines are wrapped at word boundaries to its width (paths and commands never broken); piped,
each finding or event is one line, never wrapped; no line ends in spaces. `--format json`
is for programs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agent_tracker.cli_base import Format, FormatOpt, settings_of
from agent_tracker.errors import EXIT_ERROR

if TYPE_CHECKING:
    from rich.console import Console

    from agent_tracker.doctor import Diagnosis
    from agent_tracker.eventlog import Entry, LogResult

_TITLES = {
    "settings": "Settings",
    "database": "Database",
    "journal": "Journal",
    "hooks": "Git hooks",
    "integrations": "Harnesses",
    "activity": "Last event seen",
    "setup": "Getting started",
}
#: Sections whose messages start with the finding's name.
_NAMED = ("database", "journal")
_STYLES = {"ok": "green", "note": "cyan", "warn": "yellow", "fail": "bold red"}
_MARK = 4  # width of the level word
_INDENT = " " * (2 + _MARK + 2)


def _lines(out: Console, head: str, body: str, indent: str) -> list[str]:
    """`head` + `body` as the lines to print. On a terminal, the body's words fill each line
    to the terminal's width, continued lines start with `indent`, and a word is never broken
    (a path or command longer than the line overflows it rather than leave its label alone);
    not on a terminal, one line."""
    if not out.is_terminal:
        return [f"{head}{body}".rstrip()]
    width = max(40, out.width)
    lines: list[str] = []
    line, empty = head, True
    for word in body.split():
        if not empty and len(line) + 1 + len(word) > width:
            lines.append(line)
            line, empty = indent + word, False
        else:
            line, empty = (line + word, False) if empty else (f"{line} {word}", False)
    lines.append(line)
    return [text.rstrip() for text in lines]


def _plain(out: Console, head: str, body: str = "", indent: str = "    ") -> None:
    for line in _lines(out, head, body, indent):
        out.print(line, markup=False, highlight=False, soft_wrap=True)


def _finding(out: Console, level: str, text: str, fix: str | None) -> None:
    from rich.markup import escape

    head = f"  {level:<{_MARK}}  "
    lines = _lines(out, head, text, _INDENT)
    first = lines[0][len(head) :]
    out.print(
        f"  [{_STYLES[level]}]{level:<{_MARK}}[/]  {escape(first)}".rstrip(),
        highlight=False,
        soft_wrap=True,
    )
    for line in lines[1:]:
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    for number, step in enumerate((fix or "").splitlines()):
        label = "fix: " if number == 0 else "     "
        _plain(out, f"{_INDENT}{label}", step, _INDENT + "     ")


def render_diagnosis(out: Console, diagnosis: Diagnosis) -> None:
    paths = diagnosis.paths
    out.print("Paths", style="bold", highlight=False)
    config = paths["config"] + ("" if paths["config_exists"] else " (none yet: defaults)")
    for label, value in (
        ("config", config),
        ("database", paths["database"] or "(invalid setting)"),
        ("journal", paths["journal"] or "(invalid setting)"),
    ):
        _plain(out, f"  {label:<8}  ", value, " " * 12)
    section = None
    shown_fix: str | None = None
    for check in diagnosis.checks:
        if check.section != section:
            section, shown_fix = check.section, None
            title = _TITLES.get(section, section)
            if section == "hooks" and diagnosis.repo:
                title += f" of {diagnosis.repo}"
            out.print()
            out.print(title, style="bold", highlight=False, markup=False)
        text = f"{check.name}: {check.message}" if check.section in _NAMED else check.message
        # One fix line for the findings in a row that the same command fixes (both hooks).
        _finding(out, check.level, text, None if check.fix == shown_fix else check.fix)
        shown_fix = check.fix or shown_fix
    out.print()
    count = diagnosis.needs_you
    if count:
        things = "thing needs" if count == 1 else "things need"
        _plain(out, "", f"{count} {things} you: see the fix lines above.", "")
    else:
        _plain(out, "", "All is well.", "")


def doctor(
    ctx: typer.Context,
    repo: Annotated[
        Path | None,
        typer.Option("--repo", help="Repository whose hooks to check (default: current folder)."),
    ] = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """Check the set-up and say what needs you, with the command that fixes each thing.

    Looks at the settings, the database (size against its limit, reader slots, the last
    flush), pending events and the age of the oldest, quarantined journal lines, the git
    hooks of this repository, the harness integrations (and whether Codex trusts its
    hooks), and the last event seen from each harness with its model. Changes nothing.

    Exits 1 when something needs you (a set-up that has recorded nothing yet included),
    0 when all is well.
    """
    from agent_tracker import doctor as doctor_mod
    from agent_tracker import render

    settings = settings_of(ctx, needs=())
    folder = (repo or Path()).absolute()
    if repo is not None and not folder.is_dir():
        from agent_tracker.errors import UsageError

        raise UsageError(f"--repo: {repo} is not a folder")
    diagnosis = doctor_mod.collect(settings, folder, name_repo=repo is not None)
    out = render.console()
    if fmt is Format.json:
        render.json_out(out, diagnosis.as_dict())
    else:
        render_diagnosis(out, diagnosis)
    if diagnosis.needs_you:
        raise typer.Exit(EXIT_ERROR)


# -- log ---------------------------------------------------------------------------------------


def _what(entry: Entry) -> str:
    from agent_tracker.events import GRADE_NAMES

    d = entry.detail
    if entry.type in ("tool", "command"):
        return str(d.get("name", "")) + (" (failed)" if d.get("ok") is False else "")
    if entry.type == "session":
        return f"session {d.get('name', '')}".rstrip()
    short = str(d.get("hash", ""))[:7]
    if entry.type == "commit":
        subject = d.get("subject")
        return f'{short} "{subject}"' if subject else short
    if entry.type == "grade":
        value = d.get("grade")
        name = GRADE_NAMES.get(value, str(value)) if isinstance(value, int) else str(value)
        said = f"{short} {name} ({value:+d})" if isinstance(value, int) else f"{short} {name}"
        said += f" by {d.get('by')}"
        if d.get("note"):
            said += f": {d['note']}"
        return said
    return ""


def _entry_text(entry: Entry) -> tuple[str, str, str]:
    """(time, state and type in columns; what happened; which setup, in which project)."""
    from agent_tracker.totals import project_name

    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.ts))
    columns = f"{stamp}  {entry.state:<7}  {entry.type:<7}  "
    where = f"{entry.agent} · {entry.model} ({entry.harness})"
    if entry.project:
        where += f", in {project_name(entry.project)}"
    return columns, _what(entry), where


def render_log(out: Console, result: LogResult) -> None:
    if not result.entries:
        _plain(out, "", "nothing pending" if result.pending_only else "nothing captured yet")
        return
    for entry in result.entries:
        columns, what, where = _entry_text(entry)
        joined = f"{columns}{what}  {where}"
        if not out.is_terminal or len(joined) <= out.width:
            out.print(joined, markup=False, highlight=False, soft_wrap=True)
        else:  # narrow: the setup on a line of its own, each part wrapped at words
            _plain(out, columns, what, " " * 4)
            _plain(out, " " * 4, where, " " * 6)
    if out.is_terminal and not result.pending_only and result.database:
        _plain(
            out,
            "",
            "Flushed tool calls and commands are kept as daily counts, not one by one: "
            "`agent-tracker report` shows them.",
            "",
        )


def log_command(
    ctx: typer.Context,
    pending: Annotated[
        bool, typer.Option("--pending", help="Only events no flush has applied yet.")
    ] = False,
    limit: Annotated[
        int,
        typer.Option("--limit", min=1, max=100_000, metavar="N", help="How many events to show."),
    ] = 20,
    fmt: FormatOpt = Format.text,
) -> None:
    """Show the latest captured events, newest first: pending (in the journal) and flushed.

    Pending events are shown as captured: tool calls, commands, session events, commits and
    grades. Once flushed, the database keeps commits and grades one by one (listed here,
    with their time, setup and project) and tool calls and commands as daily counts (see
    `agent-tracker report`). Changes nothing.
    """
    from agent_tracker import eventlog, render

    result = eventlog.latest(settings_of(ctx), limit, pending_only=pending)
    out = render.console()
    if fmt is Format.json:
        render.json_out(out, result.as_dict())
    else:
        render_log(out, result)
