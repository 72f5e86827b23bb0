"""The OpenCode plugin, driven by Node with the hook calls OpenCode 1.18.33 really made.

`opencode_replay.mjs` imports agent_tracker/integrations/opencode-plugin.js and calls its hooks
in the recorded order; the tracker command it starts is a small recorder that appends its
arguments and standard input to a file, so the tests see the exact payloads the plugin sends.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PLUGIN = REPO_ROOT / "agent_tracker" / "integrations" / "opencode-plugin.js"
DRIVER = Path(__file__).resolve().parent / "opencode_replay.mjs"
SHARED = Path(__file__).resolve().parents[2] / "shared"
RECORDED = SHARED / "fixtures" / "harness-payloads" / "opencode" / "opencode" / "hooks.jsonl"
PLACEHOLDER = '"@AGENT_TRACKER_COMMAND@"'

SESSION = "ses_dd3744056ffeeaJMHo44BdHWS1"
MODEL = "fake/fake-model-rc"
BASH_COMMAND = (
    "cd {repo} && git add -A && git commit -q -m 'Add hello.txt (fake model)' "
    "&& git log --oneline -1"
)

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not on PATH: the plugin needs Node")

RECORDER = textwrap.dedent(
    """\
    import json, os, sys, time
    out, gate = sys.argv[1], sys.argv[2]
    deadline = time.monotonic() + 10
    while gate != "-" and not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.02)
    line = {"pid": os.getpid(), "argv": sys.argv[3:], "stdin": sys.stdin.read()}
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.write(fd, (json.dumps(line) + "\\n").encode())
    os.close(fd)
    """
)


def recorded_hooks() -> Path:
    if not RECORDED.is_file():
        pytest.skip(f"the recorded OpenCode hook calls are not here: {RECORDED}")
    return RECORDED


class Replay:
    """One run of the driver, and what the plugin sent during it."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.repo = tmp_path / "repo"
        self.repo.mkdir(exist_ok=True)
        self.out = tmp_path / "sent.jsonl"
        self.gate = tmp_path / "gate"
        self.recorder = tmp_path / "recorder.py"
        self.recorder.write_text(RECORDER)
        self.report: dict[str, Any] = {}

    def recorder_command(self, gate: bool = True) -> list[str]:
        return [sys.executable, str(self.recorder), str(self.out), str(self.gate) if gate else "-"]

    def run(
        self,
        hooks: Path,
        command: list[str] | None = None,
        *,
        plugin: Path = PLUGIN,
        gate: bool = True,
        spawn_throws: bool = False,
        env: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        config = {
            "plugin": str(plugin),
            "hooks": str(hooks),
            "repo": str(self.repo),
            "gate": str(self.gate) if gate else None,
            "spawn_throws": spawn_throws,
            "timeout_ms": 20000,
        }
        config_path = self.tmp / "replay.json"
        config_path.write_text(json.dumps(config))
        run_env = dict(os.environ if env is None else env)
        if command is not None:
            run_env["AGENT_TRACKER_COMMAND"] = json.dumps(command)
        done = subprocess.run(
            [NODE or "node", str(DRIVER), str(config_path)],
            capture_output=True,
            text=True,
            env=run_env,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (
            f"replay failed ({done.returncode}): {done.stdout}{done.stderr}"
        )
        self.report = json.loads(done.stdout)
        assert self.report["hook_errors"] == []
        return self.report

    def sent(self) -> list[dict[str, Any]]:
        """The payloads in the order the plugin sent them (joined on the recorder's pid)."""
        if not self.out.exists():
            return []
        lines = [json.loads(line) for line in self.out.read_text().splitlines()]
        for line in lines:
            assert line["argv"] == ["hook", "opencode"]
        order = {spawn["pid"]: index for index, spawn in enumerate(self.report["spawns"])}
        lines.sort(key=lambda line: order[line["pid"]])
        return [json.loads(line["stdin"]) for line in lines]


def write_hooks(path: Path, steps: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(step) + "\n" for step in steps))
    return path


@pytest.fixture
def replay(tmp_path: Path) -> Replay:
    return Replay(tmp_path)


def test_recorded_run_sends_start_two_tool_calls_and_idle_with_the_build_setup(
    replay: Replay,
) -> None:
    replay.run(recorded_hooks(), replay.recorder_command())
    repo = str(replay.repo)
    setup = {"session_id": SESSION, "agent": "build", "model": MODEL}
    assert replay.sent() == [
        {"event": "session", "phase": "start", "cwd": repo, **setup},
        {"event": "tool", "tool": "write", "ok": True, "cwd": repo, **setup},
        {
            "event": "tool",
            "tool": "bash",
            "ok": True,
            "cwd": repo,
            "command": BASH_COMMAND.format(repo=repo),
            "tokens": {"in": 100, "out": 20, "reasoning": 0, "cache_read": 0, "cache_write": 0},
            **setup,
        },
        {
            "event": "session",
            "phase": "idle",
            "cwd": repo,
            "tokens": {"in": 200, "out": 40, "reasoning": 0, "cache_read": 0, "cache_write": 0},
            **setup,
        },
    ]


def test_no_hook_waits_for_the_tracker(replay: Replay) -> None:
    # Every recorder waits for the gate, which opens only after the last hook has returned.
    report = replay.run(recorded_hooks(), replay.recorder_command())
    assert report["timed_out"] is False
    assert report["ended_before_gate"] == 0
    assert len(report["spawns"]) == 4
    assert all(spawn["exit"] == 0 for spawn in report["spawns"])


def test_token_deltas_add_up_to_the_sessions_own_total(replay: Replay) -> None:
    # OpenCode updates each assistant message several times; the last session.updated of the
    # recording holds the session's true total.
    hooks = recorded_hooks()
    replay.run(hooks, replay.recorder_command())
    total = {"in": 0, "out": 0, "reasoning": 0, "cache_read": 0, "cache_write": 0}
    for payload in replay.sent():
        for key, value in payload.get("tokens", {}).items():
            total[key] += value
    steps = [json.loads(line) for line in hooks.read_text().splitlines()]
    last = next(
        step["input"]["properties"]["info"]["tokens"]
        for step in reversed(steps)
        if step["hook"] == "event" and step["input"]["type"] == "session.updated"
    )
    assert total == {
        "in": last["input"],
        "out": last["output"],
        "reasoning": last["reasoning"],
        "cache_read": last["cache"]["read"],
        "cache_write": last["cache"]["write"],
    }
    assert total["in"] > 0


def test_the_title_agent_never_labels_a_tool_call(replay: Replay) -> None:
    hooks = recorded_hooks()
    steps = [json.loads(line) for line in hooks.read_text().splitlines()]
    # Make the title agent speak right before each tool call, with a model of its own.
    title = next(s for s in steps if s["hook"] == "chat.params" and s["input"]["agent"] == "title")
    title = json.loads(json.dumps(title))
    title["input"]["model"]["providerID"] = "small"
    reordered: list[dict[str, Any]] = []
    for step in steps:
        if step["hook"] == "tool.execute.after":
            reordered.append(title)
        reordered.append(step)
    replay.run(write_hooks(replay.tmp / "title.jsonl", reordered), replay.recorder_command())
    sent = replay.sent()
    tools = [payload for payload in sent if payload["event"] == "tool"]
    assert [payload["tool"] for payload in tools] == ["write", "bash"]
    assert {(p["agent"], p["model"]) for p in sent} == {("build", MODEL)}


def test_shell_env_names_the_session_and_its_setup(replay: Replay) -> None:
    report = replay.run(recorded_hooks(), replay.recorder_command())
    assert report["envs"] == [
        {
            "AGENT_TRACKER_SESSION": SESSION,
            "AGENT_TRACKER_HARNESS": "opencode",
            "AGENT_TRACKER_AGENT": "build",
            "AGENT_TRACKER_MODEL": MODEL,
        }
    ]


def session_steps(session: str, agent: str, provider: str, model: str) -> dict[str, Any]:
    """Hook calls of one session, in OpenCode's shapes, by kind."""
    return {
        "params": {
            "hook": "chat.params",
            "input": {
                "sessionID": session,
                "agent": agent,
                "model": {"id": model, "providerID": provider},
            },
            "output": {},
        },
        "bash": lambda call, command, exit_code: {
            "hook": "tool.execute.after",
            "input": {
                "tool": "bash",
                "sessionID": session,
                "callID": call,
                "args": {"command": command, "workdir": "$REPO/sub"},
            },
            "output": {"title": command, "output": "", "metadata": {"exit": exit_code}},
        },
        "tokens": lambda message, tokens_in, cost: {
            "hook": "event",
            "input": {
                "type": "message.updated",
                "properties": {
                    "sessionID": session,
                    "info": {
                        "id": message,
                        "role": "assistant",
                        "sessionID": session,
                        "agent": agent,
                        "providerID": provider,
                        "modelID": model,
                        "cost": cost,
                        "tokens": {
                            "input": tokens_in,
                            "output": 1,
                            "reasoning": 0,
                            "cache": {"read": 2, "write": 0},
                        },
                    },
                },
            },
            "output": None,
        },
        "shell": {
            "hook": "shell.env",
            "input": {"cwd": "$REPO", "sessionID": session, "callID": "x"},
            "output": {"env": {"KEEP": "1"}},
        },
        "idle": {
            "hook": "event",
            "input": {"type": "session.idle", "properties": {"sessionID": session}},
            "output": None,
        },
    }


def test_interleaved_sessions_keep_their_own_agent_model_and_tokens(replay: Replay) -> None:
    a = session_steps("ses_a", "build", "anthropic", "claude-sonnet-4-5")
    b = session_steps("ses_b", "explore", "openai", "gpt-5")
    steps = [
        a["params"],
        b["params"],
        a["tokens"]("msg_a1", 10, 0.001),
        b["tokens"]("msg_b1", 7, 0.0),
        a["tokens"]("msg_a1", 15, 0.0015),  # the same message updated: only +5 and +0.0005
        a["shell"],
        b["bash"]("call_b1", "pytest -q", 1),
        a["bash"]("call_a1", "git status", 0),
        b["shell"],
        a["idle"],
        b["idle"],
    ]
    report = replay.run(write_hooks(replay.tmp / "two.jsonl", steps), replay.recorder_command())
    sub = str(replay.repo / "sub")
    repo = str(replay.repo)
    a_setup = {"session_id": "ses_a", "agent": "build", "model": "anthropic/claude-sonnet-4-5"}
    b_setup = {"session_id": "ses_b", "agent": "explore", "model": "openai/gpt-5"}
    tokens_b = {"in": 7, "out": 1, "reasoning": 0, "cache_read": 2, "cache_write": 0}
    tokens_a = {"in": 15, "out": 1, "reasoning": 0, "cache_read": 2, "cache_write": 0}
    assert replay.sent() == [
        {"event": "session", "phase": "start", "cwd": repo, **a_setup},
        {"event": "session", "phase": "start", "cwd": repo, **b_setup},
        {"event": "tool", "tool": "bash", "command": "pytest -q", "ok": False, "cwd": sub,
         "tokens": tokens_b, **b_setup},
        {"event": "tool", "tool": "bash", "command": "git status", "ok": True, "cwd": sub,
         "tokens": tokens_a, "cost": 0.0015, **a_setup},
        {"event": "session", "phase": "idle", "cwd": repo, **a_setup},
        {"event": "session", "phase": "idle", "cwd": repo, **b_setup},
    ]  # fmt: skip
    assert report["envs"] == [
        {
            "KEEP": "1",
            "AGENT_TRACKER_SESSION": "ses_a",
            "AGENT_TRACKER_HARNESS": "opencode",
            "AGENT_TRACKER_AGENT": "build",
            "AGENT_TRACKER_MODEL": "anthropic/claude-sonnet-4-5",
        },
        {
            "KEEP": "1",
            "AGENT_TRACKER_SESSION": "ses_b",
            "AGENT_TRACKER_HARNESS": "opencode",
            "AGENT_TRACKER_AGENT": "explore",
            "AGENT_TRACKER_MODEL": "openai/gpt-5",
        },
    ]


def test_a_tool_that_threw_is_sent_once_as_a_failure(replay: Replay) -> None:
    # A tool that throws never reaches tool.execute.after: OpenCode marks its part "error".
    def part(status: str, call: str, interrupted: bool = False) -> dict[str, Any]:
        state = {"status": status, "input": {"filePath": "$REPO/x"}, "error": "no such file"}
        if interrupted:
            state["metadata"] = {"interrupted": True}
        return {
            "hook": "event",
            "input": {
                "type": "message.part.updated",
                "properties": {
                    "sessionID": "ses_e",
                    "part": {"type": "tool", "tool": "read", "callID": call,
                             "sessionID": "ses_e", "state": state},
                },
            },
            "output": None,
        }  # fmt: skip

    steps = [
        session_steps("ses_e", "build", "fake", "m")["params"],
        part("running", "call_1"),
        part("error", "call_1"),
        part("error", "call_1"),  # OpenCode sends a part again when anything on it changes
        part("error", "call_2", interrupted=True),  # cut off by the person: not a failure
    ]
    replay.run(write_hooks(replay.tmp / "error.jsonl", steps), replay.recorder_command())
    tools = [payload for payload in replay.sent() if payload["event"] == "tool"]
    assert tools == [
        {"event": "tool", "tool": "read", "ok": False, "cwd": str(replay.repo),
         "session_id": "ses_e", "agent": "build", "model": "fake/m"},
    ]  # fmt: skip


def test_a_command_event_names_the_command(replay: Replay) -> None:
    steps = [
        session_steps("ses_c", "plan", "fake", "m")["params"],
        {
            "hook": "event",
            "input": {
                "type": "command.executed",
                "properties": {"name": "init", "sessionID": "ses_c", "arguments": ""},
            },
            "output": None,
        },
    ]
    replay.run(write_hooks(replay.tmp / "command.jsonl", steps), replay.recorder_command())
    assert replay.sent()[1:] == [
        {"event": "command", "name": "init", "cwd": str(replay.repo),
         "session_id": "ses_c", "agent": "plan", "model": "fake/m"},
    ]  # fmt: skip


def test_a_missing_tracker_never_throws_into_opencode(replay: Replay) -> None:
    report = replay.run(recorded_hooks(), [str(replay.tmp / "no-such-agent-tracker")], gate=False)
    assert len(report["spawns"]) == 4
    assert {spawn["error"] for spawn in report["spawns"]} == {"ENOENT"}


def test_a_spawn_that_throws_never_throws_into_opencode(replay: Replay) -> None:
    report = replay.run(recorded_hooks(), replay.recorder_command(), spawn_throws=True, gate=False)
    assert report["spawns"] == []
    assert report["envs"][0]["AGENT_TRACKER_SESSION"] == SESSION


def test_the_installed_command_line_replaces_the_placeholder(replay: Replay) -> None:
    source = PLUGIN.read_text()
    assert source.count(PLACEHOLDER) == 1
    installed = replay.tmp / "agent-tracker.js"
    installed.write_text(source.replace(PLACEHOLDER, json.dumps(replay.recorder_command())))
    # The installed command wins over the variable a test or a person may have set.
    replay.run(recorded_hooks(), ["no-such-agent-tracker"], plugin=installed)
    assert [payload["event"] for payload in replay.sent()] == ["session", "tool", "tool", "session"]


def test_without_configuration_agent_tracker_comes_from_path(replay: Replay) -> None:
    bin_dir = replay.tmp / "bin"
    bin_dir.mkdir()
    # `agent-tracker` on PATH: a shell wrapper around the recorder.
    script = bin_dir / "agent-tracker"
    script.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{replay.recorder}" "{replay.out}" - "$@"\n'
    )
    script.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "AGENT_TRACKER_COMMAND"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    replay.run(recorded_hooks(), None, gate=False, env=env)
    assert len(replay.sent()) == 4


def test_the_real_tracker_accepts_every_payload(replay: Replay) -> None:
    tracker = [sys.executable, "-m", "agent_tracker"]
    probe = subprocess.run(
        [*tracker, "hook", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    if probe.returncode != 0:
        pytest.skip("`agent-tracker hook` is not a command yet")
    replay.run(recorded_hooks(), replay.recorder_command(gate=False), gate=False)
    payloads = replay.sent()
    assert payloads
    for payload in payloads:
        done = subprocess.run(
            [*tracker, "hook", "opencode"],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (done.returncode, done.stdout) == (0, ""), done.stderr
    # And started by the plugin itself, detached: every run exits 0.
    report = replay.run(recorded_hooks(), tracker, gate=False)
    assert [spawn["exit"] for spawn in report["spawns"]] == [0, 0, 0, 0]
