"""The model and tokens from Claude Code transcripts generated here, held to the read bounds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_harnesses import assistant_line, journal

from agent_tracker import models, transcript
from agent_tracker.harnesses import program_of

MiB = 1024 * 1024


def user_line(text: str) -> str:
    return json.dumps({"type": "user", "message": {"role": "user", "content": text}}) + "\n"


def write_transcript(path: Path, size: int, model: str) -> None:
    """About `size` bytes of a realistic session: big tool results, then one model's turns."""
    filler = user_line("r" * 60_000)
    with path.open("w") as handle:
        handle.write(assistant_line("claude-sonnet-4-5-20250929", "old", {"output_tokens": 1}))
        written = 0
        while written < size:
            handle.write(filler)
            written += len(filler)
        handle.write(assistant_line(model, "new", {"input_tokens": 5, "output_tokens": 9}))
        handle.write(user_line("tool result after the last assistant message"))


def hook_payload(path: Path, cwd: Path, **extra: Any) -> bytes:
    payload = {
        "session_id": "sess",
        "hook_event_name": "PostToolUse",
        "cwd": str(cwd),
        "tool_name": "Read",
        "transcript_path": str(path),
        **extra,
    }
    return json.dumps(payload).encode()


def run_hook(payload: bytes) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agent_tracker", "hook", "claude-code"],
        input=payload,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


