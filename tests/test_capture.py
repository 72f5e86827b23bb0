from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from conftest import Result, commit_file, git, run_tracker

from agent_tracker import capture, cli, config, events
from agent_tracker.journal import Journal

Cli = Callable[..., Result]


def journal_events(settings: config.Settings) -> list[dict[str, object]]:
    good, bad = Journal(settings.journal_dir).read(settings.journal_dir / "live.jsonl")
    assert bad == []
    return good


def test_capture_commands_never_create_or_touch_the_database(
    cli: Cli, make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo()
    monkeypatch.chdir(repo)
    commit_file(repo, "a.py", "print(1)\n", "first")
    settings = config.load()
    assert cli("track", "tool", "edit", "--agent", "build", "--model", "m").code == 0
    assert cli("track", "command", "test", "--agent", "build").code == 0
    assert cli("commit").code == 0
    assert cli("grade", "good", "--by", "agent").code == 0
    assert cli("grade", "-1", "--by", "user").code == 0
    assert not settings.database_path.exists()
    assert [e["type"] for e in journal_events(settings)] == [
        "tool",
        "command",
        "commit",
        "grade",
        "grade",
    ]


def test_journal_is_private_and_each_event_has_id_version_and_setup(cli: Cli, home: Path) -> None:
    assert (
        cli("track", "tool", "read", "--agent=plan", "--model=x/y", "--harness=opencode").code == 0
    )
    settings = config.load()
    live = settings.journal_dir / "live.jsonl"
    assert (live.stat().st_mode & 0o777) == 0o600
    assert (settings.journal_dir.stat().st_mode & 0o777) == 0o700
    (event,) = journal_events(settings)
    assert event["v"] == events.EVENT_FORMAT
    assert len(str(event["id"])) == 24
    assert (event["harness"], event["agent"], event["model"]) == ("opencode", "plan", "x/y")
    assert event["name"] == "read"


def test_setup_comes_from_environment_when_no_flags(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_TRACKER_AGENT", "reviewer")
    monkeypatch.setenv("AGENT_TRACKER_MODEL", "openai/gpt-5")
    monkeypatch.setenv("CLAUDECODE", "1")
    cli("track", "tool", "bash")
    cli("track", "tool", "bash", "--agent", "flagged")
    first, second = journal_events(config.load())
    assert (first["harness"], first["agent"], first["model"]) == (
        "claude-code",
        "reviewer",
        "openai/gpt-5",
    )
    assert second["agent"] == "flagged"


def test_project_is_the_normalised_origin_url(
    cli: Cli, make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo("app", origin="https://user:secret@GitHub.com/Me/app.git")
    (repo / "sub").mkdir()
    monkeypatch.chdir(repo / "sub")
    cli("track", "tool", "edit")
    ssh = make_repo("app-ssh", origin="git@github.com:Me/app.git")
    cli("track", "tool", "edit", "--repo", str(ssh))
    first, second = journal_events(config.load())
    assert first["project"] == second["project"] == "github.com/Me/app"


def test_project_without_origin_is_the_main_worktree_path(
    cli: Cli, make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    repo = make_repo("plain")
    commit_file(repo, "f.txt", "x", "one")
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", str(linked))
    cli("track", "tool", "edit", "--repo", str(repo))
    cli("track", "tool", "edit", "--repo", str(linked))
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    cli("track", "tool", "edit", "--repo", str(outside))
    a, b, c = journal_events(config.load())
    assert a["project"] == b["project"] == str(repo)
    assert c["project"] == str(outside)


def test_commit_reads_hash_subject_counts_and_extensions(
    cli: Cli, make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo()
    monkeypatch.chdir(repo)
    (repo / "a.py").write_text("1\n2\n3\n")
    (repo / "b.md").write_text("doc\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add things\n\nbody")
    commit_file(repo, "a.py", "1\n", "Shrink")
    assert cli("commit", "--agent", "build", "--model", "m").code == 0
    assert cli("commit", "--rev", "HEAD~1", "--agent", "build", "--model", "m").code == 0
    head, first = journal_events(config.load())
    assert head["hash"] == git(repo, "rev-parse", "HEAD")
    assert (head["subject"], head["files"], head["insertions"], head["deletions"]) == (
        "Shrink",
        1,
        0,
        2,
    )
    assert first["subject"] == "Add things"
    assert first["exts"] == {".py": 1, ".md": 1}
    assert first["insertions"] == 4
    assert isinstance(first["author_time"], int)
    assert first["source"] == "flag"


def test_commit_attribution_chain_records_its_source(
    cli: Cli, make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo()
    monkeypatch.chdir(repo)
    commit_file(repo, "a", "1", "plain commit")
    cli("commit")
    git(
        repo, "commit", "-q", "--allow-empty", "-m", "trailered\n\nAgent: build\nModel: anthropic/x"
    )
    cli("commit")
    cli("track", "tool", "edit", "--agent", "plan", "--model", "m2", "--harness", "opencode")
    git(repo, "commit", "-q", "--allow-empty", "-m", "after a tool call")
    cli("commit")
    monkeypatch.setenv("AGENT_TRACKER_AGENT", "envagent")
    cli("commit")
    cli("commit", "--agent", "flagagent")
    commits = [e for e in journal_events(config.load()) if e["type"] == "commit"]
    assert [(c["source"], c["agent"], c["model"]) for c in commits] == [
        ("unknown", "unknown", "unknown"),
        ("trailer", "build", "anthropic/x"),
        ("recent", "plan", "m2"),
        ("env", "envagent", "unknown"),
        ("flag", "flagagent", "unknown"),
    ]
    assert commits[2]["harness"] == "opencode"


def test_claude_code_co_author_marker_counts_as_trailer(
    cli: Cli, make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo()
    monkeypatch.chdir(repo)
    message = "feat\n\nCo-Authored-By: Claude <noreply@anthropic.com>"
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    cli("commit")
    (event,) = journal_events(config.load())
    assert (event["source"], event["harness"], event["agent"]) == ("trailer", "claude-code", "main")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("-1", -1),
        ("1", 1),
        ("2", 2),
        ("5", 5),
        ("bad", -1),
        ("NEUTRAL", 1),
        ("Good", 2),
        ("excellence", 5),
        ("+2", 2),
    ],
)
def test_all_grade_forms_are_accepted(
    cli: Cli, make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, text: str, value: int
) -> None:
    repo = make_repo()
    monkeypatch.chdir(repo)
    sha = commit_file(repo, "a", "1", "c")
    assert cli("grade", text, "--by", "user", "--note", "why").code == 0
    (event,) = journal_events(config.load())
    assert (event["grade"], event["by"], event["hash"], event["note"]) == (
        value,
        "user",
        sha,
        "why",
    )


# Item 23 of issue 9: only ASCII digits are grades (not fullwidth or Arabic-Indic ones, nor 0_5).
@pytest.mark.parametrize(
    "text",
    ["0", "3", "-2", "great", "", "1.5", "\uff15", "+\uff15", "-\uff11", "\u0665", "0_5", "+-1"],
)
def test_other_grades_are_rejected_listing_the_accepted_values(
    cli: Cli, make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    repo = make_repo()
    monkeypatch.chdir(repo)
    commit_file(repo, "a", "1", "c")
    result = cli("grade", text, "--by", "user")
    assert result.code == 2
    assert "is not accepted" in result.err
    assert "bad (-1), neutral (+1), good (+2), excellence (+5)" in result.err
    assert not (config.load().journal_dir / "live.jsonl").exists()


def test_grade_negative_value_works_as_typed_in_a_real_process(
    make_repo: Callable[..., Path],
) -> None:
    repo = make_repo()
    commit_file(repo, "a", "1", "c")
    done = run_tracker("grade", "-1", "--by", "user", cwd=repo)
    assert done.returncode == 0, done.stderr
    line = (config.load().journal_dir / "live.jsonl").read_text()
    assert json.loads(line)["grade"] == -1


def test_grade_needs_by_and_a_commit(
    cli: Cli, make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    repo = make_repo()
    monkeypatch.chdir(repo)
    commit_file(repo, "a", "1", "c")
    missing_by = cli("grade", "good")
    assert missing_by.code == 2
    assert "--by" in missing_by.err
    bad_rev = cli("grade", "good", "--by", "user", "--commit", "nope")
    assert bad_rev.code == 1
    assert "'nope' is not a commit" in bad_rev.err
    assert "Traceback" not in bad_rev.err


def test_fast_parser_and_typer_commands_define_the_same_options() -> None:
    group = typer.main.get_command(cli.app)
    for name, (positional, options) in capture.COMMANDS.items():
        command = group
        for part in name.split():
            command = command.commands[part]  # type: ignore[attr-defined]
        typer_options = sorted(
            opt for p in command.params if p.param_type_name == "option" for opt in p.opts
        )
        typer_args = [p.name for p in command.params if p.param_type_name == "argument"]
        assert typer_options == sorted((*options, "--help")) or typer_options == sorted(options)
        assert typer_args == list(positional)


@pytest.mark.parametrize(
    "argv",
    [
        ["track", "tool"],
        ["track", "tool", "a", "b"],
        ["track", "tool", "a", "--unknown", "x"],
        ["track", "tool", "a", "--agent"],
        ["track", "tool", "a", "--agent", "x", "--agent", "y"],
        ["grade", "good"],
        ["track", "nothing"],
        ["commit", "extra"],
    ],
)
def test_fast_parser_hands_anything_unusual_to_typer(argv: list[str]) -> None:
    assert capture.parse(argv) is None


def test_help_is_never_taken_by_the_fast_path(cli: Cli) -> None:
    result = cli("commit", "--help")
    assert result.code == 0
    assert "post-commit" in result.out
    assert not config.load().journal_dir.exists()


def test_unusual_capture_input_gets_typer_errors(cli: Cli) -> None:
    result = cli("track", "tool", "edit", "--bogus", "1")
    assert result.code == 2
    assert "--bogus" in result.err
    helped = cli("track", "tool", "--help")
    assert helped.code == 0
    assert "+1 XP" in helped.out


def test_global_options_before_a_capture_command_are_honoured(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "other.lmdb"
    assert cli("--database-path", str(target), "track", "tool", "edit").code == 0
    assert cli("--database-path", str(target), "flush").code == 0
    assert (target / "data.mdb").exists()
    assert not config.load().database_path.exists()


def test_very_long_fields_are_cut_to_keep_lines_within_4_kib(cli: Cli) -> None:
    assert cli("track", "tool", "x" * 10000, "--model", "é" * 5000).code == 0
    raw = (config.load().journal_dir / "live.jsonl").read_bytes()
    assert len(raw) <= events.MAX_LINE
    assert json.loads(raw)["name"] == "x" * 200


def test_capture_outside_git_still_records_a_tool_call(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    assert cli("track", "command", "pytest", "--repo", str(folder)).code == 0
    (event,) = journal_events(config.load())
    assert event["project"] == str(folder)


def test_recent_session_attribution_survives_a_flush_in_between(
    cli: Cli, make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo()
    monkeypatch.chdir(repo)
    cli("track", "tool", "edit", "--agent", "build", "--model", "m1", "--harness", "opencode")
    assert cli("flush").code == 0  # e.g. a push in another repository
    commit_file(repo, "a.py", "1", "after the flush")
    cli("commit")
    (event,) = journal_events(config.load())
    assert (event["source"], event["harness"], event["agent"], event["model"]) == (
        "recent",
        "opencode",
        "build",
        "m1",
    )


def test_amend_is_recorded_as_replacing_and_rebase_is_not_counted_again(
    cli: Cli, make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo()
    monkeypatch.chdir(repo)
    first = commit_file(repo, "a.py", "1", "one")
    git(repo, "commit", "-q", "--amend", "-m", "one, amended")
    amended = git(repo, "rev-parse", "HEAD")
    cli("commit", "--agent", "a")
    git(repo, "checkout", "-q", "-b", "side", first + "~0")
    commit_file(repo, "b.py", "2", "two")
    git(repo, "checkout", "-q", "main")
    commit_file(repo, "c.py", "3", "three")
    git(repo, "checkout", "-q", "side")
    git(repo, "rebase", "-q", "main")
    skipped = cli("commit", "--agent", "a")
    assert skipped.code == 0
    assert "not counted again" in skipped.err
    (amend,) = journal_events(config.load())
    assert amend["replaces"] == first
    assert amend["hash"] == amended


def test_a_named_repo_wins_over_an_inherited_git_dir(
    cli: Cli, make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    one = make_repo("one", origin="git@example.com:me/one.git")
    two = make_repo("two", origin="git@example.com:me/two.git")
    commit_file(one, "a", "1", "in one")
    sha_two = commit_file(two, "b", "2", "in two")
    monkeypatch.setenv("GIT_DIR", str(one / ".git"))  # as inside one's hook
    assert cli("grade", "good", "--by", "user", "--repo", str(two)).code == 0
    (event,) = journal_events(config.load())
    assert (event["project"], event["hash"]) == ("example.com/me/two", sha_two)


def test_by_is_case_insensitive_on_both_paths(
    cli: Cli, make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo()
    monkeypatch.chdir(repo)
    commit_file(repo, "a", "1", "c")
    assert cli("grade", "good", "--by", "User").code == 0  # fast path
    assert cli("grade", "good", "--by", "AGENT", "--unknown-to-fast-path").code == 2
    assert cli("--config", "/nonexistent.toml", "grade", "good", "--by", "AGENT").code == 0
    assert [e["by"] for e in journal_events(config.load())] == ["user", "agent"]


def test_a_claude_code_hook_payload_on_stdin_gives_the_tool_and_folder(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    repo = make_repo("app", origin="git@github.com:me/app.git")
    payload = json.dumps(
        {
            "session_id": "s",
            "hook_event_name": "PostToolUse",
            "tool_name": "Edit",
            "cwd": str(repo),
            # Past the 1 MiB that an earlier version read: the name must survive it.
            "tool_input": {"content": "x" * (3 << 20)},
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "agent_tracker", "track", "tool", "-", "--harness", "claude-code"],
        input=payload,
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    (event,) = journal_events(config.load())
    assert (event["name"], event["project"], event["harness"]) == (
        "Edit",
        "github.com/me/app",
        "claude-code",
    )
    garbage = subprocess.run(
        [sys.executable, "-m", "agent_tracker", "track", "tool", "-"],
        input="not json",
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert garbage.returncode == 0
    assert journal_events(config.load())[-1]["name"] == "unknown"


def test_aiders_author_marker_counts_as_an_author_marker(
    cli: Cli, make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo()
    monkeypatch.chdir(repo)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Person (aider)")
    git(repo, "commit", "-q", "--allow-empty", "-m", "aider: fix")
    cli("commit")
    (event,) = journal_events(config.load())
    assert (event["source"], event["harness"], event["agent"]) == ("author", "aider", "aider")


@pytest.mark.parametrize(
    "value",
    [
        {"v": 2, "id": "a", "ts": 1796048659.588, "name": 'quote " back \\ slash'},
        {"text": "tab\there\nnew line\r\x00\x1f\x7f é 日本 \u2028 🎉", "n": -3, "ok": False},
        {"tokens": {"in": 0, "out": 12}, "exts": {".py": 2}, "none": None, "t": True},
        {"list": [1, "two", 3.5, [None]], "big": 2**70, "small": 1e-07, "neg": -0.0},
    ],
)
def test_the_journal_writer_writes_what_json_dumps_writes(value: dict[str, object]) -> None:
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert events.dumps(value) == expected
    assert json.loads(events.dumps(value)) == value


def test_capture_does_not_import_json_or_anything_heavy(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from agent_tracker.entry import main\n"
        "code = main(['track', 'tool', 'edit', '--agent', 'a', '--model', 'm'])\n"
        "heavy = ('json', 'typer', 'rich', 'lmdb', 'pydantic', 'click', 'orjson', 'pathlib')\n"
        "print(code, sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    # Without coverage's start-up hook in the child: coverage itself imports json and pathlib.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_PROCESS")}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert done.stdout.strip() == "0 []", done.stderr


# -- issue 9, item 8: an invalid setting never stops capture --------------------------------


def _write_config(home: Path, text: str) -> Path:
    path = home / ".config" / "opencode" / "agent-tracker.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("config_text", "env"),
    [
        ('max_database_size = "big"\n', {}),
        ("not toml at all = =\n", {}),
        ("", {"AGENT_TRACKER_MAX_DATABASE_SIZE": "1e999"}),
        ("", {"AGENT_TRACKER_ATTRIBUTION_WINDOW": "soon"}),
    ],
)
def test_an_invalid_setting_never_stops_capture_only_the_commands_that_need_it(
    home: Path, make_repo: Callable[..., Path], config_text: str, env: dict[str, str]
) -> None:
    repo = make_repo()
    commit_file(repo, "a", "1", "c")
    _write_config(home, config_text)
    environ = {**os.environ, **env}
    captured = [
        run_tracker("track", "tool", "edit", "--agent", "a", "--model", "m", cwd=repo, env=environ),
        run_tracker("commit", "--agent", "a", "--model", "m", cwd=repo, env=environ),
        run_tracker("grade", "good", "--by", "user", cwd=repo, env=environ),
        # the Typer path, through a global option
        run_tracker("--database-path", "~/db.lmdb", "track", "tool", "x", cwd=repo, env=environ),
    ]
    for done in captured:
        assert done.returncode == 0, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr  # said once
        assert lines[0].startswith("agent-tracker: warning: ignored invalid settings")
    hooked = subprocess.run(
        [sys.executable, "-m", "agent_tracker", "hook", "claude-code"],
        input=json.dumps({"hook_event_name": "PostToolUse", "tool_name": "Edit", "cwd": str(repo)}),
        capture_output=True,
        text=True,
        env=environ,
        check=False,
    )
    assert hooked.returncode == 0
    assert "ignored invalid settings" in hooked.stderr
    kinds = [e["type"] for e in journal_events(config.load(fallback=True))]
    assert kinds == ["tool", "commit", "grade", "tool", "tool"]
    if "ATTRIBUTION_WINDOW" not in str(env):  # flush needs the size; the window it does not
        flushed = run_tracker("flush", cwd=repo, env=environ)
        assert flushed.returncode == 2
        assert len(flushed.stderr.strip().splitlines()) == 1
        assert flushed.stderr.startswith("agent-tracker: error:")
    else:
        assert run_tracker("flush", cwd=repo, env=environ).returncode == 0


# -- issue 9, item 13: inside a hook, capture never fails its caller -----------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["grade", "good", "--by", "user", "--commit", "nope"],  # fast path, unknown commit
        ["commit", "--rev", "nope"],
        ["--config", "/nonexistent.toml", "commit", "--rev", "nope"],  # the Typer path
        ["track", "tool", "edit", "--bogus"],  # a usage error
    ],
)
def test_in_a_hook_a_failed_capture_is_one_line_and_exit_0_by_hand_non_zero(
    make_repo: Callable[..., Path], argv: list[str]
) -> None:
    repo = make_repo()
    commit_file(repo, "a", "1", "c")
    by_hand = run_tracker(*argv, cwd=repo)
    hooked = run_tracker(*argv, cwd=repo, env={**os.environ, capture.ENV_HOOK: "10"})
    assert by_hand.returncode in (1, 2)
    assert hooked.returncode == 0
    for done in (by_hand, hooked):
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stderr.startswith("agent-tracker: error:")
        assert "Traceback" not in done.stderr


def test_in_a_hook_an_unwritable_journal_is_exit_0(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    repo = make_repo()
    commit_file(repo, "a", "1", "c")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    env = {**os.environ, "AGENT_TRACKER_JOURNAL_DIR": str(blocker / "journal")}
    assert run_tracker("commit", cwd=repo, env=env).returncode == 1
    hooked = run_tracker("commit", cwd=repo, env={**env, capture.ENV_HOOK: "10"})
    assert hooked.returncode == 0
    assert hooked.stderr.startswith("agent-tracker: error:")


def test_the_hook_command_exits_0_even_when_called_wrongly() -> None:
    done = run_tracker("hook", "claude-code", "extra")
    assert done.returncode == 0
    assert len(done.stderr.strip().splitlines()) == 1


# -- flush without Typer (issue 10): the pre-push hook's command -----------------------------


def test_flush_does_not_import_typer_rich_or_pydantic(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from agent_tracker.entry import main\n"
        "main(['track', 'tool', 'edit'])\n"
        "code = main(['flush'])\n"
        "heavy = ('typer', 'rich', 'pydantic', 'click')\n"
        "print(code, sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert done.stdout.splitlines()[-1] == "0 []", done.stdout + done.stderr
    assert done.stdout.startswith("flushed 1 event (1 tool)")


def _flush_both_ways(tmp_path: Path, *args: str) -> tuple[str, str]:
    """The output of the fast `flush ARGS` and of the Typer command (a global option sends
    it there) on the same pending events, each in a home of its own."""
    outputs = []
    for way, prefix in (("fast", []), ("typer", ["--max-database-size", "512MiB"])):
        env = {**os.environ, "HOME": str(tmp_path / way)}
        for command in (["tool", "edit"], ["tool", "edit"], ["command", "test"]):
            assert run_tracker("track", *command, env=env).returncode == 0
        done = run_tracker(*prefix, "flush", *args, env=env)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    return outputs[0], outputs[1]


def test_the_fast_flush_prints_what_the_cli_prints(tmp_path: Path) -> None:
    fast, typer_out = _flush_both_ways(tmp_path)
    assert fast == typer_out
    assert fast.startswith("flushed 3 events (1 command, 2 tools) in one transaction")


def test_the_fast_flush_prints_the_same_json_as_the_cli(tmp_path: Path) -> None:
    fast, typer_out = _flush_both_ways(tmp_path, "--format", "json", "--wait", "5")
    assert json.loads(fast) == json.loads(typer_out)
    assert json.loads(fast)["applied"] == 3


@pytest.mark.parametrize(
    "argv",
    [
        ["--format", "yaml"],
        ["--format"],
        ["--wait", "1", "--wait", "2"],
        ["--bogus"],
        ["extra"],
        ["--help"],
    ],
)
def test_an_unusual_flush_goes_to_typer(argv: list[str]) -> None:
    from agent_tracker import entry

    assert entry._flush_options(argv) is None


def test_the_fast_flush_reports_an_invalid_setting_as_the_cli_does(tmp_path: Path) -> None:
    env = {**os.environ, "AGENT_TRACKER_MAX_DATABASE_SIZE": "huge"}
    fast = run_tracker("flush", env=env)
    typer_out = run_tracker("--config", str(tmp_path / "none.toml"), "flush", env=env)
    assert (fast.returncode, fast.stderr) == (typer_out.returncode, typer_out.stderr)
    assert fast.returncode != 0
    assert fast.stderr.startswith("agent-tracker: error:")


#: Runs its arguments with standard output closed (file descriptor 1 not open at all).
CLOSED_STDOUT = ("sh", "-c", 'exec "$@" >&-', "sh")


def test_a_flush_with_no_standard_output_flushes_and_exits_0_as_the_cli_does(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "HOME": str(tmp_path)}
    assert run_tracker("track", "tool", "edit", env=env).returncode == 0
    codes = []
    # The fast path, Typer's (a root option sends it there), the fast path's JSON.
    ways = (([], []), (["--max-database-size", "512MiB"], []), ([], ["--format", "json"]))
    for before, after in ways:
        done = subprocess.run(
            [*CLOSED_STDOUT, sys.executable, "-m", "agent_tracker", *before, "flush", *after],
            env=env,
            capture_output=False,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        codes.append((done.returncode, "Traceback" in done.stderr))
        status = run_tracker("status", "--format", "json", env=env)
        assert json.loads(status.stdout)["pending_events"] == 0  # flushed all the same
        assert run_tracker("track", "tool", "edit", env=env).returncode == 0
    assert codes == [(0, False), (0, False), (0, False)]
