"""The capture commands (`track tool|command`, `commit`, `grade`) without Typer.

These run inside agent tool calls and git hooks, so `entry.main` parses them here with a
parser that knows exactly their options, and hands anything else (`--help`, a mistake, a
global option) to the Typer CLI, which has the same commands with full help and errors.
`tests/test_capture.py` checks that both define the same options.

Both paths run a capture through `main`, which makes the rules of capture hold wherever it
is started: an invalid setting never stops it (the default is used and one line says so;
issue 9, item 8), and a failure is one line on stderr, with exit status 0 inside a hook
(`in_hook`) so that git or a harness is never told that our part failed (item 13), and
non-zero by hand. By hand on a terminal, one line on stdout says what was recorded
(`feedback`, issue 11); in a hook, or with stdout piped or redirected, stdout stays empty.
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from agent_tracker.config import Settings
    from agent_tracker.tracking import TrackingService

SETUP_OPTIONS = ("--agent", "--model", "--harness", "--repo")
#: command -> (positional argument names, option names)
COMMANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "track tool": (("name",), SETUP_OPTIONS),
    "track command": (("name",), SETUP_OPTIONS),
    "commit": ((), (*SETUP_OPTIONS, "--rev")),
    "grade": (("value",), (*SETUP_OPTIONS, "--by", "--commit", "--note")),
}


#: How long `grade` waits for the post-commit hook still recording the graded commit in the
#: background (its bound is 10 s by default) before it says the commit was never recorded.
GRADE_WAIT = 10.0

#: Set by our git hook scripts (and the flush a session-end hook starts): this process runs
#: inside a hook, bounded in time, and must never report our own failure to git.
ENV_HOOK = "AGENT_TRACKER_HOOK_TIMEOUT"


def in_hook() -> bool:
    """Whether this process was started by one of our hooks (see ENV_HOOK), or is bounded by
    one of our hook scripts (`entry.HOOK_BOUND`)."""
    import os

    from agent_tracker.entry import HOOK_BOUND  # loaded already: it is the console script

    return bool(os.environ.get(ENV_HOOK) or os.environ.get(HOOK_BOUND))


def say(line: str) -> None:
    """One line on standard error, best effort (a closed stderr is no further failure)."""
    import sys

    from agent_tracker.errors import printable

    try:
        sys.stderr.write(f"agent-tracker: {printable(line)}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def settings_for_capture(
    config_flag: str | None = None, flags: dict[str, str | int | None] | None = None
) -> Settings:
    """The settings, never failing: what is invalid is replaced and said once on stderr."""
    from agent_tracker import config

    settings = config.load(config_flag=config_flag, flags=flags, fallback=True)
    if settings.notice:
        say(f"warning: {settings.notice}")
    return settings


def main(
    command: str,
    values: Mapping[str, str | None],
    config_flag: str | None = None,
    flags: dict[str, str | int | None] | None = None,
) -> int:
    """Run a capture command as the CLI does; returns the exit status.

    A failure is one line on stderr: status 0 inside a hook, else the error's exit code.
    By hand, a genuine bug keeps its traceback; inside a hook it is one line too.
    """
    from agent_tracker.errors import EXIT_ERROR, EXIT_INTERRUPTED, TrackerError

    hooked = in_hook()
    try:
        from agent_tracker.tracking import TrackingService

        settings = settings_for_capture(config_flag, flags)
        service = TrackingService(settings)
        event = run(command, values, settings, service)
        if not hooked and on_terminal():
            tell(command, event, service, values.get("repo") or None)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (TrackerError, OSError) as exc:  # e.g. an unknown commit, an unwritable journal
        say(f"error: {exc}")
        return 0 if hooked else getattr(exc, "exit_code", EXIT_ERROR)
    except Exception as exc:
        if not hooked:
            raise
        say(f"error: {command} failed: {type(exc).__name__}: {exc}")
        return 0
    return 0


def on_terminal() -> bool:
    """Whether standard output is a terminal: a person reads it. Piped or redirected, a
    program does (a harness may even feed a hook's output to its model), and a capture
    command prints nothing there but its errors and notes on stderr."""
    import sys

    try:
        return sys.stdout is not None and sys.stdout.isatty()
    except (OSError, ValueError):  # closed
        return False


def tell(
    command: str, event: Mapping[str, Any] | None, service: TrackingService, repo: str | None
) -> None:
    """Say on standard output, in one line, what `command` recorded (`feedback`)."""
    import sys

    from agent_tracker import feedback
    from agent_tracker.errors import printable

    text = feedback.line(command, event, service, repo)
    if text is None:
        return
    try:
        sys.stdout.write(f"{printable(text)}\n")
        sys.stdout.flush()
    except (OSError, ValueError):  # the terminal went away: the event is recorded anyway
        pass


def parse(argv: Sequence[str]) -> tuple[str, dict[str, str]] | None:
    """(command, values) when `argv` is a well-formed capture command, else None."""
    if not argv:
        return None
    if argv[0] == "track":
        if len(argv) < 2:
            return None
        command, rest = f"track {argv[1]}", argv[2:]
    else:
        command, rest = argv[0], argv[1:]
    spec = COMMANDS.get(command)
    if spec is None:
        return None
    positional_names, option_names = spec
    values: dict[str, str] = {}
    positional: list[str] = []
    index = 0
    only_positional = False
    while index < len(rest):
        arg = rest[index]
        index += 1
        if only_positional or not arg.startswith("--"):
            positional.append(arg)  # includes a negative grade such as "-1"
            continue
        if arg == "--":
            only_positional = True
            continue
        name, eq, inline = arg.partition("=")
        if name not in option_names or name[2:] in values:
            return None
        if eq:
            values[name[2:]] = inline
        elif index < len(rest):
            values[name[2:]] = rest[index]
            index += 1
        else:
            return None
    if len(positional) != len(positional_names):
        return None
    values.update(zip(positional_names, positional, strict=True))
    if command == "grade" and "by" not in values:
        return None
    return command, values


def from_hook_payload(command: str, repo: str | None) -> tuple[str, str | None]:
    """NAME `-`: the name (and folder) from the JSON a harness hook gets on standard input.

    Claude Code hooks receive `{"tool_name": ..., "cwd": ...}`; other harnesses' plugins can
    send `{"tool": ...}` or `{"command": ...}`. The whole input is read, however large (a
    Write payload carries the file); what cannot be parsed is read as far as it goes
    (`harnesses.salvage`), else the name is "unknown". `agent-tracker hook` does more.
    """
    import sys

    from agent_tracker.harnesses import read_payload

    stream = getattr(sys.stdin, "buffer", None)
    raw = stream.read() if stream is not None else sys.stdin.read().encode("utf-8")
    payload, _ = read_payload(raw)
    keys = ("tool_name", "tool") if command == "track tool" else ("command", "name")
    name = next((str(payload[k]) for k in keys if isinstance(payload.get(k), str)), "unknown")
    cwd = payload.get("cwd")
    return name, repo or (cwd if isinstance(cwd, str) and cwd else None)


def run(
    command: str,
    values: Mapping[str, str | None],
    settings: Settings,
    service: TrackingService | None = None,
) -> dict[str, Any] | None:
    """Append the event for `command`; returns it (None when there was nothing to record).
    `service` (made from `settings` when not given) tells afterwards why nothing was."""
    from agent_tracker.attribution import Partial  # here, not above: `hook` uses this module
    from agent_tracker.tracking import TrackingService

    if service is None:
        service = TrackingService(settings)
    flags = Partial(values.get("harness"), values.get("agent"), values.get("model"))
    repo = values.get("repo") or None
    name = values.get("name") or ""
    if command.startswith("track ") and name == "-":
        name, repo = from_hook_payload(command, repo)
    if command == "track tool":
        return service.track_tool_usage(name, flags, repo)
    if command == "track command":
        return service.track_command_completion(name, flags, repo)
    if command == "commit":
        from agent_tracker.detached import hook_time

        event = service.commit_completed(flags, repo, values.get("rev") or "HEAD", hook_time())
        if event is None and not service.disabled:
            import sys

            sys.stderr.write(
                "agent-tracker: this commit re-applies earlier work (rebase or cherry-pick); "
                "it is not counted again\n"
            )
        return event
    if command == "grade":
        event = service.record_communication_score(
            values["value"] or "",
            values.get("by") or "",
            flags,
            repo,
            values.get("commit") or "HEAD",
            values.get("note"),
        )
        if event is None:  # the repository opted out
            import sys

            sys.stderr.write(f"agent-tracker: {service.DISABLED}; the grade was not recorded\n")
            return None
        if not _recorded(settings, service, event["hash"]):
            import sys

            sys.stderr.write(
                f"agent-tracker: commit {event['hash'][:12]} was never recorded (made before "
                "`hooks install`?); the grade is kept and counts once the commit is recorded\n"
            )
        return event
    raise ValueError(f"not a capture command: {command}")


def _recorded(settings: Settings, service: Any, commit_hash: str) -> bool:
    """Whether the graded commit is recorded (or this cannot be told). A commit whose
    post-commit hook still records it in the background (a grade right after `git commit`)
    is waited for, a bounded time, before it is called unrecorded."""
    from agent_tracker import detached, recorded

    if recorded.is_recorded(settings.journal_folder, commit_hash) is not False:
        return True
    git_dir = service.project.git_dir if service.project is not None else None
    if git_dir is None or not detached.running(git_dir, f"commit-{commit_hash}"):
        return False
    detached.wait(git_dir, f"commit-{commit_hash}", GRADE_WAIT)
    return recorded.is_recorded(settings.journal_folder, commit_hash) is not False