def test_model_of_a_50_mb_transcript_is_found_reading_only_its_tail(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    write_transcript(path, 50 * MiB, "claude-opus-4-5-20251101")
    assert path.stat().st_size > 50 * MiB
    reader = transcript.Reader()
    assert reader.tail_model(str(path)) == "claude-opus-4-5-20251101"
    assert reader.bytes_read <= transcript.TAIL_BOUND
    # First sight of a transcript that large: counting starts at its end, nothing read.
    state: dict[str, Any] = {}
    found = transcript.Reader()
    assert found.read_increment(str(path), state, transcript.CLAUDE)["tokens"] == {}
    assert found.bytes_read == 0
    assert state["offset"] == path.stat().st_size


def test_tail_read_gives_up_at_its_bound(tmp_path: Path) -> None:
    path = tmp_path / "no-model.jsonl"
    path.write_text(user_line("x" * 1000) * 3000)
    reader = transcript.Reader()
    assert reader.tail_model(str(path), bound=256 * 1024) is None
    assert reader.bytes_read == 256 * 1024


def test_hook_on_a_50_mb_transcript_finds_the_model_then_reads_only_what_was_added(
    tmp_path: Path, make_repo: Any
) -> None:
    repo = make_repo()
    path = tmp_path / "session.jsonl"
    write_transcript(path, 50 * MiB, "claude-opus-4-5-20251101")
    run_hook(hook_payload(path, repo))
    with path.open("a") as handle:
        handle.write(assistant_line("claude-haiku-4-5", "m2", {"input_tokens": 3}))
    run_hook(hook_payload(path, repo))
    first, second = journal()
    assert first["model"] == "anthropic/claude-opus-4-5"
    assert "tokens" not in first
    # /model switched to haiku: the newly appended line says so.
    assert (second["model"], second["tokens"]) == ("anthropic/claude-haiku-4-5", {"in": 3})


def test_a_message_written_in_several_lines_is_counted_once(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        assistant_line("claude-x", "a", {"input_tokens": 10, "output_tokens": 1})
        + assistant_line("claude-x", "a", {"input_tokens": 10, "output_tokens": 4})
    )
    state: dict[str, Any] = {}
    first = transcript.Reader().read_increment(str(path), state, transcript.CLAUDE)
    with path.open("a") as handle:
        handle.write(assistant_line("claude-x", "a", {"input_tokens": 10, "output_tokens": 6}))
        handle.write(assistant_line("claude-x", "b", {"input_tokens": 2, "output_tokens": 2}))
        handle.write('{"type":"assistant","message":{"id":"c","usage":{"input_tokens":9')
    second = transcript.Reader().read_increment(str(path), state, transcript.CLAUDE)
    assert first["tokens"] == {"in": 10, "out": 4}
    assert second["tokens"] == {"in": 2, "out": 4}
    assert second["model"] == "claude-x"


def test_synthetic_messages_name_no_model(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        assistant_line("claude-sonnet-4-5", "a", {}) + assistant_line("<synthetic>", "b", {})
    )
    assert transcript.Reader().tail_model(str(path)) == "claude-sonnet-4-5"


def test_a_subagent_is_recorded_with_its_type_and_its_own_transcripts_model(
    tmp_path: Path, make_repo: Any
) -> None:
    repo = make_repo()
    main = tmp_path / "projects" / "sess.jsonl"
    main.parent.mkdir()
    main.write_text(assistant_line("claude-opus-4-5", "m", {"input_tokens": 1}))
    sub = main.parent / "sess" / "subagents" / "agent-a1.jsonl"
    sub.parent.mkdir(parents=True)
    sub.write_text(assistant_line("claude-haiku-4-5", "s", {"output_tokens": 8}, isSidechain=True))
    run_hook(hook_payload(main, repo))
    run_hook(hook_payload(main, repo, agent_id="a1", agent_type="Explore"))
    run_hook(hook_payload(main, repo))
    main_call, sub_call, main_again = journal()
    assert (main_call["agent"], main_call["model"]) == ("main", "anthropic/claude-opus-4-5")
    assert (sub_call["agent"], sub_call["model"]) == ("Explore", "anthropic/claude-haiku-4-5")
    assert sub_call["tokens"] == {"out": 8}
    assert (main_again["agent"], main_again["model"]) == ("main", "anthropic/claude-opus-4-5")


def test_model_switch_hook_changes_the_sessions_model(tmp_path: Path, make_repo: Any) -> None:
    repo = make_repo()
    path = tmp_path / "t.jsonl"
    path.write_text(assistant_line("claude-opus-4-5", "m", {}))
    run_hook(hook_payload(path, repo))
    run_hook(hook_payload(path, repo, hook_event_name="PostModelSwitch", to_model="claude-x-2"))
    run_hook(hook_payload(path, repo))
    switched = "anthropic/claude-x-2"
    assert [e["model"] for e in journal()] == ["anthropic/claude-opus-4-5", switched, switched]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("claude-sonnet-4-5-20250929", "anthropic/claude-sonnet-4-5"),
        ("claude-opus-4-5", "anthropic/claude-opus-4-5"),
        ("gpt-5-codex", "openai/gpt-5-codex"),
        ("o3", "openai/o3"),
        ("o4-mini", "openai/o4-mini"),
        ("codex-mini-latest", "openai/codex-mini-latest"),
        ("gemini-2.5-pro", "google/gemini-2.5-pro"),
        ("anthropic/claude-sonnet-4-5", "anthropic/claude-sonnet-4-5"),
        ("fake/fake-model-rc", "fake/fake-model-rc"),
        ("fake-model-rc", "fake-model-rc"),
        ("ollama-llama3", "ollama-llama3"),
        ("o5x", "o5x"),
        ("<synthetic>", None),
        ("", None),
        (None, None),
    ],
)
def test_model_names_are_normalised_to_provider_and_model(
    raw: str | None, expected: str | None
) -> None:
    assert models.normalise(raw) == expected


