"""Claude Code: hooks in its settings file run `<tracker> hook claude-code`.

Where: `~/.claude/settings.json` (`$CLAUDE_CONFIG_DIR/settings.json` when that is set), or with
--project the repository's `.claude/settings.local.json`: the hooks name this machine's
agent-tracker, so they belong in the personal project settings, which Claude Code keeps out of
git, not in the shared `.claude/settings.json`. Events (code.claude.com/docs/en/hooks):
SessionStart, PostToolUse and PostToolUseFailure (matcher "*": every tool), InstructionsLoaded,
PostModelSwitch, SubagentStop, Stop and SessionEnd, each with a 10 s timeout.

Claude Code skips a whole settings file that names a hook event it does not know, so the
newest events (PostModelSwitch came with 2.1.251) are installed only when the `claude` on PATH
says it is new enough; when it cannot be asked, only the events every version knows.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent_tracker.integrate.hooks_json import HookSpec

HARNESS = "claude-code"
BASE_EVENTS = [
    HookSpec("SessionStart", None),
    HookSpec("PostToolUse", "*"),
    HookSpec("PostToolUseFailure", "*"),
    HookSpec("SubagentStop", None),
    HookSpec("Stop", None),
    HookSpec("SessionEnd", None),
]
NEWER_EVENTS = [HookSpec("InstructionsLoaded", None), HookSpec("PostModelSwitch", None)]
NEWER_SINCE = (2, 1, 251)
#: What an older, hand-made agent-tracker hook looked like (examples/ before `integrate`).
_LEGACY = re.compile(r"agent[-_]tracker\S*\s+(track|flush)\b")


def settings_path(home: Path, env: Mapping[str, str], project: Path | None) -> Path:
    if project is not None:
        return project / ".claude" / "settings.local.json"
    folder = env.get("CLAUDE_CONFIG_DIR")
    return (Path(folder).expanduser() if folder else home / ".claude") / "settings.json"


def installed_version() -> tuple[int, ...] | None:
    """The version of the `claude` on PATH, or None when there is none or it will not say."""
    claude = shutil.which("claude")
    if claude is None:
        return None
    try:
        done = subprocess.run(
            [claude, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", done.stdout)
    return tuple(int(part) for part in found.groups()) if found else None


def specs(version: tuple[int, ...] | None) -> list[HookSpec]:
    # Unknown version (no `claude` on PATH: npx, an IDE): the events every version knows;
    # an older client would skip the whole settings file for one event it does not know.
    if version is None or version < NEWER_SINCE:
        return BASE_EVENTS
    first, rest = BASE_EVENTS[:3], BASE_EVENTS[3:]
    return [*first, *NEWER_EVENTS, *rest]


def notes(path: Path, data: dict[str, Any], version: tuple[int, ...] | None) -> list[str]:
    said = []
    if version is None:
        said.append(
            "could not ask `claude --version`: installed the hooks every Claude Code knows; "
            "run this again where `claude` is on PATH to record model switches and loaded "
            "instruction files too."
        )
    elif version < NEWER_SINCE:
        shown = ".".join(map(str, version))
        said.append(
            f"Claude Code {shown} does not know the InstructionsLoaded and PostModelSwitch "
            "hooks: update it, then run this again to record model switches too."
        )
    hooks = data.get("hooks")
    for event, groups in hooks.items() if isinstance(hooks, dict) else []:
        for group in groups if isinstance(groups, list) else []:
            handlers = group.get("hooks") if isinstance(group, dict) else None
            for handler in handlers if isinstance(handlers, list) else []:
                command = handler.get("command") if isinstance(handler, dict) else None
                if isinstance(command, str) and _LEGACY.search(command):
                    said.append(
                        f"{path} still has an older agent-tracker hook ({event}: {command}); "
                        "it records the same calls a second time: remove it."
                    )
    env = data.get("env")
    env = env if isinstance(env, dict) else {}
    fixed = sorted(key for key in env if key.startswith("AGENT_TRACKER_"))
    if fixed:
        said.append(
            f'{path} sets {", ".join(fixed)} in "env": one fixed setup for every session; '
            "remove it so each session is recorded with the model it really uses."
        )
    if data.get("disableAllHooks") is True:
        said.append(f'{path} has "disableAllHooks": true: Claude Code runs no hooks until it goes.')
    said.append("Claude Code reads hooks when a session starts: restart sessions already running.")
    return said
