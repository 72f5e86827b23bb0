"""What `integrate` left in each harness's config, read back for `doctor`: installed or not,
current or outdated, whether the program it runs is still there, and (Codex) whether the
person trusted the hooks.

Read-only: nothing here writes a file. A file that cannot be read or parsed is reported as
such, never repaired.

Codex trust (codex-rs/hooks/src/engine/discovery.rs, `command_hook_hash`, and
codex-rs/config/src/fingerprint.rs, `version_for_toml`, in openai/codex; checked against
Codex 0.171.0's own `hooks/list` answer by tests/test_doctor.py when that client is at hand):
Codex runs an unmanaged hook only when `config.toml` in `$CODEX_HOME` holds, under
`[hooks.state."<hooks.json path>:<event>:<group index>:<handler index>"]`, a `trusted_hash`
equal to the hash of the hook's definition as Codex normalises it: the SHA-256, written
`sha256:<hex>`, of the compact JSON with sorted keys of `{"event_name": <snake_case event>,
"matcher": <matcher, when there is one>, "hooks": [{"type": "command", "command": ...,
"timeout": <seconds: 600 when unset, at least 1, SessionEnd at most 3>, "async": <bool>,
"statusMessage": <when set>}]}`. `enabled = false` there turns a hook off. A hash that
differs means the hook changed since it was trusted (or a Codex that hashes differently):
either way `/hooks` in Codex says which and asks again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent_tracker.errors import TrackerError
from agent_tracker.integrate import (
    HARNESSES,
    claude_code,
    codex,
    hook_command,
    hooks_json,
    opencode,
)

#: Codex's limit on a SessionEnd hook's timeout (it clamps a longer one and says so).
CODEX_SESSION_END_TIMEOUT = 3
_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass
class Integration:
    """One harness's integration at one level (user or project)."""

    harness: str
    scope: str  # "user" or "project"
    path: str
    #: "installed", "missing", "outdated" (not what integrate writes now), "broken" (the
    #: program it runs is gone), "other" (runs another agent-tracker that is there),
    #: "unreadable" (the file cannot be read or parsed)
    state: str
    detail: str
    programs: list[str] = field(default_factory=list)
    #: Codex only: "trusted", "untrusted", "modified", "disabled" or "unknown", and why.
    trust: str | None = None
    trust_detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_all(
    argv: list[str], home: Path, env: Mapping[str, str], project: Path | None
) -> list[Integration]:
    """Every harness at user level, and at project level for `project` (a repository's top
    folder) where something of ours or a file of the harness is there."""
    found = []
    for harness in HARNESSES:
        found.append(check(harness, argv, home, env, None))
        if project is not None:
            at_project = check(harness, argv, home, env, project)
            if at_project.state != "missing":
                found.append(at_project)
    return found


def check(
    harness: str, argv: list[str], home: Path, env: Mapping[str, str], project: Path | None
) -> Integration:
    """What integrate left for `harness` at one level; `argv` runs this agent-tracker."""
    scope = "user" if project is None else "project"
    if harness == opencode.HARNESS:
        return _plugin(argv, home, env, project, scope)
    if harness == claude_code.HARNESS:
        path = claude_code.settings_path(home, env, project)
        events = [spec.event for spec in claude_code.BASE_EVENTS]
    else:
        path = codex.hooks_path(home, env, project)
        events = [spec.event for spec in codex.EVENTS]
    item = _hooks(harness, path, events, hook_command(argv, harness), scope)
    if harness == codex.HARNESS and item.state not in {"missing", "unreadable"}:
        item.trust, item.trust_detail = codex_trust(path, home, env, project)
    return item


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise TrackerError(f"cannot read {path}: {exc}") from None


