"""`agent-tracker hook HARNESS` against the payloads real clients sent (shared fixtures).

Each recorded payload is fed to a real `python -m agent_tracker hook ...` process, with the
recording's placeholders ($REPO, $HOME, ...) pointed at a real repository and home folder in
the test's temporary folder; the journal it writes is checked event by event.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import git

from agent_tracker import config
from agent_tracker.journal import Journal
from agent_tracker.sessions import SessionStore

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "harness-payloads"
# Skipped in a checkout without shared/ beside it; never in CI, which always has it.
needs_fixtures = pytest.mark.skipif(
    not FIXTURES.is_dir() and not os.environ.get("CI"),
    reason=f"recorded harness payloads not found at {FIXTURES}",
)
CLAUDE_SESSION = "ff369768-45b1-42b6-bc21-e78c53b00aab"
CLAUDE_FAILURE_SESSION = "63151f2e-6747-47bb-a570-9cb5fbd4b93a"
CODEX_SESSION = "01a22c8c-4efd-7ef1-bd33-0b9401ac070a"


def hook(
    harness: str, payload: bytes, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "agent_tracker", "hook", harness],
        input=payload,
        capture_output=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def journal() -> list[dict[str, Any]]:
    settings = config.load()
    good, bad = Journal(settings.journal_dir).read(settings.journal_dir / "live.jsonl")
    assert bad == []
    return good


def summary(found: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (e["type"], e["name"], e.get("ok", True), e["harness"], e["agent"], e["model"])
        for e in found
    ]


class Recording:
    """One recorded run: its payloads with the placeholders filled in."""

    def __init__(self, folder: Path, repo: Path, home: Path) -> None:
        self.folder = folder
        self.places = {
            "$REPO": str(repo),
            "$HOME": str(home),
            "$DASHED_REPO": str(repo).replace("/", "-"),
            "$TMP": str(home.parent),
            "$CLIENTS": str(home.parent / "clients"),
        }

    def fill(self, text: str) -> str:
        for name in sorted(self.places, key=len, reverse=True):
            text = text.replace(name, self.places[name])
        return text

    def payloads(self) -> list[tuple[str, bytes]]:
        files = sorted(self.folder.glob("*.json"))
        return [(f.stem, self.fill(f.read_text()).encode()) for f in files]

    def transcript_of(self, name: str) -> Path:
        payload = json.loads(dict(self.payloads())[name])
        return Path(payload["transcript_path"])


def assistant_line(model: str, message_id: str, usage: dict[str, int], **extra: Any) -> str:
    record = {
        "type": "assistant",
        "message": {"model": model, "id": message_id, "role": "assistant", "usage": usage},
        **extra,
    }
    return json.dumps(record) + "\n"


@pytest.fixture
def repo(make_repo: Callable[..., Path]) -> Path:
    path: Path = make_repo("repo")
    return path


@needs_fixtures
def test_claude_code_recorded_session_gives_exact_events(repo: Path, home: Path) -> None:
    recording = Recording(FIXTURES / "claude" / "claude", repo, home)
    transcript = recording.transcript_of("01-SessionStart")
    transcript.parent.mkdir(parents=True)
    usage = {"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 7}
    transcript.write_text(assistant_line("fake-model-rc", "msg_1", usage))
    for _, payload in recording.payloads():
        done = hook("claude-code", payload)
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    found = journal()
    setup = ("claude-code", "main", "fake-model-rc")
    assert summary(found) == [
        ("session", "start", True, *setup),
        ("tool", "Write", True, *setup),
        ("command", "git", True, *setup),
        ("session", "stop", True, *setup),
        ("session", "end", True, *setup),
    ]
    assert {e["session"] for e in found} == {CLAUDE_SESSION}
    assert {e["project"] for e in found} == {str(repo)}
    # The transcript's one message is counted once, with the first event that read it.
    assert [e.get("tokens") for e in found] == [
        {"in": 100, "out": 20, "cache_read": 7},
        None,
        None,
        None,
        None,
    ]


@needs_fixtures
def test_claude_code_failed_tool_call_is_recorded_as_failed(repo: Path, home: Path) -> None:
    recording = Recording(FIXTURES / "claude-failure" / "claude", repo, home)
    for _, payload in recording.payloads():
        assert hook("claude-code", payload).returncode == 0
    found = journal()
    commands = [(e["name"], e.get("ok", True)) for e in found if e["type"] == "command"]
    assert commands == [("echo", False), ("git", True)]
    assert {e["session"] for e in found} == {CLAUDE_FAILURE_SESSION}


@needs_fixtures
def test_codex_recorded_session_gives_exact_events_with_the_payload_model(
    repo: Path, home: Path
) -> None:
    recording = Recording(FIXTURES / "codex" / "codex", repo, home)
    for _, payload in recording.payloads():
        done = hook("codex", payload)
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    setup = ("codex", "main", "fake-model-rc")
    found = journal()
    assert summary(found) == [
        ("session", "start", True, *setup),
        ("command", "printf", True, *setup),
        ("command", "git", True, *setup),
        ("session", "stop", True, *setup),
        # SessionEnd names no model: the session remembers it.
        ("session", "end", True, *setup),
    ]
    assert {e["session"] for e in found} == {CODEX_SESSION}


def test_codex_tokens_come_from_the_rollout_running_total(repo: Path, tmp_path: Path) -> None:
    rollout = tmp_path / "rollout.jsonl"

    def total(inp: int, cached: int, out: int) -> str:
        usage = {"input_tokens": inp, "cached_input_tokens": cached, "output_tokens": out}
        info = {"total_token_usage": usage, "last_token_usage": usage}
        return json.dumps({"type": "event_msg", "payload": {"type": "token_count", "info": info}})

    def call() -> dict[str, Any]:
        payload = {
            "session_id": "s1",
            "hook_event_name": "PostToolUse",
            "cwd": str(repo),
            "model": "gpt-5-codex",
            "transcript_path": str(rollout),
            "tool_name": "Bash",
            "tool_input": {"command": "pytest -q"},
            "tool_response": "ok",
        }
        assert hook("codex", json.dumps(payload).encode()).returncode == 0
        return journal()[-1]

    rollout.write_text(total(1000, 400, 50) + "\n")
    first = call()
    with rollout.open("a") as handle:
        handle.write(total(1500, 900, 80) + "\n" + '{"type":"event_msg","payload":{"type":"tok')
    second = call()
    assert (first["model"], first["name"]) == ("openai/gpt-5-codex", "pytest")
    assert first["tokens"] == {"in": 600, "out": 50, "cache_read": 400}
    assert second["tokens"] == {"out": 30, "cache_read": 500}  # input less cache: unchanged
    assert "tokens" not in call()  # nothing new (the torn last line is not read yet)


def test_a_5_mb_payload_still_gives_the_tool_name(repo: Path) -> None:
    content = "x" * (5 * 1024 * 1024)
    payload = {
        "session_id": "big",
        "hook_event_name": "PostToolUse",
        "cwd": str(repo),
        "tool_name": "Write",
        "tool_input": {"file_path": str(repo / "big.txt"), "content": content},
        "tool_response": {"type": "create", "content": content},
    }
    done = hook("claude-code", json.dumps(payload).encode())
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    (event,) = journal()
    assert (event["type"], event["name"], event["session"]) == ("tool", "Write", "big")


def test_a_malformed_payload_gives_one_line_on_stderr_and_records_what_could_be_read(
    repo: Path,
) -> None:
    cut = (
        f'{{"session_id":"s2","hook_event_name":"PostToolUse","cwd":"{repo}","tool_name":"Edit",'
        '"tool_input":{"content":"unterminated'
    )
    done = hook("claude-code", cut.encode())
    assert (done.returncode, done.stdout) == (0, b"")
    assert done.stderr.decode().count("\n") == 1
    assert "not valid JSON" in done.stderr.decode()
    (event,) = journal()
    assert (event["name"], event["session"], event["project"]) == ("Edit", "s2", str(repo))


@pytest.mark.parametrize(
    ("harness", "payload"),
    [
        ("claude-code", b""),
        ("claude-code", b"[1, 2]"),
        ("no-such-harness", b"{}"),
    ],
)
def test_unusable_input_exits_0_with_one_line_and_records_nothing(
    harness: str, payload: bytes, repo: Path
) -> None:
    done = hook(harness, payload, cwd=repo)
    assert (done.returncode, done.stdout) == (0, b"")
    assert done.stderr.decode().count("\n") == 1
    assert not (config.load().journal_dir / "live.jsonl").exists()


def test_events_a_harness_sends_but_that_record_nothing_are_silent(repo: Path) -> None:
    payload = {"session_id": "s", "hook_event_name": "PreToolUse", "cwd": str(repo)}
    done = hook("claude-code", json.dumps(payload).encode())
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert not (config.load().journal_dir / "live.jsonl").exists()


def test_session_end_starts_a_detached_flush(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent_tracker.store import LMDBDatabase

    monkeypatch.setenv("AGENT_TRACKER_AUTO_FLUSH", "1")
    settings = config.load()
    journal_of = Journal(settings.journal_dir)
    tool = {"session_id": "s3", "hook_event_name": "PostToolUse", "cwd": str(repo)}
    hook("claude-code", json.dumps(dict(tool, tool_name="Read")).encode())
    db = LMDBDatabase.open_write(settings.database_path, settings.max_database_size)
    try:
        with db.env.begin(write=True):  # the flush cannot write until this ends
            end = hook("claude-code", json.dumps(dict(tool, hook_event_name="SessionEnd")).encode())
            # The hook is back although its flush cannot have finished: it did not wait.
            assert end.returncode == 0
            assert journal_of.pending_count() == 2
    finally:
        db.close()
    deadline = time.monotonic() + 30
    while journal_of.pending_count() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert journal_of.pending_count() == 0


def test_no_flush_starts_when_auto_flush_is_off(repo: Path) -> None:
    end = {"session_id": "s5", "hook_event_name": "SessionEnd", "cwd": str(repo)}
    assert hook("claude-code", json.dumps(end).encode()).returncode == 0
    time.sleep(1)
    journal_of = Journal(config.load().journal_dir)
    # A flush that started, however slow, would have taken its lock file by now.
    assert not Path(journal_of.flush_lock_file).exists()
    assert journal_of.pending_count() == 1


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {"event": "tool", "tool": "write", "ok": True},
            ("tool", "write", True, "opencode", "build", "fake/fake-model-rc"),
        ),
        (
            {"event": "tool", "tool": "bash", "command": "cd x && npm test", "ok": False},
            ("command", "npm", False, "opencode", "build", "fake/fake-model-rc"),
        ),
        (
            {"event": "command", "name": "init"},
            ("command", "init", True, "opencode", "build", "fake/fake-model-rc"),
        ),
        (
            {"event": "session", "phase": "start"},
            ("session", "start", True, "opencode", "build", "fake/fake-model-rc"),
        ),
    ],
)
def test_opencode_plugin_payloads_give_exact_events(
    repo: Path, payload: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    common = {
        "session_id": "ses_1",
        "agent": "build",
        "model": "fake/fake-model-rc",
        "cwd": str(repo),
        "tokens": {"in": 10, "out": 2, "reasoning": 3, "cache_read": 1},
        "cost": 0.25,
    }
    done = hook("opencode", json.dumps({**common, **payload}).encode())
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    (event,) = journal()
    assert summary([event])[0] == expected
    assert (event["session"], event["tokens"], event["cost"]) == (
        "ses_1",
        {"in": 10, "out": 5, "cache_read": 1},
        0.25,
    )


def test_opencode_event_without_agent_uses_what_the_session_said_before(repo: Path) -> None:
    first = {"event": "tool", "tool": "read", "session_id": "ses_2", "cwd": str(repo)}
    hook("opencode", json.dumps(dict(first, agent="plan", model="anthropic/claude-x")).encode())
    hook("opencode", json.dumps(first).encode())
    assert [(e["agent"], e["model"]) for e in journal()] == [("plan", "anthropic/claude-x")] * 2


def test_hook_path_does_not_import_typer_rich_or_lmdb(repo: Path) -> None:
    payload = json.dumps(
        {"session_id": "s", "hook_event_name": "PostToolUse", "cwd": str(repo), "tool_name": "Read"}
    )
    probe = (
        "import sys, io\n"
        "sys.stdin = io.TextIOWrapper(io.BytesIO(sys.argv[1].encode()))\n"
        "from agent_tracker.entry import main\n"
        "code = main(['hook', 'claude-code'])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('typer', 'rich', 'lmdb', 'pydantic', 'click', 'orjson'))\n"
        "print(code, bad)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_PROCESS")}
    done = subprocess.run(
        [sys.executable, "-c", probe, payload],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.stdout.strip() == "0 []", done.stderr
    assert len(journal()) == 1


def test_concurrent_hooks_of_one_session_count_its_tokens_once(repo: Path, tmp_path: Path) -> None:
    transcript = tmp_path / "t.jsonl"
    transcript.write_text(
        "".join(
            assistant_line("claude-opus-4-5", f"m{i}", {"input_tokens": 10, "output_tokens": 1})
            for i in range(50)
        )
    )
    payload = json.dumps(
        {
            "session_id": "s4",
            "hook_event_name": "PostToolUse",
            "cwd": str(repo),
            "tool_name": "Read",
            "transcript_path": str(transcript),
        }
    ).encode()
    store = SessionStore(config.load().journal_folder)
    holder = store.open("claude-code", "s4")  # all six wait for this lock, then race
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "agent_tracker", "hook", "claude-code"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(6)
        ]
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(payload)
            proc.stdin.close()
        time.sleep(1.0)  # less than SessionStore.LOCK_WAIT: they queue rather than give up
    finally:
        holder.close(save=False)
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    found = journal()
    assert len(found) == 6
    spent: dict[str, int] = {}
    for event in found:
        for kind, count in event.get("tokens", {}).items():
            spent[kind] = spent.get(kind, 0) + count
    assert spent == {"in": 500, "out": 50}
    assert {e["model"] for e in found} == {"anthropic/claude-opus-4-5"}


def test_session_state_files_of_old_sessions_are_pruned(tmp_path: Path) -> None:
    store = SessionStore(str(tmp_path))
    store.open("codex", "old").close()
    store.open("codex", "new").close()
    old = Path(store.path("codex", "old"))
    long_ago = time.time() - 40 * 86400
    os.utime(old, (long_ago, long_ago))
    assert store.prune() == 1
    assert not old.exists()
    assert store.read("codex", "new") is not None


def test_session_ids_with_odd_characters_get_safe_file_names(tmp_path: Path) -> None:
    store = SessionStore(str(tmp_path))
    locked = store.open("opencode", "../../etc/passwd")
    locked.state["agent"] = "x"
    locked.close()
    (made,) = (tmp_path / "sessions").glob("*.json")
    assert made.parent == tmp_path / "sessions"
    assert store.find("../../etc/passwd") is not None


def test_instruction_fingerprint_follows_the_files(repo: Path) -> None:
    def start(session: str) -> str | None:
        payload = {"session_id": session, "hook_event_name": "SessionStart", "cwd": str(repo)}
        hook("claude-code", json.dumps(payload).encode())
        value: str | None = journal()[-1].get("instructions")
        return value

    assert start("a") is None  # no instruction file at all
    (repo / "AGENTS.md").write_text("Be brief.\n")
    with_agents = start("b")
    (repo / "AGENTS.md").write_text("Be thorough.\n")
    edited = start("c")
    (repo / ".opencode" / "agent").mkdir(parents=True)
    (repo / ".opencode" / "agent" / "review.md").write_text("Review.\n")
    more = start("d")
    assert len({with_agents, edited, more}) == 3
    assert all(value is not None and len(value) == 16 for value in (with_agents, edited, more))
    assert start("b") == with_agents  # the session keeps the files it started with
    git(repo, "status")  # the repository is untouched by all this


def test_status_shows_the_last_session_seen_per_harness_with_its_model(
    repo: Path, cli: Callable[..., Any]
) -> None:
    for session, model in (("c1", "gpt-5"), ("c2", "o3")):
        payload = {"session_id": session, "hook_event_name": "SessionStart", "cwd": str(repo)}
        hook("codex", json.dumps(dict(payload, model=model)).encode())
        time.sleep(0.01)
    hook("opencode", json.dumps({"event": "tool", "tool": "read", "session_id": "o1"}).encode())
    shown = cli("status", "--format", "json")
    assert shown.code == 0
    seen = {h["harness"]: h for h in json.loads(shown.out)["harnesses"]}
    assert set(seen) == {"codex", "opencode"}
    assert (seen["codex"]["session"], seen["codex"]["model"]) == ("c2", "openai/o3")
    assert seen["opencode"]["model"] == "unknown"
    text = cli("status").out
    assert "last codex" in text
    assert "main@openai/o3" in text


def test_hook_with_global_options_goes_through_typer_and_still_exits_0(
    repo: Path, tmp_path: Path
) -> None:
    db = tmp_path / "other.lmdb"
    payload = json.dumps({"hook_event_name": "PostToolUse", "tool_name": "Read", "cwd": str(repo)})
    for harness in ("claude-code", "nonsense"):
        done = subprocess.run(
            [sys.executable, "-m", "agent_tracker", "--database-path", str(db), "hook", harness],
            input=payload.encode(),
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert (done.returncode, done.stdout) == (0, b"")
    assert [e["name"] for e in journal()] == ["Read"]
    help_text = subprocess.run(
        [sys.executable, "-m", "agent_tracker", "hook", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert all(name in help_text.stdout for name in ("claude-code", "codex", "opencode"))


def test_fingerprint_names_files_the_same_on_every_machine(tmp_path: Path) -> None:
    from agent_tracker import instructions

    fingerprints = []
    for checkout in ("one", "two"):
        top = tmp_path / checkout
        top.mkdir()
        (top / "AGENTS.md").write_text("Be brief.\n")
        fingerprints.append(instructions.of_project(str(top)))
    assert fingerprints[0] == fingerprints[1] is not None
    (tmp_path / "two" / "AGENTS.md").rename(tmp_path / "two" / "CLAUDE.md")
    assert instructions.of_project(str(tmp_path / "two")) != fingerprints[0]


def test_a_non_utf8_folder_and_lone_surrogates_in_a_payload_lose_no_event(
    tmp_path: Path,
) -> None:
    """Issue 9 item 2: the hook used to drop every event of a non-UTF-8 folder silently."""
    folder = os.fsencode(tmp_path) + b"/caf\xe9"
    Path(os.fsdecode(folder)).mkdir()
    subprocess.run(["git", "init", "-q", folder], check=True)
    raw_cwd = b'{"hook_event_name":"PostToolUse","tool_name":"Edit","session_id":"s1","cwd":"'
    payloads = [
        raw_cwd + folder + b'"}',  # the folder's bytes as they are: not UTF-8
        b'{"hook_event_name":"PostToolUse","tool_name":"Edit\\ud800","session_id":"s\\ud800"}',
    ]
    for payload in payloads:
        done = subprocess.run(
            [sys.executable, "-m", "agent_tracker", "hook", "claude-code"],
            input=payload,
            cwd=folder,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    tracked = subprocess.run(
        [sys.executable, "-m", "agent_tracker", "track", "tool", "read"],
        cwd=folder,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert tracked.returncode == 0
    found = journal()
    assert [(e["name"], e.get("session")) for e in found] == [
        ("Edit", "s1"),
        ("Edit\ufffd", "s\ufffd"),
        ("read", None),
    ]
    assert {e["project"] for e in found} == {os.fsdecode(tmp_path) + "/caf\\xe9"}  # one project
    states = SessionStore(str(config.load().journal_dir))
    assert states.read("claude-code", "s\ufffd") is not None  # its file, under the clean id
