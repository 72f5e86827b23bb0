"""`agent-tracker doctor` through the installed console script, in throw-away HOMEs and real
git repositories: a fresh set-up, a healthy one, and each way one breaks (a program gone,
outdated hooks, a nearly full database, stale reader slots, quarantined lines, old pending
events, untrusted Codex hooks); text for a terminal (a real pty at 60 columns) and a pipe,
and JSON."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import commit_file, git
from hookwait import settle

from agent_tracker import config, events
from agent_tracker.errors import DatabaseFullError
from agent_tracker.integrate import installed
from agent_tracker.journal import Journal
from agent_tracker.store import LMDBDatabase

TRACKER = Path(sys.executable).parent / "agent-tracker"
#: Far above any run of these commands: reaching it means one hangs.
DEADLINE = 120
MODEL = "anthropic/claude-sonnet-4-5"


def tracker(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a person or a script runs it (stdout a pipe)."""
    return subprocess.run(
        [str(TRACKER), *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )


def doctor_json(cwd: Path) -> dict[str, Any]:
    done = tracker("doctor", "--format", "json", cwd=cwd)
    assert done.returncode in (0, 1), done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    assert data["healthy"] is (done.returncode == 0)
    return data


def findings(data: dict[str, Any], section: str) -> list[dict[str, Any]]:
    return [check for check in data["checks"] if check["section"] == section]


def levels(data: dict[str, Any]) -> dict[str, str]:
    return {f"{c['section']}/{c['name']}": c["level"] for c in data["checks"]}


def on_terminal(*args: str, cwd: Path, columns: int = 60) -> str:
    """What the console script prints on a real terminal `columns` wide (ANSI stripped)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen(
        [str(TRACKER), *args], stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + DEADLINE
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        else:
            raise AssertionError("the command never finished on the terminal")
        proc.wait(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


@pytest.fixture
def repo(make_repo: Callable[..., Path]) -> Path:
    return make_repo("app")


def set_up(repo: Path) -> None:
    """What the README asks for: hooks in the repository, a harness connected."""
    for argv in (("hooks", "install"), ("integrate", "claude-code")):
        done = tracker(*argv, cwd=repo)
        assert done.returncode == 0, done.stderr


def record_some_work(repo: Path) -> None:
    done = tracker(
        "track", "tool", "edit", "--harness", "claude-code", "--agent", "main", "--model",
        MODEL, cwd=repo,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    commit_file(repo, "a.txt", "a\n", "Add a")
    settle(repo)


# -- fresh and healthy -------------------------------------------------------------------------


def test_a_fresh_set_up_says_what_to_do_first_in_one_finding(repo: Path) -> None:
    done = tracker("doctor", cwd=repo)
    assert done.returncode == 1, done.stderr
    assert done.stderr == ""
    needing = [line for line in done.stdout.splitlines() if re.match(r"  (warn|fail) ", line)]
    assert needing == [
        "  warn  nothing recorded yet: install the git hooks (they record commits) and "
        "connect your harness (it records tool calls and the model)"
    ]
    assert "Getting started" in done.stdout
    fixes = re.findall(r"(?m)^ {8}(?:fix: | {5})(.*)$", done.stdout)
    assert [fix.split("  #")[0].split()[-2:] for fix in fixes] == [
        ["hooks", "install"],
        ["integrate", "claude-code"],
    ]
    assert done.stdout.rstrip().endswith("1 thing needs you: see the fix lines above.")
    data = doctor_json(repo)
    assert (data["fresh"], data["needs_you"], data["repo"]) == (True, 1, str(repo))


def test_a_fresh_set_up_outside_a_repository_is_one_finding_too(tmp_path: Path) -> None:
    data = doctor_json(tmp_path)
    assert data["fresh"] is True
    assert [c["name"] for c in data["checks"] if c["level"] in ("warn", "fail")] == ["first steps"]
    assert data["repo"] is None


def test_set_up_but_nothing_recorded_yet_is_no_problem(repo: Path) -> None:
    set_up(repo)
    data = doctor_json(repo)
    assert data["fresh"] is True
    assert data["needs_you"] == 0
    assert levels(data)["setup/first steps"] == "note"


def test_a_healthy_set_up_exits_0_and_shows_each_part(repo: Path) -> None:
    set_up(repo)
    record_some_work(repo)
    assert tracker("flush", cwd=repo).returncode == 0
    before = time.time()
    done = tracker("doctor", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.rstrip().endswith("All is well.")
    assert re.search(r"(?m)^  ok    size: \d+\.\d KiB of 512\.0 MiB \(0%\)$", out)
    assert re.search(r"(?m)^  ok    last flush: \d{4}-\d\d-\d\d \d\d:\d\d \(just now\)$", out)
    assert "  ok    pending: nothing pending" in out
    assert "  ok    post-commit: installed, runs directly" in out
    assert "  ok    pre-push: installed, runs directly" in out
    assert "  ok    claude-code (user): installed in " in out
    assert re.search(
        rf"(?m)^  ok    claude-code: on \d{{4}}-\d\d-\d\d \(UTC\), main · {MODEL}$", out
    )
    assert not re.search(r"(?m)^  (warn|fail) ", out)
    assert not [line for line in out.splitlines() if line != line.rstrip()]
    data = doctor_json(repo)
    assert data["fresh"] is False
    last = next(c for c in data["checks"] if c["name"] == "last flush")
    assert before - 60 < last["data"]["at"] <= time.time()
    seen = {item["harness"]: item for item in data["last_seen"]}
    assert (seen["claude-code"]["agent"], seen["claude-code"]["model"]) == ("main", MODEL)


def test_pending_events_give_their_count_and_the_oldest_ones_age(
    repo: Path, settings: config.Settings
) -> None:
    set_up(repo)
    journal = Journal(settings.journal_dir)
    old = events.make("tool", ("claude-code", "main", MODEL), str(repo), name="edit")
    old["ts"] = time.time() - 3 * 86400
    journal.append(events.encode(old))
    record_some_work(repo)  # two more: a tool call and a commit
    data = doctor_json(repo)
    pending = next(c for c in findings(data, "journal") if c["name"] == "pending")
    assert pending["level"] == "ok"
    assert pending["data"] == {"pending": 3, "oldest": old["ts"]}
    assert "3 events pending, the oldest from " in pending["message"]
    assert pending["message"].endswith("(3 days ago)")


def test_pending_events_older_than_a_week_mean_flushes_are_not_running(
    repo: Path, settings: config.Settings
) -> None:
    set_up(repo)
    old = events.make("tool", ("claude-code", "main", MODEL), str(repo), name="edit")
    old["ts"] = time.time() - 9 * 86400
    Journal(settings.journal_dir).append(events.encode(old))  # appended first, as it would be
    record_some_work(repo)
    done = tracker("doctor", cwd=repo)
    assert done.returncode == 1
    assert "flushes are not running" in done.stdout
    assert re.search(r"(?m)^ {8}fix: \S*agent-tracker flush$", done.stdout)
    assert tracker("flush", cwd=repo).returncode == 0
    assert tracker("doctor", cwd=repo).returncode == 0


# -- broken ------------------------------------------------------------------------------------


def test_outdated_and_broken_hooks_are_named_with_their_fix(repo: Path, tmp_path: Path) -> None:
    set_up(repo)
    record_some_work(repo)
    hooks = repo / ".git" / "hooks"
    post_commit = hooks / "post-commit"
    post_commit.write_text(post_commit.read_text() + "# edited by hand\n")
    pre_push = hooks / "pre-push"
    gone = tmp_path / "moved-venv" / "bin" / "python"
    text, count = re.subn(
        r"(?m)^AGENT_TRACKER_PYTHON=.*$", f"AGENT_TRACKER_PYTHON='{gone}'", pre_push.read_text()
    )
    assert count == 1
    pre_push.write_text(text)
    done = tracker("doctor", cwd=repo)
    assert done.returncode == 1
    out = done.stdout
    assert "  warn  post-commit: outdated" in out
    assert f"  fail  pre-push: broken, runs directly; the program it runs, {gone}, is gone" in out
    # One fix line for both: the same command fixes them.
    assert len(re.findall(r"(?m)^ {8}fix: \S*agent-tracker hooks install$", out)) == 1
    data = doctor_json(repo)
    states = {c["name"]: c["data"]["state"] for c in findings(data, "hooks")}
    assert states == {"post-commit": "outdated", "pre-push": "broken"}
    assert tracker("hooks", "install", cwd=repo).returncode == 0
    assert tracker("doctor", cwd=repo).returncode == 0


def test_under_husky_both_hooks_get_husky_s_advice_not_an_install_it_refuses(repo: Path) -> None:
    record_some_work(repo)
    husky = repo / ".husky" / "_"
    husky.mkdir(parents=True)
    (husky / "h").write_text("# husky's runner\n")
    (husky / "post-commit").write_text('#!/usr/bin/env sh\n. "$(dirname "$0")/h"\n')
    git(repo, "config", "core.hooksPath", ".husky/_")
    done = tracker("doctor", cwd=repo)
    assert done.returncode == 1
    assert "  warn  post-commit: foreign, not installed; a husky hook is here" in done.stdout
    assert "  warn  pre-push: missing, not installed" in done.stdout
    hooks = done.stdout.split("Git hooks of")[1].split("\n\n")[0]
    fixes = re.findall(r"(?m)^ {8}fix: (.*)$", hooks)
    assert fixes == [
        "husky owns this repository's hooks: add the line `agent-tracker commit || true` to "
        ".husky/post-commit and `agent-tracker flush || true` to .husky/pre-push"
    ]
    assert "hooks install" not in done.stdout


def test_doctor_names_the_repository_given_with_repo(repo: Path, tmp_path: Path) -> None:
    record_some_work(repo)
    done = tracker("doctor", "--repo", str(repo), cwd=tmp_path)
    assert done.returncode == 1
    assert f"Git hooks of {repo}" in done.stdout
    assert f"hooks install --repo {repo}" in done.stdout
    bad = tracker("doctor", "--repo", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr.startswith("agent-tracker: error: --repo:")
    assert bad.stderr.count("\n") == 1


def test_a_harness_hook_whose_program_is_gone_is_broken(repo: Path, home: Path) -> None:
    set_up(repo)
    record_some_work(repo)
    settings_file = home / ".claude" / "settings.json"
    moved = "/nowhere/old-venv/bin/agent-tracker"
    settings_file.write_text(settings_file.read_text().replace(str(TRACKER), moved))
    done = tracker("doctor", cwd=repo)
    assert done.returncode == 1
    assert f"  fail  claude-code (user): runs {moved}, which is gone" in done.stdout
    assert re.search(r"(?m)^ {8}fix: \S*agent-tracker integrate claude-code$", done.stdout)
    assert tracker("integrate", "claude-code", cwd=repo).returncode == 0
    assert tracker("doctor", cwd=repo).returncode == 0


def test_an_older_plugin_or_missing_events_are_outdated(repo: Path, home: Path) -> None:
    set_up(repo)
    record_some_work(repo)
    settings_file = home / ".claude" / "settings.json"
    data = json.loads(settings_file.read_text())
    del data["hooks"]["Stop"]
    settings_file.write_text(json.dumps(data))
    assert tracker("integrate", "opencode", cwd=repo).returncode == 0
    legacy = home / ".config" / "opencode" / "plugin" / "agent-tracker.js"
    legacy.parent.mkdir(parents=True)
    legacy.write_text("// an older hand-made plugin\n")
    report = doctor_json(repo)
    found = {c["name"]: c for c in findings(report, "integrations")}
    assert found["claude-code (user)"]["data"]["state"] == "outdated"
    assert found["opencode (user)"]["data"]["state"] == "outdated"
    assert "recorded twice" in found["opencode (user)"]["message"]


def fill(settings: config.Settings, share: float) -> None:
    """Grow the database's high-water mark to `share` of its limit (real records), or as
    near as it goes before it is full."""
    db = LMDBDatabase.open_write(settings.database_path, settings.max_database_size)
    with db:
        n = 0
        while db.stats()["used_bytes"] < share * settings.max_database_size:
            try:
                db.put_batch({f"meta:filler:{n:06d}": {"x": "y" * 3000}})
            except DatabaseFullError:
                return
            n += 1


def test_a_nearly_full_database_warns_and_a_full_one_fails_with_the_fix(repo: Path) -> None:
    set_up(repo)
    record_some_work(repo)
    assert tracker("config", "set", "max_database_size", "1MiB").returncode == 0
    assert tracker("flush", cwd=repo).returncode == 0
    settings = config.load()
    fill(settings, 0.85)
    done = tracker("doctor", cwd=repo)
    assert done.returncode == 1
    assert re.search(r"(?m)^  warn  size: nearly full: .* of 1\.0 MiB \(\d\d%\)$", done.stdout)
    fix = re.search(
        r"(?m)^ {8}fix: (\S*agent-tracker config set max_database_size 2MiB)$", done.stdout
    )
    assert fix is not None
    fill(settings, 0.97)
    assert re.search(r"(?m)^  fail  size: full: ", tracker("doctor", cwd=repo).stdout)
    assert tracker(*fix[1].split()[1:]).returncode == 0
    data = doctor_json(repo)
    size = next(c for c in findings(data, "database") if c["name"] == "size")
    assert size["level"] == "ok"
    assert size["data"]["max_database_size"] == 2 * 1024**2


HOLD = """
import sys, time, lmdb
env = lmdb.open(sys.argv[1], subdir=True, readonly=True)
txns = [env.begin() for _ in range(int(sys.argv[2]))]
print("ready", flush=True)
time.sleep(300)
"""


@pytest.fixture
def holder() -> Iterator[Callable[[Path, int], subprocess.Popen[str]]]:
    """Processes that keep the database open with `n` read transactions; killed at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(path: Path, readers: int) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(path), str(readers)], stdout=subprocess.PIPE, text=True
        )
        started.append(proc)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], DEADLINE)
        assert ready
        assert proc.stdout.readline().strip() == "ready"
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=DEADLINE)


