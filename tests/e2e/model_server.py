"""A scripted model on 127.0.0.1 that the real clients talk to instead of a provider.

It speaks the three wire formats the clients use, each streamed as server-sent events:
Anthropic's Messages API (Claude Code), OpenAI's Responses API (Codex) and OpenAI's Chat
Completions API (OpenCode through @ai-sdk/openai-compatible). Every client gets the same
script, chosen by how many tool results its conversation already holds:

1. a tool call that writes hello.txt in the work folder,
2. a shell call that commits it,
3. the final text "Done".

A request that offers none of the tools a step needs (a title, a summary, a quota check)
gets a short text answer. The server is bounded: it answers at most `max_requests`
requests (later ones get 503), stops by itself `deadline` seconds after it started, and
stops when the test does.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MODEL = "fake-model-rc"
HELLO_TEXT = "hello from the fake model\n"
COMMIT_MESSAGE = "Add hello.txt (fake model)"
COMMIT_COMMAND = f"git add -A && git commit -q -m '{COMMIT_MESSAGE}'"
WRITE_COMMAND = "printf 'hello from the fake model\\n' > hello.txt"
FINAL_TEXT = "Done"
SIDE_TEXT = "Add hello.txt"  # titles and other side requests
INPUT_TOKENS = 120  # the usage every answer reports
OUTPUT_TOKENS = 30

_ids = itertools.count(1)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{int(time.time())}{next(_ids):04d}"


@dataclass
class Call:
    """One tool call the script asks for, in the client's own tool vocabulary."""

    name: str
    arguments: dict[str, Any]


@dataclass
class Seen:
    """One request the server received (for assertions and for a failure's message)."""

    method: str
    path: str
    body: Any
    answer: str = ""
    scripted: bool = False  # answered with a step of the script (not a side request)


