"""The console-script entry point: fast paths for capture and flush, Typer for the rest.

Capture commands run many times a minute inside agent tool calls and git hooks, so they
must cost little more than starting Python: when `argv` is a well-formed capture command it
is run here without importing Typer, Rich or LMDB. `flush` (the pre-push hook's command)
is run here too, without Typer, Rich or pydantic, printing the same text (or JSON) as the
CLI. Everything else, including `--help`, global options and any malformed command, goes to
`agent_tracker.cli`, which reports errors properly.

Inside our git hooks the hook script's watchdog bounds the whole command, interpreter start
included; the script also sets `AGENT_TRACKER_HOOK_BOUND` (and only it does), and then this
process makes itself a session (so a closed terminal does not end the detached work) and
thereby a process group, so that the watchdog's kill reaches the git processes it starts,
and ends that group itself after as many seconds. A stuck tracker must never hold
up git, and a flush killed at any instant is safe by design. `AGENT_TRACKER_HOOK_TIMEOUT`
alone (say, exported in a shell) arms nothing: a long `migrate` run by hand is never killed;
only the bare `commit` or `flush` that hook scripts of an earlier version run, with standard
input not a terminal, keep the bound those scripts asked for.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from collections.abc import Sequence

    from agent_tracker.flush import FlushResult


#: Set by our git hook scripts only, for the one command they run: its time bound in seconds.
HOOK_BOUND = "AGENT_TRACKER_HOOK_BOUND"


def _arm_hook_timeout(args: list[str]) -> None:
    raw = os.environ.get(HOOK_BOUND)
    if not raw and _legacy_hook(args):
        raw = os.environ[HOOK_BOUND] = os.environ["AGENT_TRACKER_HOOK_TIMEOUT"]
    if not raw:
        return
    try:
        seconds = min(max(1, int(raw)), 86_400)
    except ValueError:
        return
    import signal

    try:  # noqa: SIM105 - contextlib is one more import on the commit hot path
        # A session, hence a group, of our own: the hook's watchdog also kills our git
        # calls, and a terminal closed while the hook works in the background does not.
        os.setsid()
    except OSError:
        pass  # already a group leader (a flush a session-end hook started): the group is ours
    if os.getpgrp() == os.getpid():
        signal.signal(signal.SIGALRM, _end_process_group)
    else:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(seconds)


def _legacy_hook(args: list[str]) -> bool:
    """Whether this is the one command a hook script of an earlier version runs: those set
    only `AGENT_TRACKER_HOOK_TIMEOUT` and run bare `commit` or `flush` with standard input
    from /dev/null. Until `hooks install` replaces them, they get the same bound."""
    if args not in (["commit"], ["flush"]) or not os.environ.get("AGENT_TRACKER_HOOK_TIMEOUT"):
        return False
    try:
        return not os.isatty(0)
    except OSError:
        return True


def _end_process_group(signum: int, frame: object) -> None:
    import signal

    os.killpg(0, signal.SIGKILL)  # ourselves included: nothing we started outlives the bound


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 2 and args[0] == "hook" and not _wants_help(args):
        return _run_hook(args[1])  # bounds itself: see hook.main
    _arm_hook_timeout(args)
    if args and args[0] in ("track", "commit", "grade") and not _wants_help(args):
        from agent_tracker.capture import parse

        parsed = parse(args)
        if parsed is not None:
            return _run_capture(*parsed)
    if args and args[0] == "flush":
        options = _flush_options(args[1:])
        if options is not None:
            return _run_flush(*options)
    if "report" in args and not _wants_help(args):
        from agent_tracker import cli_fast  # a plain report needs no Typer (see cli_fast)

        code = cli_fast.main(args)
        if code is not None:
            return code
    from agent_tracker.cli import run

    return run(args)


def _wants_help(args: Sequence[str]) -> bool:
    return any(arg in ("--help", "-h") for arg in args)


def _run_hook(harness: str) -> int:
    """`hook HARNESS`: exit 0 whatever happens; problems go to stderr as one line."""
    from agent_tracker import capture, hook

    try:
        settings = capture.settings_for_capture()
    except BaseException as exc:  # noqa: BLE001 - nothing must fail the harness
        hook.say(f"hook {harness}: {exc}")
        return 0
    return hook.main(harness, settings)


def _run_capture(command: str, values: dict[str, str]) -> int:
    from agent_tracker import capture

    return capture.main(command, values)


def _flush_options(rest: list[str]) -> tuple[str, str | None] | None:
    """(format, wait) of a well-formed `flush [--format text|json] [--wait SECONDS]`, else
    None (Typer then has its say). JSON for a terminal goes to Typer too: Rich colours it."""
    values: dict[str, str] = {}
    index = 0
    while index < len(rest):
        name, eq, value = rest[index].partition("=")
        if name not in ("--format", "--wait") or name in values:
            return None
        if not eq:
            index += 1
            if index == len(rest):
                return None
            value = rest[index]
        values[name] = value
        index += 1
    fmt = values.get("--format", "text")
    if fmt not in ("text", "json"):
        return None
    if fmt == "json" and sys.stdout is not None and sys.stdout.isatty():
        return None
    return fmt, values.get("--wait")


def _run_flush(fmt: str, wait: str | None) -> int:
    """`flush` as the CLI runs it, without Typer: same checks, text, JSON and exit codes."""
    from agent_tracker.errors import EXIT_ERROR, guarded

    text = ""

    def body() -> int:
        nonlocal text
        from agent_tracker import config, detached, migrate, writelock

        settings = config.load()
        for key in ("database_path", "max_database_size", "journal_dir"):
            settings.value(key)  # an invalid setting fails now, as in the CLI
        seconds = None if wait is None else writelock.parse_wait(wait)
        # Inside the pre-push hook, a large per-project database waits for an explicit
        # migrate; by hand, first the work our hooks still do in the background.
        limit = migrate.HOOK_MERGE_LIMIT if os.environ.get(HOOK_BOUND) else None
        folder = os.getcwd()  # noqa: PTH109 - str paths, as flush takes them
        with writelock.waiting(seconds):
            result = detached.flush_by_hand(settings, folder, limit)
        text = _flush_json(result) if fmt == "json" else _flush_text(result)
        return 0

    code = guarded(body)
    if code:
        return code
    if sys.stdout is None:  # started with no standard output at all (`>&-`): as the CLI
        return 0
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except (OSError, ValueError):  # stdout closed (a hook's /dev/null never is)
        return EXIT_ERROR
    return 0


def _flush_json(result: FlushResult) -> str:
    import json

    return json.dumps(result.as_dict(), indent=2, sort_keys=True) + "\n"


def _flush_text(result: FlushResult) -> str:
    from agent_tracker.errors import printable

    return "".join(f"{printable(line)}\n" for line in result.summary_lines())