def _program_state(commands: list[str]) -> tuple[list[str], list[str]]:
    """(the programs the commands run, those of them that are gone)."""
    programs: list[str] = []
    for command in commands:
        try:
            words = shlex.split(command)
        except ValueError:
            continue
        if words and words[0] not in programs:
            programs.append(words[0])
    gone = [
        p for p in programs if os.sep in p and not (Path(p).is_file() and os.access(p, os.X_OK))
    ]
    return programs, gone


def _judge(item: Integration, wanted: str, commands: list[str], complete: bool) -> Integration:
    programs, gone = _program_state(commands)
    item.programs = programs
    if gone:
        item.state = "broken"
        item.detail = f"runs {gone[0]}, which is gone: the harness records nothing"
    elif not complete:
        item.state = "outdated"
        item.detail = "installed by an older agent-tracker: some events are not recorded"
    elif any(command != wanted for command in commands):
        item.state = "other"
        item.detail = f"runs another agent-tracker: {programs[0] if programs else commands[0]}"
    else:
        item.state = "installed"
        item.detail = "installed"
    return item


def _hooks(harness: str, path: Path, events: list[str], wanted: str, scope: str) -> Integration:
    item = Integration(harness, scope, str(path), "missing", "not installed")
    try:
        text = _read(path)
        data = hooks_json.parse(path, text or "")
    except TrackerError as exc:
        item.state, item.detail = "unreadable", str(exc)
        return item
    hooks = data.get("hooks")
    commands: list[str] = []
    covered: set[str] = set()
    for event, groups in hooks.items() if isinstance(hooks, dict) else []:
        for group in groups if isinstance(groups, list) else []:
            handlers = group.get("hooks") if isinstance(group, dict) else None
            for handler in handlers if isinstance(handlers, list) else []:
                if hooks_json.is_ours(handler, harness):
                    commands.append(str(handler["command"]))
                    covered.add(event)
    if not commands:
        return item
    return _judge(item, wanted, commands, set(events) <= covered)


def _plugin(
    argv: list[str], home: Path, env: Mapping[str, str], project: Path | None, scope: str
) -> Integration:
    path = opencode.plugin_path(home, env, project)
    item = Integration(opencode.HARNESS, scope, str(path), "missing", "not installed")
    try:
        raw = _read(path)
    except TrackerError as exc:
        item.state, item.detail = "unreadable", str(exc)
        return item
    legacy = opencode.legacy_path(home, env, project)
    if raw is None or not opencode.is_ours(raw.encode()):
        if legacy.is_file():
            item.state = "outdated"
            item.detail = f"only an older plugin at {legacy}: run integrate to replace it"
        return item
    argv_found = _plugin_argv(raw)
    if argv_found is None:
        item.state = "outdated"
        item.detail = "installed by an older agent-tracker"
        item.programs = []
        return item
    item = _judge(item, shlex.join(argv), [shlex.join(argv_found)], True)
    if item.state in ("installed", "other") and legacy.is_file():
        item.state = "outdated"
        item.detail = f"{legacy} is an older plugin too: every tool call is recorded twice"
    return item


def _plugin_argv(text: str) -> list[str] | None:
    """The command our plugin file runs (the JSON array put in place of the placeholder),
    or None when the file is not the shipped plugin around one."""
    template = opencode.template()
    before, _, after = template.partition(opencode.PLACEHOLDER)
    body = text.split("\n", 1)[1] if "\n" in text else ""  # without our header line
    if not (body.startswith(before) and body.endswith(after)):
        return None
    middle = body[len(before) : len(body) - len(after)]
    try:
        found = json.loads(middle)
    except ValueError:
        return None
    if not (isinstance(found, list) and found and all(isinstance(w, str) for w in found)):
        return None
    return found


# -- Codex trust -------------------------------------------------------------------------------


def snake(event: str) -> str:
    """Codex's key label of an event: `PostToolUse` -> `post_tool_use`."""
    return _SNAKE.sub("_", event).lower()


