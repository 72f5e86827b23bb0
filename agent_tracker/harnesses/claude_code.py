"""Claude Code: hook payloads, the model from the transcript, tokens from its usage lines.

Hook events used (`agent-tracker integrate claude-code` installs them):

| event | recorded |
|---|---|
| `SessionStart` | session `start` (the session is active in this project) |
| `PostToolUse` | a tool call; `Bash` is a command named by the program it ran |
| `PostToolUseFailure` | the same, failed |
| `PostModelSwitch` | session `model`: the model changed (`to_model`) |
| `InstructionsLoaded` | nothing, but the file joins the session's instruction fingerprint |
| `Stop`, `SubagentStop` | session `stop` (the turn's last tokens); `Stop` flushes |
| `SessionEnd` | session `end`; flushes |

Claude Code's tool payloads carry no model. It is, in order: the payload's `model` where a
version sends one; the newest assistant line read from the transcript since the last call;
the model remembered for the session; else the newest assistant line found reading the
transcript backwards from its end (bounded, see `transcript`). The agent is `main`, or the
subagent's `agent_type` inside a subagent, whose own transcript
(`<session folder>/subagents/agent-<agent_id>.jsonl`) gives its model and tokens.
"""

from __future__ import annotations

import os

from agent_tracker import transcript
from agent_tracker.harnesses import Observation, common_fields, text, tool_call

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from typing import Any

NAME = "claude-code"
TRANSCRIPT_FORMAT = transcript.CLAUDE
SHELL_TOOLS = frozenset({"Bash"})
MAIN_AGENT = "main"
#: Events whose tokens and model are read, and what they record.
_SESSION_EVENTS = {
    "SessionStart": "start",
    "Stop": "stop",
    "SubagentStop": "stop",
    "SessionEnd": "end",
    "PostModelSwitch": "model",
}
_FLUSH_EVENTS = frozenset({"Stop", "SessionEnd"})


def observe(payload: dict[str, Any]) -> Observation | None:
    event = text(payload, "hook_event_name") or ""
    common = common_fields(payload)
    common["model"] = common["model"] or text(payload, "to_model", 200)
    model_info = payload.get("model")
    if isinstance(model_info, dict):  # a newer payload may describe the model as an object
        common["model"] = text(model_info, "id", 200) or text(model_info, "display_name", 200)
    agent_id = text(payload, "agent_id", 200)
    common["agent"] = text(payload, "agent_type", 200) if agent_id else MAIN_AGENT
    if agent_id:
        common["agent_id"] = agent_id
        common["transcript"] = text(payload, "agent_transcript_path", 4096) or _subagent_file(
            common["transcript"], common["session"], agent_id
        )
    if event in ("PostToolUse", "PostToolUseFailure"):
        ok = event == "PostToolUse" and not _interrupted(payload.get("tool_response"))
        tool_input = payload.get("tool_input")
        line = text(tool_input, "command") if isinstance(tool_input, dict) else None
        return tool_call(payload, SHELL_TOOLS, line or "", ok, common)
    if event in _SESSION_EVENTS:
        resumed = event == "SessionStart" and payload.get("source") == "resume"
        return Observation(
            "session",
            _SESSION_EVENTS[event],
            flush=event in _FLUSH_EVENTS,
            skip_history=resumed,
            **common,
        )
    if event == "InstructionsLoaded":
        path = text(payload, "file_path", 4096)
        return Observation(None, "instructions", instruction_files=[path] if path else [], **common)
    return None


def _interrupted(response: object) -> bool:
    return isinstance(response, dict) and response.get("interrupted") is True


def _subagent_file(main: str | None, session: str | None, agent_id: str) -> str | None:
    if not main or not session:
        return main
    candidate = os.path.join(os.path.dirname(main), session, "subagents", f"agent-{agent_id}.jsonl")
    return candidate if os.path.exists(candidate) else main


def _size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def discover(observation: Observation, state: dict[str, Any], reader: transcript.Reader) -> None:
    """Model and new tokens from the transcript; `state` is this agent's part of the
    session's state (its reading position and remembered model, which `hook` falls back
    on: the tail is read only when there is none)."""
    path = observation.transcript
    found_model = None
    if path and observation.skip_history and "offset" not in state:
        # Counted when they happened (or before agent-tracker was there): not again.
        size = _size(path)
        if size is not None:
            state["offset"] = size
        found_model = reader.tail_model(path)
    if path:
        found = reader.read_increment(path, state, TRANSCRIPT_FORMAT)
        observation.tokens = found["tokens"]
        found_model = found["model"] or found_model
    model = observation.model or found_model
    if model is None and path and not state.get("model"):
        model = reader.tail_model(path)
    observation.model = model
