"""The console-script entry point: a fast path for capture, Typer for everything else.

Capture commands run many times a minute inside agent tool calls and git hooks, so they
must cost little more than starting Python: when `argv` is a well-formed capture command it
is run here without importing Typer, Rich or LMDB. Everything else, including `--help` and
any malformed capture command, goes to `agent_tracker.cli`, which reports errors properly.

Inside our git hooks the hook script's watchdog bounds the whole command, interpreter start
included; the script also sets `AGENT_TRACKER_HOOK_BOUND` (and only it does), and then this
process makes itself a process group, so that the watchdog's kill reaches the git processes
it starts, and ends that group itself after as many seconds. A stuck tracker must never hold
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
        os.setpgid(0, 0)  # a group of our own, so the hook's watchdog also kills our git calls
    except OSError:
        pass  # already a session leader (a detached flush): the group is ours anyway
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