def test_reader_slots_of_killed_processes_are_cleared_and_reported(
    repo: Path, holder: Callable[[Path, int], subprocess.Popen[str]]
) -> None:
    set_up(repo)
    record_some_work(repo)
    assert tracker("flush", cwd=repo).returncode == 0
    path = config.load().database_path
    holder(path, 1)  # keeps the database open, so LMDB does not reset the reader table
    killed = holder(path, 3)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=DEADLINE)
    done = tracker("doctor", cwd=repo)
    assert (
        "  note  readers: cleared 3 reader slots of processes killed while reading "
        "(a harness that stops its hooks early?)"
    ) in done.stdout
    assert done.returncode == 0  # cleared: nothing left for the person to do
    readers = next(c for c in findings(doctor_json(repo), "database") if c["name"] == "readers")
    assert readers["level"] == "ok"
    assert readers["data"]["stale_readers"] == 0
    assert readers["data"]["readers"] == 1  # the holder's
    assert readers["message"] == "1 of 126 reader slots in use"


def test_quarantined_lines_need_the_person_until_the_folder_goes(
    repo: Path, settings: config.Settings
) -> None:
    set_up(repo)
    record_some_work(repo)
    journal = Journal(settings.journal_dir)
    journal.append(b'{"v": 2, "type": "tool", "torn')
    assert tracker("flush", cwd=repo).returncode == 0
    done = tracker("doctor", cwd=repo)
    assert done.returncode == 1
    quarantine = journal.quarantine_dir
    assert (
        "  warn  quarantine: 1 journal line could not be applied and is not counted; it is "
        f"kept, with the reason, in {quarantine}"
    ) in done.stdout
    assert f"        fix: cat {quarantine}/*  # read it; once read, delete that folder" in (
        done.stdout
    )
    for path in quarantine.iterdir():
        path.unlink()
    quarantine.rmdir()
    assert tracker("doctor", cwd=repo).returncode == 0