def codex_hash(event: str, matcher: str | None, handler: Mapping[str, Any]) -> str:
    """The hash Codex trusts a command hook by (see the module docstring)."""
    timeout = handler.get("timeout", handler.get("timeoutSec"))
    seconds = max(1, int(timeout)) if isinstance(timeout, int | float) else 600
    if event == "SessionEnd":
        seconds = min(seconds, CODEX_SESSION_END_TIMEOUT)
    normal: dict[str, Any] = {
        "type": "command",
        "command": handler.get("command"),
        "timeout": seconds,
        "async": bool(handler.get("async", False)),
    }
    if isinstance(handler.get("statusMessage"), str):
        normal["statusMessage"] = handler["statusMessage"]
    identity: dict[str, Any] = {"event_name": snake(event), "hooks": [normal]}
    if matcher is not None:
        identity["matcher"] = matcher
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def codex_hooks(path: Path) -> list[tuple[str, str]]:
    """(trust key, hash) of each of our hooks in a Codex hooks.json."""
    data = hooks_json.parse(path, _read(path) or "")
    hooks = data.get("hooks")
    found = []
    for event, groups in hooks.items() if isinstance(hooks, dict) else []:
        for g, group in enumerate(groups if isinstance(groups, list) else []):
            handlers = group.get("hooks") if isinstance(group, dict) else None
            for h, handler in enumerate(handlers if isinstance(handlers, list) else []):
                if hooks_json.is_ours(handler, codex.HARNESS):
                    matcher = group.get("matcher")
                    key = f"{path}:{snake(event)}:{g}:{h}"
                    found.append((key, codex_hash(event, matcher, handler)))
    return found


def codex_trust(
    path: Path, home: Path, env: Mapping[str, str], project: Path | None
) -> tuple[str, str]:
    """Whether Codex will run our hooks in `path`: (state, what to do, in words)."""
    ask = "run /hooks in codex to review and trust them"
    config = codex.codex_home(home, env) / "config.toml"
    try:
        ours = codex_hooks(path)
        text = _read(config)
        data = tomllib.loads(text or "")
    except (TrackerError, tomllib.TOMLDecodeError) as exc:
        return "unknown", f"cannot tell ({exc}); {ask}"
    hooks = data.get("hooks")
    states = hooks.get("state") if isinstance(hooks, dict) else None
    states = states if isinstance(states, dict) else {}
    if project is not None:
        projects = data.get("projects")
        entry = projects.get(str(project)) if isinstance(projects, dict) else None
        level = entry.get("trust_level") if isinstance(entry, dict) else None
        if level != "trusted":
            return "untrusted", (
                f"Codex reads {path} only in a trusted project: trust {project} when Codex "
                "asks, then run /hooks in codex to trust the hooks"
            )
    verdicts = []
    for key, current in ours:
        state = states.get(key)
        state = state if isinstance(state, dict) else {}
        if state.get("enabled") is False:
            verdicts.append("disabled")
        elif state.get("trusted_hash") == current:
            verdicts.append("trusted")
        elif isinstance(state.get("trusted_hash"), str):
            verdicts.append("modified")
        else:
            verdicts.append("untrusted")
    if not verdicts:
        return "unknown", f"no agent-tracker hooks in {path}"
    if all(v == "trusted" for v in verdicts):
        return "trusted", f"all {len(verdicts)} hooks trusted"
    counts = {v: verdicts.count(v) for v in ("untrusted", "modified", "disabled")}
    worst = next(v for v in ("disabled", "modified", "untrusted") if counts[v])
    said = {
        "untrusted": f"{counts['untrusted']} of {len(verdicts)} hooks not trusted yet: Codex "
        f"skips them without a word; {ask}",
        "modified": f"{counts['modified']} of {len(verdicts)} hooks changed since you trusted "
        f"them (or this Codex hashes them differently): Codex skips them; {ask} again",
        "disabled": f"{counts['disabled']} of {len(verdicts)} hooks turned off in /hooks: "
        "turn them on there",
    }
    return worst, said[worst]
