"""The capture commands (`track tool|command`, `commit`, `grade`) without Typer.

These run inside agent tool calls and git hooks, so `entry.main` parses them here with a
parser that knows exactly their options, and hands anything else (`--help`, a mistake, a
global option) to the Typer CLI, which has the same commands with full help and errors.
`tests/test_capture.py` checks that both define the same options.
"""

from __future__ import annotations

from agent_tracker.attribution import Partial

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from agent_tracker.config import Settings

SETUP_OPTIONS = ("--agent", "--model", "--harness", "--repo")
#: command -> (positional argument names, option names)
COMMANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "track tool": (("name",), SETUP_OPTIONS),
    "track command": (("name",), SETUP_OPTIONS),
    "commit": ((), (*SETUP_OPTIONS, "--rev")),
    "grade": (("value",), (*SETUP_OPTIONS, "--by", "--commit", "--note")),
}


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
    command: str, values: Mapping[str, str | None], settings: Settings
) -> dict[str, Any] | None:
    """Append the event for `command`; returns it (None when there was nothing to record)."""
    from agent_tracker.tracking import TrackingService

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
        event = service.commit_completed(flags, repo, values.get("rev") or "HEAD")
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
        from agent_tracker import recorded

        if recorded.is_recorded(settings.journal_folder, event["hash"]) is False:
            import sys

            sys.stderr.write(
                f"agent-tracker: commit {event['hash'][:12]} was never recorded (made before "
                "`hooks install`?); the grade is kept and counts once the commit is recorded\n"
            )
        return event
    raise ValueError(f"not a capture command: {command}")
