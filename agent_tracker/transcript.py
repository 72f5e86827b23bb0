"""Reading harness transcripts (JSON Lines) for the model and the tokens, never whole.

Transcripts reach hundreds of megabytes, and hooks run many times a minute, so:

- `tail_model` finds the model of the newest assistant message by reading backwards from the
  end, at most `TAIL_BOUND` bytes;
- `read_increment` reads only what was appended since the last call (the offset is kept in
  the session's state), at most `INCREMENT_BOUND` bytes a call, and only complete lines. It
  sums the tokens of the new assistant messages and notes the newest model.

Claude Code writes one transcript line per content block of an assistant message, each with
the message's `id` and its `usage` so far: a message is counted once, by the difference
between its newest usage and what was already counted for it. Codex writes `token_count`
events with the session's running total (`info.total_token_usage`): the difference to the
previous total is what was spent. Both give tokens as `in`, `out`, `cache_read` and
`cache_write` counts (see `events.TOKEN_KINDS`).

A session first seen with a transcript larger than `FIRST_BOUND` starts counting at its end:
what it spent before agent-tracker saw it is not counted. Codex's running total then serves
as the starting point (its first total after such a jump is not counted as new), and a total
that goes down starts a new count rather than losing tokens until it passes the old one.
"""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from typing import Any

TAIL_BOUND = 1 << 20
#: The most read of a transcript seen for the first time (the rest counts from its end).
FIRST_BOUND = 2 << 20
#: The most read in one call of a transcript already being followed (one turn's output).
INCREMENT_BOUND = 16 << 20
_BLOCK = 64 * 1024
CLAUDE = "claude"
CODEX = "codex"


class Reader:
    """Counts the bytes it reads, so that tests and benchmarks can hold it to its bounds."""

    def __init__(self) -> None:
        self.bytes_read = 0

    def tail_model(self, path: str, bound: int = TAIL_BOUND) -> str | None:
        """The raw model name of the newest assistant line in the last `bound` bytes."""
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below; read in blocks
        except OSError:
            return None
        read = 0
        with handle:
            position = handle.seek(0, os.SEEK_END)
            carry = b""
            while position > 0 and read < bound:
                size = min(_BLOCK, position, bound - read)
                position -= size
                handle.seek(position)
                block = handle.read(size)
                read += len(block)
                self.bytes_read += len(block)
                lines = (block + carry).split(b"\n")
                # The first piece may be the end of a line that starts further back.
                carry = lines[0] if position > 0 else b""
                for line in reversed(lines[1:] if position > 0 else lines):
                    model = _assistant_model(line)
                    if model is not None:
                        return model
            return None

    def read_increment(self, path: str, state: dict[str, Any], fmt: str) -> dict[str, Any]:
        """Read what `path` gained since `state["offset"]`; update `state`; return what was
        found: `tokens` (the new tokens, by kind) and `model` (the newest raw model name)."""
        found: dict[str, Any] = {"tokens": {}, "model": None}
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError:
            return found
        with handle:
            size = os.fstat(handle.fileno()).st_size
            offset = state.get("offset")
            if not isinstance(offset, int) or offset > size:
                # First sight (or the file was replaced): count from the start if it is small.
                offset = 0 if size <= FIRST_BOUND else size
                if offset:
                    _rebase(state, fmt)
            if size - offset > INCREMENT_BOUND:
                offset = size - INCREMENT_BOUND
                _rebase(state, fmt)
            handle.seek(offset)
            data = handle.read(size - offset)
            self.bytes_read += len(data)
        end = data.rfind(b"\n") + 1  # complete lines only; a line being written waits
        state["offset"] = offset + end
        for line in data[:end].split(b"\n"):
            if fmt == CLAUDE:
                _claude_line(line, state, found)
            elif b'"token_count"' in line:
                _codex_line(line, state, found)
        return found


def _rebase(state: dict[str, Any], fmt: str) -> None:
    """Lines were skipped: Codex's next running total is a starting point, not news."""
    if fmt == CODEX:
        state["rebase"] = True


def _assistant_model(line: bytes) -> str | None:
    if b'"assistant"' not in line or b'"model"' not in line:
        return None
    record = _loads(line)
    if record is None or record.get("type") != "assistant":
        return None
    message = record.get("message")
    model = message.get("model") if isinstance(message, dict) else None
    return model if isinstance(model, str) and model and model != "<synthetic>" else None


def _loads(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _add(found: dict[str, Any], kind: str, count: int) -> None:
    if count > 0:
        found["tokens"][kind] = found["tokens"].get(kind, 0) + count


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


_CLAUDE_USAGE = (
    ("in", "input_tokens"),
    ("out", "output_tokens"),
    ("cache_read", "cache_read_input_tokens"),
    ("cache_write", "cache_creation_input_tokens"),
)


def _claude_line(line: bytes, state: dict[str, Any], found: dict[str, Any]) -> None:
    if b'"assistant"' not in line:
        return
    record = _loads(line)
    if record is None or record.get("type") != "assistant":
        return
    message = record.get("message")
    if not isinstance(message, dict):
        return
    model = message.get("model")
    if isinstance(model, str) and model and model != "<synthetic>":
        found["model"] = model
    usage = message.get("usage")
    if not isinstance(usage, dict):
        return
    message_id = message.get("id")
    counted = state.get("msg_usage") if message_id and message_id == state.get("msg") else None
    if not isinstance(counted, dict):
        counted = {}
    now = {kind: _count(usage.get(field)) for kind, field in _CLAUDE_USAGE}
    for kind, value in now.items():
        _add(found, kind, value - counted.get(kind, 0))
    state["msg"] = message_id
    state["msg_usage"] = {k: max(v, counted.get(k, 0)) for k, v in now.items()}


def _codex_line(line: bytes, state: dict[str, Any], found: dict[str, Any]) -> None:
    record = _loads(line)
    payload = record.get("payload") if record else None
    info = payload.get("info") if isinstance(payload, dict) else None
    total = info.get("total_token_usage") if isinstance(info, dict) else None
    if not isinstance(total, dict):
        return
    cached = _count(total.get("cached_input_tokens"))
    now = {
        "in": max(0, _count(total.get("input_tokens")) - cached),
        "out": _count(total.get("output_tokens")),
        "cache_read": cached,
    }
    before = state.get("total")
    if not isinstance(before, dict):
        before = {}
    rebase = state.pop("rebase", False) is True
    if not rebase and all(value >= before.get(kind, 0) for kind, value in now.items()):
        for kind, value in now.items():
            _add(found, kind, value - before.get(kind, 0))
    # After skipped lines, or when the total went down (a new count), this total is only
    # the starting point for the next one.
    state["total"] = now