def test_an_invalid_setting_is_a_finding_not_a_crash(repo: Path) -> None:
    set_up(repo)
    done = tracker("doctor", cwd=repo, AGENT_TRACKER_MAX_DATABASE_SIZE="12 parsecs")
    assert done.returncode == 1
    assert done.stderr == ""
    assert "  fail  max_database_size is invalid: " in done.stdout
    assert "config set max_database_size VALUE" in done.stdout
    assert "post-commit: installed" in done.stdout  # the rest is still checked


def test_a_database_of_a_newer_format_says_to_upgrade(repo: Path) -> None:
    set_up(repo)
    record_some_work(repo)
    assert tracker("flush", cwd=repo).returncode == 0
    settings = config.load()
    import lmdb

    env = lmdb.open(str(settings.database_path), subdir=True)
    with env.begin(write=True) as txn:
        txn.put(b"meta:format", b"99")
    env.close()
    data = doctor_json(repo)
    opened = next(c for c in findings(data, "database") if c["name"] == "open")
    assert opened["level"] == "fail"
    assert "format 99" in opened["message"]
    assert opened["fix"].startswith("upgrade agent-tracker")


# -- Codex trust -------------------------------------------------------------------------------


def codex_key(home: Path, event: str) -> str:
    return f"{home / '.codex' / 'hooks.json'}:{event}:0:0"


