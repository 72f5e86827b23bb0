"""Turning result data into terminal text or JSON (the report has its own: `reportview`).

With `reportview` and the CLI modules (`cli`, `cli_base`, `cli_history`), the only modules
that use Rich; core modules never do.

Names come from agents, harnesses, folders and remotes, and may hold escape sequences or
other control characters: every console made here passes what it prints through `Printable`,
which shows them as `\\x1b`-style escapes, so that no name drives the terminal (issue 9,
item 20). JSON keeps them as JSON escapes; plain text written without Rich goes through
`errors.printable`.

Rich honours `NO_COLOR` (the root `--no-color` sets it) and drops colour and box styling when
stdout is not a terminal, so the same tables serve a person and a script; `--format json`
serves a program. Output is never padded: no line ends in spaces. Piped (stdout not a
terminal, `COLUMNS` not set) nothing is wrapped at all: `PIPE_WIDTH` stands for "as wide as
it needs", and the report shows every column.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console, ConsoleOptions, RenderableType, RenderHook, RenderResult
from rich.markup import escape
from rich.segment import Segment

from agent_tracker.errors import printable
from agent_tracker.words import size

if TYPE_CHECKING:  # results of the core, rendered here: their modules load with their commands
    from agent_tracker.flush import FlushResult
    from agent_tracker.hookscripts import HookState
    from agent_tracker.migrate import SourceResult
    from agent_tracker.status import Status


#: The width of a console whose output goes to a pipe or a file: wide enough that nothing a
#: person would read in one line is folded (Rich needs a number).
PIPE_WIDTH = 10_000


class Printable:
    """A renderable whose text segments have their control characters escaped, and whose
    lines end without the spaces Rich pads cells and wrapped lines with; the control segments
    Rich makes itself (cursor moves of a progress bar) pass as they are."""

    def __init__(self, inner: RenderableType) -> None:
        self.inner = inner

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        line: list[Segment] = []
        for segment in console.render(self.inner, options):
            if not segment.control and not segment.text.isprintable():
                text, style, _ = segment
                segment = Segment(printable(text, newlines=True), style)  # noqa: PLW2901
            if segment.control or "\n" not in segment.text:
                line.append(segment)
                continue
            text, style, _ = segment
            *ends, rest = text.split("\n")
            for end in ends:
                if end:
                    line.append(Segment(end, style))
                yield from _trimmed(line)
                yield Segment.line()
                line = []
            if rest:
                line.append(Segment(rest, style))
        yield from line  # a last line without its end: what follows may continue it


def _trimmed(line: list[Segment]) -> list[Segment]:
    """`line` without the spaces at its end."""
    while line and not line[-1].control:
        text, style, _ = line[-1]
        kept = text.rstrip(" ")
        if kept:
            line[-1] = Segment(kept, style)
            break
        line.pop()
    return line


class _EscapeControls(RenderHook):
    def process_renderables(self, renderables: list[Any]) -> list[Any]:
        return [Printable(item) for item in renderables]


def console(stderr: bool = False) -> Console:
    """A console for standard output (or error): the terminal's width, `COLUMNS` when set,
    else, piped, `PIPE_WIDTH`; colour unless `NO_COLOR` is set or it is not a terminal."""
    # soft_wrap: long lines (paths) are never folded; tables still fit the terminal width.
    out = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not out.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
        out.width = PIPE_WIDTH  # as Rich reads COLUMNS: a number, or not there at all
    out.push_render_hook(_EscapeControls())
    return out


def json_out(out: Console, data: Any) -> None:
    out.print_json(json.dumps(data)) if out.is_terminal else out.out(
        json.dumps(data, indent=2, sort_keys=True), highlight=False
    )


@contextmanager
def progress(out: Console, what: str, *, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    """A progress bar for reading large sources; shown only on a terminal."""
    if not enabled or not out.is_terminal:
        yield lambda done, total: None
        return
    from rich.progress import Progress  # ~15 ms of imports, for a terminal only

    with Progress(*Progress.get_default_columns(), console=out, transient=True) as bar:
        task = bar.add_task(what, total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield step


def migrations(out: Console, results: list[SourceResult]) -> None:
    for result in results:
        if result.status != "unchanged":
            out.print(escape(result.summary()), soft_wrap=True)


def flush_summary(out: Console, result: FlushResult) -> None:
    for line in result.summary_lines():
        out.print(escape(line), soft_wrap=True)


def status_table(out: Console, st: Status) -> None:
    share = st.used_bytes / st.max_database_size * 100 if st.max_database_size else 0
    rows = [
        ("config file", st.config_path + ("" if st.config_exists else "  (none)")),
        ("database", st.database_path + ("" if st.database_exists else "  (not yet)")),
        ("journal", st.journal_dir),
        ("pending events", str(st.pending_events)),
        ("quarantined lines", str(st.quarantined_lines)),
        ("database use", f"{size(st.used_bytes)} of {size(st.max_database_size)} ({share:.1f}%)"),
        ("entries", f"{st.entries} ({st.setups} setups)"),
    ]
    if st.damaged_records:
        rows.append(("damaged records", f"{st.damaged_records} (see `agent-tracker rebuild`)"))
    if st.per_project_database:
        rows.append(
            (
                "per-project db",
                f"{st.per_project_database}: will be merged by the next flush "
                "(or `agent-tracker migrate`)",
            )
        )
    if st.team_sync:
        rows.append(("team sync", st.team_sync.removeprefix("team sync").lstrip(": ")))
    for seen in st.harnesses:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(seen["seen"]))
        rows.append(
            (
                f"last {seen['harness']}",
                f"{when}  {seen['agent']}@{seen['model']}  session {seen['session']}  "
                f"in {seen['project']}",
            )
        )
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        # Paths are never folded: a person copies them, a script greps them.
        out.print(f"[bold]{label:<{width}}[/bold]  {escape(value)}", soft_wrap=True)


def hook_states(out: Console, states: list[HookState], fixes: list[str | None]) -> None:
    """One line per hook, then what fixes those that need it: each command once, with the
    longest comment given for it (`cmd  # why`)."""
    for st in states:
        out.print(escape(f"{st.name}: {st.state} ({st.how})  {st.path}"))
    once: dict[str, str] = {}
    for fix in filter(None, fixes):
        command = fix.split("  # ", 1)[0]
        once[command] = max(once.get(command, ""), fix, key=len)
    for fix in once.values():
        out.print(escape(f"to fix: {fix}"))


def actions(out: Console, done: list[tuple[str, str]]) -> None:
    for name, what in done:
        out.print(escape(f"{name}: {what}"))
