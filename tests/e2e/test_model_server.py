"""The scripted model on its own (no client needed): the script in each wire format, and its
bounds. The real clients' tests rely on both."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from model_server import COMMIT_COMMAND, FINAL_TEXT, HELLO_TEXT, SIDE_TEXT, ScriptedModel

#: Straight to 127.0.0.1, whatever HTTP(S)_PROXY the machine sets.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def post(model: ScriptedModel, path: str, body: dict[str, Any]) -> tuple[int, str]:
    request = urllib.request.Request(
        model.url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with DIRECT.open(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def events(stream: str) -> list[Any]:
    """The `data:` payloads of a server-sent event stream, decoded."""
    found = []
    for line in stream.splitlines():
        if line.startswith("data: "):
            data = line.removeprefix("data: ")
            found.append(data if data == "[DONE]" else json.loads(data))
    return found


def test_anthropic_messages_follow_the_script(tmp_path: Path) -> None:
    tools = [{"name": "Write"}, {"name": "Bash"}]
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t"}]}
    with ScriptedModel(tmp_path) as model:
        _, first = post(model, "/v1/messages", {"stream": True, "tools": tools, "messages": []})
        _, second = post(
            model, "/v1/messages", {"stream": True, "tools": tools, "messages": [result]}
        )
        _, third = post(
            model, "/v1/messages", {"stream": True, "tools": tools, "messages": [result, result]}
        )
        _, side = post(model, "/v1/messages", {"messages": []})
        _, count = post(model, "/v1/messages/count_tokens", {"messages": []})

    start = events(first)[1]["content_block"]
    assert start["name"] == "Write"
    write = json.loads(events(first)[2]["delta"]["partial_json"])
    assert write == {"file_path": str(tmp_path / "hello.txt"), "content": HELLO_TEXT}
    assert json.loads(events(second)[2]["delta"]["partial_json"])["command"] == COMMIT_COMMAND
    assert events(third)[2]["delta"] == {"type": "text_delta", "text": FINAL_TEXT}
    assert events(third)[-2]["delta"]["stop_reason"] == "end_turn"
    assert json.loads(side)["content"] == [{"type": "text", "text": SIDE_TEXT}]
    assert json.loads(count) == {"input_tokens": 120}


def test_responses_use_the_shell_tool_codex_offers(tmp_path: Path) -> None:
    exec_command = {
        "type": "function",
        "name": "exec_command",
        "parameters": {"properties": {"cmd": {"type": "string"}, "workdir": {}}},
    }
    output = {"type": "function_call_output", "call_id": "c", "output": ""}
    with ScriptedModel(tmp_path) as model:
        _, first = post(model, "/v1/responses", {"tools": [exec_command], "input": []})
        _, third = post(model, "/v1/responses", {"tools": [exec_command], "input": [output] * 2})

    call = next(e["item"] for e in events(first) if e["type"] == "response.output_item.done")
    assert call["name"] == "exec_command"
    assert json.loads(call["arguments"]) == {
        "cmd": "printf 'hello from the fake model\\n' > hello.txt",
        "workdir": str(tmp_path),
    }
    assert events(first)[-1]["type"] == "response.completed"
    done = next(e["item"] for e in events(third) if e["type"] == "response.output_item.done")
    assert done["content"][0]["text"] == FINAL_TEXT


def test_chat_completions_answer_the_title_agent_and_the_script(tmp_path: Path) -> None:
    tools = [{"type": "function", "function": {"name": n}} for n in ("write", "bash")]
    with ScriptedModel(tmp_path) as model:
        _, title = post(model, "/v1/chat/completions", {"messages": [{"role": "user"}]})
        _, first = post(model, "/v1/chat/completions", {"tools": tools, "messages": []})
        _, second = post(
            model, "/v1/chat/completions", {"tools": tools, "messages": [{"role": "tool"}]}
        )

    assert events(title)[0]["choices"][0]["delta"]["content"] == SIDE_TEXT
    call = events(first)[0]["choices"][0]["delta"]["tool_calls"][0]["function"]
    assert call["name"] == "write"
    assert events(first)[1]["choices"][0]["finish_reason"] == "tool_calls"
    assert events(first)[-1] == "[DONE]"
    bash = events(second)[0]["choices"][0]["delta"]["tool_calls"][0]["function"]
    assert json.loads(bash["arguments"])["command"] == COMMIT_COMMAND


def test_requests_past_the_limit_get_503_and_the_server_stops(tmp_path: Path) -> None:
    with ScriptedModel(tmp_path, max_requests=2) as model:
        statuses = [post(model, "/v1/messages", {"messages": []})[0] for _ in range(3)]
        url = model.url
    assert statuses == [200, 200, 503]
    with pytest.raises(urllib.error.URLError):
        DIRECT.open(url + "/v1/models", timeout=2)


def test_the_server_stops_by_itself_at_its_deadline(tmp_path: Path) -> None:
    with ScriptedModel(tmp_path, deadline=0.5) as model:
        assert post(model, "/v1/messages", {"messages": []})[0] == 200
        time.sleep(1.0)
        with pytest.raises(urllib.error.URLError):
            DIRECT.open(model.url + "/v1/models", timeout=2)