@dataclass
class ScriptedModel:
    """The server; use it as a context manager so that it always stops."""

    workdir: Path
    max_requests: int = 200
    deadline: float = 300.0
    seen: list[Seen] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _watchdog: threading.Timer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _started: float = 0.0

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ScriptedModel:
        handler = type("Handler", (_Handler,), {"model": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._started = time.monotonic()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        # Stops by itself at the deadline, even if the test that started it hangs.
        self._watchdog = threading.Timer(self.deadline, self._stop)
        self._watchdog.daemon = True
        self._watchdog.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._stop()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _stop(self) -> None:
        """Stop serving and close the port (a second call changes nothing)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def admit(self, seen: Seen) -> bool:
        """Record a request; False once the request limit or the deadline is passed."""
        with self._lock:
            self.seen.append(seen)
            over_time = time.monotonic() - self._started > self.deadline
            return len(self.seen) <= self.max_requests and not over_time

    def scripted_answers(self) -> int:
        """How many requests got a step of the script: the working agent's turns."""
        return sum(1 for seen in self.seen if seen.scripted)

    def summary(self) -> str:
        """One line per request, for a failing test's message."""
        return "\n".join(f"{s.method} {s.path} -> {s.answer}" for s in self.seen)

    # The script, in each client's vocabulary.

    def anthropic_step(self, body: dict[str, Any]) -> Call | str:
        tools = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
        done = sum(
            1
            for message in body.get("messages") or []
            if isinstance(message.get("content"), list)
            for block in message["content"]
            if isinstance(block, dict) and block.get("type") == "tool_result"
        )
        if done == 0 and "Write" in tools:
            path = str(self.workdir / "hello.txt")
            return Call("Write", {"file_path": path, "content": HELLO_TEXT})
        if done == 1 and "Bash" in tools:
            return Call("Bash", {"command": COMMIT_COMMAND, "description": "Commit hello.txt"})
        return FINAL_TEXT if "Bash" in tools else SIDE_TEXT

    def responses_step(self, body: dict[str, Any]) -> Call | str:
        shell = _codex_shell_tool(body.get("tools") or [])
        items = body.get("input") or []
        done = sum(
            1
            for item in items
            if isinstance(item, dict) and str(item.get("type", "")).endswith("call_output")
        )
        if shell is None:
            return SIDE_TEXT
        if done == 0:
            return _codex_shell_call(shell, WRITE_COMMAND, self.workdir)
        if done == 1:
            return _codex_shell_call(shell, COMMIT_COMMAND, self.workdir)
        return FINAL_TEXT

    def chat_step(self, body: dict[str, Any]) -> Call | str:
        tools = {
            (t.get("function") or {}).get("name")
            for t in body.get("tools") or []
            if isinstance(t, dict)
        }
        done = sum(1 for m in body.get("messages") or [] if m.get("role") == "tool")
        if done == 0 and "write" in tools:
            path = str(self.workdir / "hello.txt")
            return Call("write", {"filePath": path, "content": HELLO_TEXT})
        if done == 1 and "bash" in tools:
            arguments = {
                "command": COMMIT_COMMAND,
                "description": "Commit hello.txt",
                "workdir": str(self.workdir),
            }
            return Call("bash", arguments)
        return FINAL_TEXT if "bash" in tools else SIDE_TEXT


def _codex_shell_tool(tools: list[Any]) -> dict[str, Any] | None:
    """The shell tool Codex offers this model (its name and arguments vary by model family)."""
    by_name = {t.get("name"): t for t in tools if isinstance(t, dict) and t.get("name")}
    for name in ("shell_command", "exec_command", "shell"):
        if name in by_name:
            return by_name[name]
    return None


def _codex_shell_call(tool: dict[str, Any], command: str, workdir: Path) -> Call:
    props = (tool.get("parameters") or {}).get("properties") or {}
    arguments: dict[str, Any] = {}
    if "cmd" in props:
        arguments["cmd"] = command
    elif (props.get("command") or {}).get("type") == "array":
        arguments["command"] = ["bash", "-lc", command]
    else:
        arguments["command"] = command
    if "workdir" in props:
        arguments["workdir"] = str(workdir)
    return Call(tool["name"], arguments)


def _sse(event: str | None, data: Any) -> bytes:
    head = f"event: {event}\n" if event else ""
    text = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {text}\n\n".encode()


def _anthropic_stream(step: Call | str) -> Iterator[bytes]:
    usage = {
        "input_tokens": INPUT_TOKENS,
        "output_tokens": 1,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }
    message = {
        "id": _new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    yield _sse("message_start", {"type": "message_start", "message": message})
    if isinstance(step, Call):
        block = {"type": "tool_use", "id": _new_id("toolu"), "name": step.name, "input": {}}
        delta = {"type": "input_json_delta", "partial_json": json.dumps(step.arguments)}
        stop = "tool_use"
    else:
        block = {"type": "text", "text": ""}
        delta = {"type": "text_delta", "text": step}
        stop = "end_turn"
    yield _sse(
        "content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}
    )
    yield _sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
    yield _sse("content_block_stop", {"type": "content_block_stop", "index": 0})
    yield _sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": OUTPUT_TOKENS},
        },
    )
    yield _sse("message_stop", {"type": "message_stop"})


def _anthropic_message(step: Call | str) -> dict[str, Any]:
    if isinstance(step, Call):
        content = [
            {"type": "tool_use", "id": _new_id("toolu"), "name": step.name, "input": step.arguments}
        ]
        stop = "tool_use"
    else:
        content = [{"type": "text", "text": step}]
        stop = "end_turn"
    return {
        "id": _new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS},
    }


def _responses_stream(step: Call | str) -> Iterator[bytes]:
    response_id = _new_id("resp")
    base = {
        "id": response_id,
        "object": "response",
        "model": MODEL,
        "status": "in_progress",
        "output": [],
    }
    yield _sse("response.created", {"type": "response.created", "response": base})
    if isinstance(step, Call):
        item: dict[str, Any] = {
            "type": "function_call",
            "id": _new_id("fc"),
            "call_id": _new_id("call"),
            "name": step.name,
            "arguments": json.dumps(step.arguments),
            "status": "completed",
        }
    else:
        item = {
            "type": "message",
            "id": _new_id("msg"),
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": step, "annotations": []}],
        }
        yield _sse(
            "response.output_item.added",
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {**item, "status": "in_progress", "content": []},
            },
        )
        yield _sse(
            "response.output_text.delta",
            {
                "type": "response.output_text.delta",
                "item_id": item["id"],
                "output_index": 0,
                "content_index": 0,
                "delta": step,
            },
        )
    yield _sse(
        "response.output_item.done",
        {"type": "response.output_item.done", "output_index": 0, "item": item},
    )
    usage = {
        "input_tokens": INPUT_TOKENS,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": OUTPUT_TOKENS,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
    }
    done = {**base, "status": "completed", "output": [item], "usage": usage}
    yield _sse("response.completed", {"type": "response.completed", "response": done})


