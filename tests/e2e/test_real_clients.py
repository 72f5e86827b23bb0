"""End to end with the real clients: Claude Code, Codex and OpenCode from the npm registry.

Each test installs agent-tracker's integration for one client (`agent-tracker integrate`),
runs the client non-interactively in a fresh git repository against the scripted model of
model_server.py on 127.0.0.1 (write hello.txt, commit it, say "Done"), and checks what
agent-tracker captured: harness, agent, model, the client's own session id, the tool calls,
and the commit credited to that session (source `session`).

Skipped, with the reason, when Node.js/npm are missing or the clients could not be installed
(clients.py). Every client run is bounded (CLIENT_TIMEOUT), and so is the model server.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import clients
import pytest
from conftest import git, run_tracker
from model_server import COMMIT_MESSAGE, INPUT_TOKENS, MODEL, OUTPUT_TOKENS, ScriptedModel

pytestmark = pytest.mark.e2e

CLIENT_TIMEOUT = 180  # seconds for one client run (seen: 1-2 s Claude, Codex; 14-30 s OpenCode)
SETTLE_SECONDS = 30  # how long the detached hook processes may take to reach the database
PROMPT = "Create hello.txt and commit it."
# Variables of the machine that must not leak into a client: its own, a provider's, ours.
_DROP_PREFIXES = ("CLAUDE", "CODEX", "OPENCODE", "ANTHROPIC", "OPENAI", "XDG_", "AGENT_TRACKER_")
_LOOPBACK = "127.0.0.1,localhost"


@pytest.fixture(scope="session")
def installed() -> clients.Clients:
    found = clients.find()
    if isinstance(found, str):
        pytest.skip(f"real clients not available: {found}")
    return found


@pytest.fixture
def repo(make_repo: Callable[..., Path]) -> Path:
    """A repository with agent-tracker's git hooks and one commit by a person."""
    repo = make_repo("app")
    tracker(repo, "hooks", "install")
    (repo / "README.md").write_text("app\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "Start")
    return repo


def tracker(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = run_tracker(*args, cwd=repo, env=env)
    assert done.returncode == 0, f"agent-tracker {' '.join(args)}: {done.stderr}"
    return done.stdout


def client_env(installed: clients.Clients, repo: Path, **extra: str) -> dict[str, str]:
    """The test's environment (HOME already in tmp), the clients on PATH, the model on
    loopback."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_DROP_PREFIXES) and name != "AGENT"
    }
    # A proxy the machine may need for the npm registry (OpenCode installs its plugin
    # dependencies at start) must never see the model's traffic.
    no_proxy = ",".join(filter(None, [_LOOPBACK, env.get("NO_PROXY"), env.get("no_proxy")]))
    bin_dir = str(installed.bin("claude").parent)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        PWD=str(repo),  # OpenCode takes its project folder from $PWD
        NO_PROXY=no_proxy,
        no_proxy=no_proxy,
    )
    env.update(extra)
    return env


def integrate(repo: Path, harness: str, env: dict[str, str]) -> None:
    """`agent-tracker integrate <harness>` at user level, in the client's environment (its
    HOME, CODEX_HOME, and the client on PATH, which `integrate claude-code` asks its version)."""
    tracker(repo, "integrate", harness, env=env)


def run_client(
    argv: list[str], repo: Path, env: dict[str, str], model: ScriptedModel
) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            argv,
            cwd=repo,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{argv[0]} ran past {CLIENT_TIMEOUT} s\n{error.stderr!r}\n{model.summary()}")
    explain = f"\nstdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-2000:]}\n{model.summary()}"
    assert done.returncode == 0, f"{argv[0]} exited {done.returncode}{explain}"
    subjects = git(repo, "log", "--format=%s")
    assert COMMIT_MESSAGE in subjects.splitlines(), f"the client made no commit{explain}"
    return done


def settled_facts(
    repo: Path, enough: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The exported facts once the hooks' detached processes have delivered (bounded wait).

    The clients start `agent-tracker hook` (and the OpenCode plugin its calls) without
    waiting, and a session's end starts a detached flush; a flush that finds another one
    running says "busy". So: flush, export, and look again until the facts are there.
    """
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        run_tracker("flush", cwd=repo)
        facts = [json.loads(line) for line in tracker(repo, "export").splitlines() if line]
        if enough(facts) or time.monotonic() > deadline:
            return facts
        time.sleep(0.5)


def check_capture(
    repo: Path,
    model: ScriptedModel,
    *,
    setup: dict[str, str],
    tool_calls: int,
    commands: int,
) -> None:
    """What agent-tracker holds after one scripted run: the session's usage under the right
    setup (tool calls, commands, tokens) and the agent's commit credited to that session."""
    head = git(repo, "rev-parse", "HEAD")
    session = setup["session"]
    # Every scripted answer reports the same usage; side requests (titles) are not the
    # session's work. Each harness reads tokens its own way (transcript, rollout, plugin).
    tokens = (INPUT_TOKENS * model.scripted_answers(), OUTPUT_TOKENS * model.scripted_answers())

    def totals(facts: list[dict[str, Any]]) -> dict[str, int]:
        keys = ("tool_calls", "commands", "failures", "tokens_in", "tokens_out")
        usage = [f for f in facts if f.get("kind") == "usage" and f.get("session") == session]
        return {key: sum(f.get(key, 0) for f in usage) for key in keys}

    expected = {
        "tool_calls": tool_calls,
        "commands": commands,
        "failures": 0,
        "tokens_in": tokens[0],
        "tokens_out": tokens[1],
    }

    def enough(facts: list[dict[str, Any]]) -> bool:
        commits = [f for f in facts if f.get("kind") == "commit" and f.get("hash") == head]
        return totals(facts) == expected and bool(commits)

    facts = settled_facts(repo, enough)
    shown = "\n".join(json.dumps(fact, sort_keys=True) for fact in facts)
    mine = [f for f in facts if f.get("session") == session]
    assert mine, f"nothing recorded for the session {session}:\n{shown}"
    for fact in mine:
        assert {key: fact.get(key) for key in setup} == setup, shown
    assert totals(facts) == expected, shown

    commits = [f for f in facts if f.get("kind") == "commit" and f.get("hash") == head]
    assert len(commits) == 1, f"commit {head} not recorded once:\n{shown}"
    assert commits[0].get("source") == "session", shown
    # The person's commit, made before the session, is nobody's.
    first = git(repo, "rev-list", "--max-parents=0", "HEAD")
    person = [f for f in facts if f.get("kind") == "commit" and f.get("hash") == first]
    assert [(f.get("source"), f.get("session")) for f in person] == [("unknown", None)], shown


def test_claude_code(installed: clients.Clients, repo: Path) -> None:
    with ScriptedModel(repo) as model:
        env = client_env(
            installed,
            repo,
            ANTHROPIC_BASE_URL=model.url,
            ANTHROPIC_API_KEY="sk-ant-scripted-model",
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
            DISABLE_AUTOUPDATER="1",
            DISABLE_TELEMETRY="1",
            DISABLE_ERROR_REPORTING="1",
        )
        integrate(repo, "claude-code", env)
        argv = [
            str(installed.bin("claude")), "-p", PROMPT, "--model", MODEL,
            # Unattended: allow exactly the two tools the script uses (root may not use
            # --dangerously-skip-permissions, and needs nothing more).
            "--allowedTools", "Write,Bash", "--output-format", "json",
        ]  # fmt: skip
        done = run_client(argv, repo, env, model)
    session = json.loads(done.stdout)["session_id"]
    setup = {"harness": "claude-code", "agent": "main", "model": MODEL, "session": session}
    # Write is a tool call; the Bash call that ran git is a command.
    check_capture(repo, model, setup=setup, tool_calls=1, commands=1)


def test_codex(installed: clients.Clients, repo: Path, home: Path) -> None:
    codex_home = home / ".codex"
    with ScriptedModel(repo) as model:
        env = client_env(installed, repo, CODEX_HOME=str(codex_home), FAKE_API_KEY="scripted")
        codex_home.mkdir(exist_ok=True)
        (codex_home / "config.toml").write_text(
            f'model = "{MODEL}"\n'
            'model_provider = "fake"\n'
            "check_for_update_on_startup = false\n"
            "[analytics]\n"
            "enabled = false\n"
            "[model_providers.fake]\n"
            'name = "fake"\n'
            f'base_url = "{model.url}/v1"\n'
            'env_key = "FAKE_API_KEY"\n'
            'wire_api = "responses"\n'
        )
        integrate(repo, "codex", env)
        argv = [
            str(installed.bin("codex")), "exec", "--json",
            # Codex skips a hook nobody trusted in its interface, without a word.
            "--dangerously-bypass-hook-trust",
            "--dangerously-bypass-approvals-and-sandbox",
            PROMPT,
        ]  # fmt: skip
        done = run_client(argv, repo, env, model)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    session = next(e["thread_id"] for e in lines if e.get("type") == "thread.started")
    setup = {"harness": "codex", "agent": "main", "model": MODEL, "session": session}
    # Both shell calls (printf, git) are commands.
    check_capture(repo, model, setup=setup, tool_calls=0, commands=2)


def test_opencode(installed: clients.Clients, repo: Path, home: Path) -> None:
    config_dir = home / ".config" / "opencode"
    with ScriptedModel(repo) as model:
        env = client_env(
            installed,
            repo,
            OPENCODE_DISABLE_AUTOUPDATE="1",
            OPENCODE_DISABLE_MODELS_FETCH="1",
            OPENCODE_DISABLE_LSP_DOWNLOAD="1",
            OPENCODE_DISABLE_SHARE="1",
        )
        config_dir.mkdir(parents=True, exist_ok=True)
        provider = {
            "npm": "@ai-sdk/openai-compatible",
            "name": "Fake",
            "options": {"baseURL": f"{model.url}/v1", "apiKey": "scripted"},
            "models": {MODEL: {"name": "Fake model", "tool_call": True}},
        }
        config = {
            "model": f"fake/{MODEL}",
            "autoupdate": False,
            "share": "disabled",
            "provider": {"fake": provider},
        }
        (config_dir / "opencode.json").write_text(json.dumps(config, indent=2))
        integrate(repo, "opencode", env)
        argv = [str(installed.bin("opencode")), "run", "--format", "json", PROMPT]
        done = run_client(argv, repo, env, model)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    session = next(e["sessionID"] for e in lines if e.get("sessionID"))
    setup = {"harness": "opencode", "agent": "build", "model": f"fake/{MODEL}", "session": session}
    # The write tool is a tool call; the bash call that ran git is a command.
    check_capture(repo, model, setup=setup, tool_calls=1, commands=1)