def trust_codex(home: Path, *, skip: str = "", enabled: bool = True) -> None:
    """Write what /hooks in Codex writes when a person trusts our hooks."""
    lines = []
    for key, current in installed.codex_hooks(home / ".codex" / "hooks.json"):
        if skip and skip in key:
            continue
        lines += [f'[hooks.state."{key}"]', f'trusted_hash = "{current}"']
        if not enabled:
            lines.append("enabled = false")
    (home / ".codex" / "config.toml").write_text("\n".join(lines) + "\n")


def codex_trust_finding(repo: Path) -> dict[str, Any]:
    data = doctor_json(repo)
    return next(c for c in data["checks"] if c["name"] == "codex (user) trust")


def test_codex_hooks_are_untrusted_until_trusted_in_codex(repo: Path, home: Path) -> None:
    set_up(repo)
    record_some_work(repo)
    assert tracker("integrate", "codex", cwd=repo).returncode == 0
    done = tracker("doctor", cwd=repo)
    assert done.returncode == 1
    assert (
        "  warn  codex (user): 4 of 4 hooks not trusted yet: Codex skips them without a word; "
        "run /hooks in codex to review and trust them"
    ) in done.stdout
    assert "fix: start codex, type /hooks, trust the agent-tracker hooks" in done.stdout
    trust_codex(home, skip="stop")
    assert codex_trust_finding(repo)["data"]["trust"] == "untrusted"
    trust_codex(home)
    trusted = codex_trust_finding(repo)
    assert (trusted["level"], trusted["message"]) == ("ok", "codex (user): all 4 hooks trusted")
    assert tracker("doctor", cwd=repo).returncode == 0
    trust_codex(home, enabled=False)
    assert codex_trust_finding(repo)["data"]["trust"] == "disabled"


