"""OpenCode: what the agent-tracker plugin sends (`integrations/opencode-plugin.js`).

OpenCode hooks are JavaScript functions inside OpenCode, not commands, so the plugin keeps
the agent and model of each session (from `chat.params`, `session.updated` and the user
messages) and hands agent-tracker one JSON object per thing worth recording:

    {"event": "tool" | "command" | "session", "session_id": "ses_...", "agent": "build",
     "model": "anthropic/claude-sonnet-4-5", "cwd": "/repo",
     "tool": "bash", "command": "pytest -q", "ok": true,     (event "tool")
     "name": "init",                                        (event "command")
     "phase": "start" | "idle" | "end",                     (event "session")
     "tokens": {"in": 0, "out": 0, "reasoning": 0, "cache_read": 0, "cache_write": 0},
     "cost": 0.0012}                                        (since the last one sent)

A `bash` tool call is a command named by its program; `command.executed` (a slash command
run in OpenCode) is a command named by the command. An `idle` session flushes. The plugin
puts `AGENT_TRACKER_SESSION` (and harness, agent, model) into the bash tool's environment,
so that a commit made there names its session.
"""

from __future__ import annotations

from agent_tracker import transcript
from agent_tracker.harnesses import Observation, program_of, text

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from typing import Any

NAME = "opencode"
#: The plugin sends tokens and cost itself: no file to read.
TRANSCRIPT_FORMAT = None
SHELL_TOOLS = frozenset({"bash"})
_PHASES = {"start": "start", "idle": "idle", "end": "end", "stop": "stop"}
_TOKENS = (("in", "in"), ("out", "out"), ("reasoning", "out"), ("cache_read", "cache_read"))


def observe(payload: dict[str, Any]) -> Observation | None:
    event = text(payload, "event") or ""
    common: dict[str, Any] = {
        "session": text(payload, "session_id", 200) or text(payload, "sessionID", 200),
        "cwd": text(payload, "cwd", 4096),
        "model": text(payload, "model", 200),
        "agent": text(payload, "agent", 200),
        "tokens": _tokens(payload.get("tokens")),
        "cost": _cost(payload.get("cost")),
    }
    if event == "tool":
        tool = text(payload, "tool", 200) or "unknown"
        ok = payload.get("ok") is not False
        if tool in SHELL_TOOLS:
            program = program_of(text(payload, "command") or "")
            return Observation("command", program, ok=ok, **common)
        return Observation("tool", tool, ok=ok, **common)
    if event == "command":
        return Observation("command", text(payload, "name", 100) or "command", **common)
    if event == "session":
        phase = _PHASES.get(text(payload, "phase") or "", "stop")
        return Observation("session", phase, flush=phase in ("idle", "end"), **common)
    return None


def _tokens(value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    tokens: dict[str, int] = {}
    for source, kind in (*_TOKENS, ("cache_write", "cache_write")):
        count = value.get(source)
        if isinstance(count, int) and not isinstance(count, bool) and count > 0:
            tokens[kind] = tokens.get(kind, 0) + count
    return tokens


def _cost(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e9:
        return float(value)  # (also rules out NaN and infinity)
    return 0.0


def discover(observation: Observation, state: dict[str, Any], reader: transcript.Reader) -> None:
    """Nothing to discover: the plugin sends agent, model, tokens and cost with each call."""