def _chat_stream(step: Call | str) -> Iterator[bytes]:
    chunk_id = _new_id("chatcmpl")

    def chunk(delta: dict[str, Any], finish: str | None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return _sse(
            None,
            {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": MODEL,
                "choices": [choice],
                **extra,
            },
        )

    if isinstance(step, Call):
        call = {
            "index": 0,
            "id": _new_id("call"),
            "type": "function",
            "function": {"name": step.name, "arguments": json.dumps(step.arguments)},
        }
        yield chunk({"role": "assistant", "content": None, "tool_calls": [call]}, None)
        finish = "tool_calls"
    else:
        yield chunk({"role": "assistant", "content": step}, None)
        finish = "stop"
    usage = {
        "prompt_tokens": INPUT_TOKENS,
        "completion_tokens": OUTPUT_TOKENS,
        "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
    }
    yield chunk({}, finish, usage=usage)
    yield _sse(None, "[DONE]")


class _Handler(BaseHTTPRequestHandler):
    model: ScriptedModel
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test prints `ScriptedModel.summary()` when it fails."""

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw[:200].decode(errors="replace")

    def _json(self, status: int, payload: Any, seen: Seen) -> None:
        data = json.dumps(payload).encode()
        seen.answer = f"{status} json"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, chunks: Iterator[bytes], seen: Seen, step: Call | str) -> None:
        seen.answer = f"stream {step.name if isinstance(step, Call) else repr(step)}"
        seen.scripted = step != SIDE_TEXT
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for piece in chunks:
            self.wfile.write(piece)
            self.wfile.flush()

    def do_GET(self) -> None:
        seen = Seen("GET", self.path, None)
        if not self.model.admit(seen):
            self._json(503, {"error": {"message": "scripted model: limit reached"}}, seen)
            return
        path = self.path.split("?")[0].rstrip("/")
        if path.endswith("/models"):
            entry = {
                "id": MODEL,
                "object": "model",
                "created": 0,
                "owned_by": "fake",
                "type": "model",
                "display_name": "Fake model",
            }
            self._json(
                200,
                {
                    "object": "list",
                    "data": [entry],
                    "has_more": False,
                    "first_id": MODEL,
                    "last_id": MODEL,
                },
                seen,
            )
            return
        self._json(404, {"error": {"type": "not_found_error", "message": self.path}}, seen)

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        body = self._body()
        seen = Seen("POST", self.path, body)
        if not self.model.admit(seen):
            self._json(503, {"error": {"message": "scripted model: limit reached"}}, seen)
            return
        path = self.path.split("?")[0].rstrip("/")
        if not isinstance(body, dict):
            self._json(400, {"error": {"message": "expected a JSON object"}}, seen)
        elif path.endswith("/messages/count_tokens"):
            self._json(200, {"input_tokens": INPUT_TOKENS}, seen)
        elif path.endswith("/messages"):
            step = self.model.anthropic_step(body)
            if body.get("stream"):
                self._stream(_anthropic_stream(step), seen, step)
            else:
                self._json(200, _anthropic_message(step), seen)
        elif path.endswith("/responses"):
            step = self.model.responses_step(body)
            self._stream(_responses_stream(step), seen, step)
        elif path.endswith("/chat/completions"):
            step = self.model.chat_step(body)
            self._stream(_chat_stream(step), seen, step)
        else:
            self._json(404, {"error": {"type": "not_found_error", "message": self.path}}, seen)