def test_codex_hooks_changed_since_they_were_trusted_are_modified(repo: Path, home: Path) -> None:
    set_up(repo)
    record_some_work(repo)
    assert tracker("integrate", "codex", cwd=repo).returncode == 0
    trust_codex(home)
    hooks = home / ".codex" / "hooks.json"
    data = json.loads(hooks.read_text())
    data["hooks"]["Stop"][0]["hooks"][0]["timeout"] = 5
    hooks.write_text(json.dumps(data))
    found = codex_trust_finding(repo)
    assert found["data"]["trust"] == "modified"
    assert "1 of 4 hooks changed since you trusted them" in found["message"]


def test_codex_trust_that_cannot_be_read_says_so_plainly(repo: Path, home: Path) -> None:
    set_up(repo)
    record_some_work(repo)
    assert tracker("integrate", "codex", cwd=repo).returncode == 0
    (home / ".codex" / "config.toml").write_text("this is = = not toml\n")
    found = codex_trust_finding(repo)
    assert found["level"] == "note"
    assert found["message"].startswith("codex (user): cannot tell (")
    assert found["message"].endswith("run /hooks in codex to review and trust them")


#: Where tests/e2e/clients.py installs the real clients (read before the tests' fixtures
#: drop AGENT_TRACKER_* variables).
CLIENTS = Path(
    os.environ.get("AGENT_TRACKER_E2E_CLIENTS")
    or Path(__file__).resolve().parents[1] / ".ci" / "clients"
)