@pytest.mark.parametrize(
    ("line", "program"),
    [
        ("pytest -q", "pytest"),
        ("cd $REPO && git add -A && git commit -q -m 'x && y'", "git"),
        ("cd /r && printf 'hello\\n' > hello.txt", "printf"),
        ("FOO=1 BAR=2 make test", "make"),
        ("sudo -E npm install", "npm"),
        ("uv run pytest tests", "pytest"),
        ("python3 -m pytest -x", "pytest"),
        ("/usr/bin/env python script.py", "python"),
        ("timeout 10 cargo test", "cargo"),
        ("npx jest --ci", "jest"),
        ("export X=1; ./scripts/check.sh", "check.sh"),
        ("npx -y prettier --write .", "prettier"),
        ("uv run --with x pytest", "pytest"),
        ("poetry run -q pytest", "pytest"),
        ("sudo -u bob make", "make"),
        ("timeout -s KILL 10 make", "make"),
        ("uvx ruff check", "ruff"),
        ("env -i PATH=/bin FOO=1 ls", "ls"),
        ("uv pip install x", "uv"),
        ("", "shell"),
        ("cd somewhere", "shell"),
    ],
)
def test_shell_commands_are_named_by_the_program_they_ran(line: str, program: str) -> None:
    assert program_of(line) == program


def test_a_resumed_session_does_not_count_the_earlier_turns_again(
    tmp_path: Path, make_repo: Any
) -> None:
    repo = make_repo()
    path = tmp_path / "resumed.jsonl"
    path.write_text(assistant_line("claude-opus-4-5", "old", {"output_tokens": 500}))
    run_hook(hook_payload(path, repo, hook_event_name="SessionStart", source="resume"))
    with path.open("a") as handle:
        handle.write(assistant_line("claude-opus-4-5", "new", {"output_tokens": 7}))
    run_hook(hook_payload(path, repo))
    start, tool = journal()
    assert (start["model"], start.get("tokens")) == ("anthropic/claude-opus-4-5", None)
    assert tool["tokens"] == {"out": 7}


def test_codex_total_after_skipped_lines_is_a_starting_point_not_new_tokens(
    tmp_path: Path,
) -> None:
    def total(inp: int) -> str:
        info = {"total_token_usage": {"input_tokens": inp, "output_tokens": 0}}
        return json.dumps({"type": "event_msg", "payload": {"type": "token_count", "info": info}})

    path = tmp_path / "rollout.jsonl"
    path.write_text(user_line("x" * 1000) * (transcript.FIRST_BOUND // 1000 + 10))
    state: dict[str, Any] = {}
    assert transcript.Reader().read_increment(str(path), state, transcript.CODEX)["tokens"] == {}
    with path.open("a") as handle:
        handle.write(total(1_000_000) + "\n")
    first = transcript.Reader().read_increment(str(path), state, transcript.CODEX)
    with path.open("a") as handle:
        handle.write(total(1_000_100) + "\n" + total(50) + "\n")
    second = transcript.Reader().read_increment(str(path), state, transcript.CODEX)
    with path.open("a") as handle:
        handle.write(total(80) + "\n")
    third = transcript.Reader().read_increment(str(path), state, transcript.CODEX)
    assert first["tokens"] == {}  # the running total of turns never seen
    assert second["tokens"] == {"in": 100}  # then a new count starts at 50
    assert third["tokens"] == {"in": 30}


def test_a_resumed_sessions_model_far_back_in_the_tail_is_found(
    tmp_path: Path, make_repo: Any
) -> None:
    repo = make_repo()
    path = tmp_path / "resumed.jsonl"
    with path.open("w") as handle:
        handle.write(assistant_line("claude-opus-4-5", "old", {"output_tokens": 5}))
        handle.write(user_line("y" * 600_000))
    run_hook(hook_payload(path, repo, hook_event_name="SessionStart", source="resume"))
    (start,) = journal()
    assert start["model"] == "anthropic/claude-opus-4-5"


def test_first_sight_of_a_mid_sized_transcript_reads_at_most_the_first_bound(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mid.jsonl"
    path.write_text(user_line("z" * 1000) * (3 * transcript.FIRST_BOUND // 1000))
    reader = transcript.Reader()
    reader.read_increment(str(path), {}, transcript.CLAUDE)
    assert reader.bytes_read == 0
