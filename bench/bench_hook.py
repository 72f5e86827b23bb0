"""Benchmark: a Claude Code `PostToolUse` hook against an empty console script.

Target: `agent-tracker hook claude-code`, run through the INSTALLED console script with a
realistic `PostToolUse` payload on standard input (an Edit of a 20 KB file) in a session
whose transcript is 50 MB, has a median wall time of at most 1.5x that of a console script
whose `main()` does nothing, in the same environment and the same run.

Before every timed tracker run, the session's transcript grows as it does in a real session
(an assistant message with its usage and a tool result, about 25 KB): the hook reads what
was appended, never the 50 MB. The first call of the session (the warm-up) finds the model by
reading the transcript's tail. The baseline is `bench_capture`'s: the same console-script
wrapper with its import pointed at an empty `main()`, given the same standard input.

Exit status: 0 when the target is met, 1 when it is missed, 2 when the benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _benchlib import BenchError, find_console_script, isolated_env, machine, p90, table
from bench_capture import make_baseline, make_repo

TARGET_RATIO = 1.5
TRANSCRIPT_MB = 50
SESSION = "3f1c2a9e-0000-4000-8000-000000000001"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Time `agent-tracker hook claude-code` (PostToolUse, 50 MB transcript) against a "
            f"console script with an empty main(). Target: median ratio <= {TARGET_RATIO}."
        ),
    )
    parser.add_argument("-n", "--runs", type=int, default=40, help="timed runs of each (40)")
    parser.add_argument("--warmups", type=int, default=3, help="untimed runs of each first (3)")
    parser.add_argument("--target", type=float, default=TARGET_RATIO, help="highest ratio")
    parser.add_argument(
        "--transcript-mb", type=int, default=TRANSCRIPT_MB, help="transcript size (50)"
    )
    args = parser.parse_args(argv)
    if args.runs < 2 or args.warmups < 1:
        parser.error("--runs must be at least 2 and --warmups at least 1")
    return args


def assistant(turn: int) -> str:
    message = {
        "model": "claude-sonnet-4-5-20250929",
        "id": f"msg_bench_{turn}",
        "type": "message",
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Editing the module now. " * 20},
            {"type": "tool_use", "id": f"toolu_{turn}", "name": "Edit", "input": {"x": "y" * 2000}},
        ],
        "usage": {
            "input_tokens": 1200,
            "output_tokens": 350,
            "cache_read_input_tokens": 40000,
            "cache_creation_input_tokens": 800,
        },
    }
    line = {"type": "assistant", "sessionId": SESSION, "message": message, "uuid": f"u{turn}"}
    return json.dumps(line) + "\n"


def tool_result(turn: int) -> str:
    content = "line of the edited file\n" * 900
    line = {
        "type": "user",
        "message": {"role": "user", "content": [{"type": "tool_result", "content": content}]},
        "toolUseResult": {"filePath": "/repo/src/app.py", "newString": content[:2000]},
        "uuid": f"r{turn}",
    }
    return json.dumps(line) + "\n"


def write_transcript(path: Path, megabytes: int) -> None:
    path.parent.mkdir(parents=True)
    with path.open("w") as handle:
        turn = 0
        while handle.tell() < megabytes * 1024 * 1024:
            handle.write(assistant(turn))
            handle.write(tool_result(turn))
            turn += 1


def payload(repo: Path, transcript: Path) -> bytes:
    content = "def f():\n    return 1\n" * 900
    return json.dumps(
        {
            "session_id": SESSION,
            "transcript_path": str(transcript),
            "cwd": str(repo),
            "permission_mode": "default",
            "hook_event_name": "PostToolUse",
            "tool_name": "Edit",
            "tool_input": {
                "file_path": str(repo / "app.py"),
                "old_string": content[:5000],
                "new_string": content[:5000],
            },
            "tool_response": {
                "filePath": str(repo / "app.py"),
                "oldString": content,
                "newString": content,
                "structuredPatch": [],
                "userModified": False,
            },
            "tool_use_id": "toolu_bench",
        }
    ).encode()


def run_once(command: list[str], repo: Path, env: dict[str, str], stdin: bytes) -> float:
    start = time.perf_counter_ns()
    done = subprocess.run(command, cwd=repo, env=env, input=stdin, capture_output=True, check=False)
    elapsed = (time.perf_counter_ns() - start) / 1e6
    if done.returncode != 0 or done.stdout or done.stderr:
        raise BenchError(f"{' '.join(command)}: exit {done.returncode}, {done.stderr!r}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        script = find_console_script()
        with tempfile.TemporaryDirectory(prefix="agent-tracker-bench-") as tmp:
            root = Path(tmp)
            env = isolated_env(root)
            baseline, modules = make_baseline(script, root)
            env["PYTHONPATH"] = str(modules)
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
            repo = make_repo(root, env)
            transcript = root / "home" / ".claude" / "projects" / "-repo" / f"{SESSION}.jsonl"
            write_transcript(transcript, args.transcript_mb)
            stdin = payload(repo, transcript)
            tracker_cmd = [str(script), "hook", "claude-code"]
            baseline_cmd = [str(baseline), "hook", "claude-code"]
            turn = 10**6
            times: dict[str, list[float]] = {"tracker": [], "baseline": []}
            for i in range(args.warmups + args.runs):
                with transcript.open("a") as handle:  # the session goes on
                    handle.write(assistant(turn) + tool_result(turn))
                turn += 1
                order = [("tracker", tracker_cmd), ("baseline", baseline_cmd)]
                for name, command in order if i % 2 == 0 else reversed(order):
                    elapsed = run_once(command, repo, env, stdin)
                    if i >= args.warmups:
                        times[name].append(elapsed)
            journal = Path(env["AGENT_TRACKER_JOURNAL_DIR"]) / "live.jsonl"
            recorded = [json.loads(x) for x in journal.read_bytes().splitlines() if x.strip()]
            if len(recorded) != args.warmups + args.runs:
                raise BenchError(f"expected {args.warmups + args.runs} events, got {len(recorded)}")
            models = {event["model"] for event in recorded}
            if models != {"anthropic/claude-sonnet-4-5"}:
                raise BenchError(f"the hook recorded the models {models}")
            size_mb = transcript.stat().st_size / 1024 / 1024
    except BenchError as exc:
        print(f"bench_hook: error: {exc}", file=sys.stderr)
        return 2
    ratio = statistics.median(times["tracker"]) / statistics.median(times["baseline"])
    verdict = "PASS" if ratio <= args.target else "FAIL"
    print(f"hook benchmark: {machine()}")
    print(
        f"{args.runs} interleaved runs each after {args.warmups} warm-ups; transcript "
        f"{size_mb:.0f} MB, growing by one turn before every run; payload {len(stdin)} bytes"
    )
    print()
    rows = [
        [name, f"{statistics.median(v):.1f}", f"{p90(v):.1f}", f"{min(v):.1f}"]
        for name, v in (
            ("agent-tracker hook claude-code", times["tracker"]),
            ("empty main() baseline", times["baseline"]),
        )
    ]
    print(table(["command", "median ms", "p90 ms", "min ms"], rows))
    print()
    print(f"ratio of medians (tracker / baseline): {ratio:.2f}  target <= {args.target:.2f}")
    print(verdict)
    return 0 if ratio <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