def codex_client() -> Path | None:
    found = CLIENTS / "node_modules" / ".bin" / "codex"
    return found if found.exists() else None


def codex_hooks_list(codex: Path, cwd: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """Codex's own view of the hooks (its app-server's `hooks/list`), bounded in time."""
    requests = [
        {"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "t", "version": "1"}}},
        {"method": "initialized"},
        {"id": 2, "method": "hooks/list", "params": {"cwds": [str(cwd)]}},
    ]
    proc = subprocess.Popen(
        [str(codex), "app-server"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    assert proc.stdin is not None
    assert proc.stdout is not None
    out = proc.stdout.fileno()
    try:
        proc.stdin.write("".join(json.dumps(r) + "\n" for r in requests).encode())
        proc.stdin.flush()
        # Read the descriptor itself: a buffered reader may hold the answer select waits for.
        pending = b""
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            ready, _, _ = select.select([out], [], [], 1.0)
            if not ready:
                continue
            chunk = os.read(out, 65536)
            assert chunk, "codex app-server ended without answering hooks/list"
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                answer = json.loads(line) if line.strip() else {}
                if answer.get("id") == 2:
                    return [hook for entry in answer["result"]["data"] for hook in entry["hooks"]]
        raise AssertionError("codex app-server never answered hooks/list")
    finally:
        proc.kill()
        proc.wait(timeout=DEADLINE)


@pytest.mark.e2e
def test_our_codex_trust_hash_is_the_one_the_real_codex_computes(repo: Path, home: Path) -> None:
    codex = codex_client()
    if codex is None:
        pytest.skip("the real Codex is not installed (python3 tests/e2e/clients.py installs it)")
    assert tracker("integrate", "codex", cwd=repo).returncode == 0
    env = {**os.environ, "CODEX_HOME": str(home / ".codex")}
    theirs = {h["key"]: h["currentHash"] for h in codex_hooks_list(codex, repo, env)}
    ours = dict(installed.codex_hooks(home / ".codex" / "hooks.json"))
    assert len(ours) == 4
    assert {key: theirs.get(key) for key in ours} == ours
    trust_codex(home)
    trusted = {h["key"]: h["trustStatus"] for h in codex_hooks_list(codex, repo, env)}
    assert {key: trusted.get(key) for key in ours} == dict.fromkeys(ours, "trusted")
    assert tomllib.loads((home / ".codex" / "config.toml").read_text())["hooks"]["state"]


# -- output --------------------------------------------------------------------------------------


def test_on_a_60_column_terminal_findings_wrap_at_words(repo: Path, tmp_path: Path) -> None:
    set_up(repo)
    record_some_work(repo)
    assert tracker("integrate", "codex", cwd=repo).returncode == 0
    (tmp_path / "q").mkdir()
    text = on_terminal("doctor", cwd=repo, columns=60)
    lines = text.splitlines()
    assert "Codex skips them without a word" in " ".join(text.split())
    assert any(line.startswith(" " * 8) and "skips" in line for line in lines)  # wrapped
    for line in lines:
        assert line == line.rstrip(), repr(line)
        if len(line) > 60:  # only a path or command longer than the line can pass the edge
            assert max(len(word) for word in line.split()) > 60 - 14, repr(line)
    words = " ".join(line.strip() for line in lines).split()
    piped = tracker("doctor", cwd=repo).stdout
    # Piped: one line per finding, the same words, no line ends in a space.
    assert " ".join(piped.split()) == " ".join(words)
    assert not [line for line in piped.splitlines() if line != line.rstrip()]
    assert any(len(line) > 60 for line in piped.splitlines())


def test_every_check_in_json_has_a_level_and_a_message(repo: Path) -> None:
    set_up(repo)
    record_some_work(repo)
    data = doctor_json(repo)
    assert set(data) == {"healthy", "needs_you", "fresh", "repo", "paths", "checks", "last_seen"}
    for check in data["checks"]:
        assert check["level"] in ("ok", "note", "warn", "fail")
        assert check["message"]
        assert set(check) == {"section", "name", "level", "message", "fix", "data"}
    assert data["paths"]["database"].endswith("agent-tracker.lmdb")
