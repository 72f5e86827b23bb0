"""Codex CLI: hook payloads (every one but SessionEnd names the model) and its rollout file.

| event | recorded |
|---|---|
| `SessionStart` | session `start` |
| `PostToolUse` | a tool call; `Bash` (Codex's shell) is a command named by its program |
| `Stop` | session `stop` (the turn's tokens); flushes |
| `SessionEnd` | session `end`; flushes |

Codex has no named agents: the agent is `main`. Its `PostToolUse` hands over the tool's output
as text without an exit status, so a failed Codex call cannot be told from a good one and is
recorded as succeeded (a structured response that says it failed is honoured). Tokens come
from the `token_count` events of the rollout file (`transcript_path`), read incrementally.
Codex passes `CODEX_SESSION_ID` and `CODEX_THREAD_ID` to the shells it starts, so a commit
made there names its session.
"""

from __future__ import annotations

from agent_tracker import transcript
from agent_tracker.harnesses import Observation, common_fields, text, tool_call

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from typing import Any

NAME = "codex"
TRANSCRIPT_FORMAT = transcript.CODEX
SHELL_TOOLS = frozenset({"Bash", "shell", "exec_command", "local_shell"})
MAIN_AGENT = "main"
_SESSION_EVENTS = {"SessionStart": "start", "Stop": "stop", "SessionEnd": "end"}
_FLUSH_EVENTS = frozenset({"Stop", "SessionEnd"})


def observe(payload: dict[str, Any]) -> Observation | None:
    event = text(payload, "hook_event_name") or ""
    common = dict(common_fields(payload), agent=MAIN_AGENT)
    if event == "PostToolUse":
        ok = not _failed(payload.get("tool_response"))
        line = _command_line(payload.get("tool_input"))
        return tool_call(payload, SHELL_TOOLS, line, ok, common)
    if event in _SESSION_EVENTS:
        return Observation(
            "session", _SESSION_EVENTS[event], flush=event in _FLUSH_EVENTS, **common
        )
    return None


def _command_line(tool_input: object) -> str:
    if isinstance(tool_input, dict):
        command = tool_input.get("command")
        if isinstance(command, list):  # some Codex tools pass argv
            return " ".join(str(word) for word in command)
        if isinstance(command, str):
            return command
    return ""


def _failed(response: object) -> bool:
    """Codex hands the output as text; a structured response may say it failed."""
    if not isinstance(response, dict):
        return False
    for key in ("exit_code", "exitCode"):
        code = response.get(key)
        if isinstance(code, int) and not isinstance(code, bool) and code != 0:
            return True
    return response.get("success") is False or response.get("is_error") is True


def discover(observation: Observation, state: dict[str, Any], reader: transcript.Reader) -> None:
    """New tokens from the rollout file (the model is in the payload)."""
    if observation.transcript:
        found = reader.read_increment(observation.transcript, state, TRANSCRIPT_FORMAT)
        observation.tokens = found["tokens"]
