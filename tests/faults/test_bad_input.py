"""Bad input, row by row, through real processes (issue 9, "The suite": the bad-input table).

Every command and option gets what a careless person, a hostile folder or a broken harness
hands it: grades that are not grades, sizes and days beyond range, paths that are files or
missing, names far beyond LMDB's 511-byte key limit, control characters, bytes that are not
UTF-8 (in argv and the environment), unknown revisions, no repository, a config file that is
not TOML or has unknown keys. Each row runs `python -m agent_tracker` and requires:

- the documented exit code (README, "Exit codes": 0 done, 1 failed, 2 bad input; `hook`
  and capture inside a hook always 0);
- at most one line on standard error (exactly one when the command failed), starting with
  `agent-tracker:`, and no traceback;
- nothing already recorded lost: before the row a known setup's events are flushed into the
  database; after it, a flush applies whatever the row left pending, every key of the
  database before the row is still there, and the known setup's totals are unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import commit_event, commit_file, db_entries, git, setup_totals

from agent_tracker import capture, config, events
from agent_tracker.journal import Journal
from agent_tracker.tracking import TrackingService
from faults.conftest import Ledger, has_traceback, tracker

BASE = ("opencode", "base", "m")
#: Far beyond LMDB's 511-byte key limit, and beyond the journal's 4 KiB line.
LONG = "x" * 20_000
#: An escape sequence that would recolour the terminal and set its title.
ESC = "\x1b[31mred\x1b]0;title\x07"
#: A byte that is not UTF-8, as Python hands it over from argv and the environment.
NOT_UTF8 = "\udcff"
CONFIG_NAME = "agent-tracker.toml"


@dataclass
class Row:
    """One bad input: the command line, where it runs, what the environment holds."""

    id: str
    argv: tuple[str, ...]
    code: int
    #: Words the one line on stderr must hold (case-sensitive); "" for no check.
    says: str = ""
    #: "repo" (a git repository with a commit), "outside" (no repository above it).
    where: str = "repo"
    env: dict[str, str] = field(default_factory=dict)
    stdin: str | bytes | None = None
    #: The config file's text (None: no config file).
    config: str | None = None
    #: Files the command must not create (placeholders allowed).
    creates_nothing: tuple[str, ...] = ()
    marks: tuple[Any, ...] = ()


HOOK = {"AGENT_TRACKER_HOOK_TIMEOUT": "10"}

ROWS = [
    # -- global options --------------------------------------------------------------------
    Row("size-word", ("--max-database-size", "big", "status"), 2, "max_database_size"),
    Row("size-infinite", ("--max-database-size", "1e999", "status"), 2, "out of range"),
    Row("size-nan", ("--max-database-size", "nan", "status"), 2, "max_database_size"),
    Row("size-zero", ("--max-database-size", "0", "flush"), 2, "out of range"),
    Row("size-negative", ("--max-database-size", "-5MiB", "report"), 2, "out of range"),
    Row("size-too-big", ("--max-database-size", "3GiB", "status"), 2, "out of range"),
    Row("size-unit", ("--max-database-size", "5XB", "status"), 2, "max_database_size"),
    Row("size-missing-value", ("--max-database-size",), 2, "--max-database-size"),
    Row("database-path-tilde-user", ("--database-path", "~nobody/db", "status"), 2, "~user"),
    Row("database-path-empty", ("--database-path", "", "flush"), 2, "non-empty"),
    Row("database-path-is-a-file", ("--database-path", "{file}", "rebuild"), 1, "cannot open"),
    Row("database-path-is-a-file-read", ("--database-path", "{file}", "status"), 0),
    Row("config-is-a-folder", ("--config", "{outside}", "status"), 2, "cannot read config"),
    Row("config-missing-file", ("--config", "{missing}", "status"), 0),
    Row("config-tilde-user", ("--config", "~nobody/x.toml", "status"), 2, "~user"),
    Row("unknown-command", ("frobnicate",), 2, "'frobnicate' is not a command"),
    Row("unknown-root-option", ("--colour", "status"), 2, "no option --colour"),
    # -- config files ----------------------------------------------------------------------
    Row("toml-malformed-status", ("status",), 2, "not valid TOML", config="a = = b\n"),
    Row("toml-malformed-report", ("report",), 2, "not valid TOML", config="[oops\n"),
    Row("toml-malformed-flush", ("flush",), 2, "not valid TOML", config="x = 'unclosed\n"),
    Row("toml-not-utf8", ("status",), 2, "not valid TOML", config="a = '\udcff'\n"),
    Row("toml-unknown-key", ("status",), 2, "unknown setting", config="colour = 1\n"),
    Row("toml-newer-format", ("status",), 1, "upgrade agent-tracker", config="format = 9\n"),
    Row("toml-wrong-type", ("flush",), 2, "database_path", config="database_path = 5\n"),
    Row(
        "toml-bad-size-track",
        ("track", "tool", "edit"),
        0,
        "ignored invalid settings",
        config='max_database_size = "big"\n',
    ),
    Row("toml-malformed-commit", ("commit",), 0, "ignored invalid settings", config="a = = b\n"),
    Row(
        "toml-unknown-key-grade",
        ("grade", "good", "--by", "user"),
        0,
        "ignored invalid settings",
        config="colour = 1\n",
    ),
    Row(
        "toml-newer-hook",
        ("hook", "claude-code"),
        0,
        "ignored invalid settings",
        config="format = 9\n",
        stdin='{"hook_event_name": "PostToolUse", "tool_name": "Edit"}',
    ),
    Row(
        "config-set-repairs",
        ("config", "set", "attribution_window", "1h"),
        0,
        "repaired",
        config="a = = b\njournal_dir = '~/j'\n",
    ),
    Row("config-show-broken", ("config", "show"), 2, "not valid TOML", config="a = = b\n"),
    # -- environment -----------------------------------------------------------------------
    Row(
        "env-size-word-flush",
        ("flush",),
        2,
        "max_database_size",
        env={"AGENT_TRACKER_MAX_DATABASE_SIZE": "lots"},
    ),
    Row(
        "env-size-word-track",
        ("track", "command", "test"),
        0,
        "ignored invalid settings",
        env={"AGENT_TRACKER_MAX_DATABASE_SIZE": "lots"},
    ),
    Row("env-window-status", ("status",), 0, env={"AGENT_TRACKER_ATTRIBUTION_WINDOW": "soon"}),
    Row(
        "env-window-commit",
        ("commit",),
        0,
        "ignored invalid settings",
        env={"AGENT_TRACKER_ATTRIBUTION_WINDOW": "1e999"},
    ),
    Row(
        "env-journal-tilde-user",
        ("track", "tool", "edit"),
        0,
        "ignored invalid settings",
        env={"AGENT_TRACKER_JOURNAL_DIR": "~nobody/j"},
    ),
    Row(
        "env-journal-is-a-file",
        ("track", "tool", "edit"),
        1,
        "error",
        env={"AGENT_TRACKER_JOURNAL_DIR": "{file}/j"},
    ),
    Row(
        "env-journal-is-a-file-hook",
        ("track", "tool", "edit"),
        0,
        "error",
        env={"AGENT_TRACKER_JOURNAL_DIR": "{file}/j", **HOOK},
    ),
    Row(
        "env-config-not-utf8",
        ("status",),
        0,
        env={"AGENT_TRACKER_CONFIG": f"/nonexistent/{NOT_UTF8}.toml"},
    ),
    Row(
        "env-agent-not-utf8",
        ("track", "tool", "edit"),
        0,
        env={"AGENT_TRACKER_AGENT": f"a{NOT_UTF8}"},
    ),
    Row("env-model-control", ("track", "tool", "edit"), 0, env={"AGENT_TRACKER_MODEL": ESC}),
    Row(
        "env-hook-timeout-word",
        ("track", "tool", "edit"),
        0,
        env={"AGENT_TRACKER_HOOK_TIMEOUT": "soon"},
    ),
    # -- track -----------------------------------------------------------------------------
    Row("track-no-name", ("track", "tool"), 2, "NAME is missing"),
    Row("track-empty-name", ("track", "tool", " "), 2, "must not be empty"),
    Row("track-empty-name-hook", ("track", "tool", ""), 0, "must not be empty", env=HOOK),
    Row("track-unknown-kind", ("track", "thing", "x"), 2, "'thing' is not a command"),
    Row("track-unknown-option", ("track", "tool", "edit", "--colour", "red"), 2, "--colour"),
    Row("track-option-twice", ("track", "tool", "e", "--agent", "a", "--agent", "b"), 0),
    Row("track-long-name", ("track", "tool", LONG), 0),
    Row("track-long-agent", ("track", "tool", "edit", "--agent", LONG, "--model", LONG), 0),
    Row("track-long-harness", ("track", "command", "t", "--harness", LONG), 0),
    Row("track-control-names", ("track", "tool", ESC, "--agent", ESC, "--model", ESC), 0),
    Row("track-newline-name", ("track", "tool", "a\nb\r\n", "--agent", "x\ny"), 0),
    Row("track-not-utf8-name", ("track", "tool", f"e{NOT_UTF8}"), 0),
    Row(
        "track-not-utf8-agent",
        ("track", "tool", "edit", "--agent", NOT_UTF8),
        0,
    ),
    Row("track-repo-missing", ("track", "tool", "edit", "--repo", "{missing}"), 0),
    Row("track-repo-is-a-file", ("track", "tool", "edit", "--repo", "{file}"), 0),
    Row("track-repo-deep", ("track", "tool", "edit", "--repo", "{deep}"), 0),
    Row("track-outside", ("track", "command", "test"), 0, where="outside"),
    Row("track-stdin-not-json", ("track", "tool", "-"), 0, stdin="{not json"),
    Row("track-stdin-binary", ("track", "tool", "-"), 0, stdin=b"\xff\xfe\x00\x01"),
    Row(
        "track-stdin-surrogate",
        ("track", "tool", "-"),
        0,
        stdin='{"tool_name": "\\ud800", "cwd": "."}',
    ),
    # -- commit ----------------------------------------------------------------------------
    Row("commit-unknown-rev", ("commit", "--rev", "nope"), 1, "nope"),
    Row("commit-unknown-rev-hook", ("commit", "--rev", "nope"), 0, "nope", env=HOOK),
    Row(
        "commit-rev-option",
        ("commit", "--rev=--output={outside}/leak"),
        1,
        creates_nothing=("{outside}/leak",),
    ),
    Row("commit-long-rev", ("commit", "--rev", LONG), 1),
    Row("commit-control-rev", ("commit", "--rev", ESC), 1),
    Row("commit-outside", ("commit",), 1, "git", where="outside"),
    Row("commit-outside-hook", ("commit",), 0, "git", where="outside", env=HOOK),
    Row("commit-repo-missing", ("commit", "--repo", "{missing}"), 1),
    Row("commit-extra-argument", ("commit", "extra"), 2, "extra"),
    Row("commit-long-agent", ("commit", "--agent", LONG, "--model", LONG), 0),
    # -- grade -----------------------------------------------------------------------------
    Row("grade-fullwidth", ("grade", "\uff15", "--by", "user"), 2, "not accepted"),
    Row("grade-arabic-digit", ("grade", "\u0665", "--by", "user"), 2, "not accepted"),
    Row("grade-zero", ("grade", "0", "--by", "user"), 2, "not accepted"),
    Row("grade-float", ("grade", "2.0", "--by", "agent"), 2, "not accepted"),
    Row("grade-huge", ("grade", "9" * 5000, "--by", "user"), 2, "not accepted"),
    Row("grade-empty", ("grade", "", "--by", "user"), 2, "not accepted"),
    Row("grade-control", ("grade", ESC, "--by", "user"), 2, "not accepted"),
    Row("grade-not-utf8", ("grade", NOT_UTF8, "--by", "user"), 2, "not accepted"),
    Row("grade-no-by", ("grade", "good"), 2, "--by"),
    Row("grade-bad-by", ("grade", "good", "--by", "robot"), 2, "robot"),
    Row("grade-unknown-commit", ("grade", "good", "--by", "user", "--commit", "nope"), 1),
    Row(
        "grade-outside",
        ("grade", "good", "--by", "user"),
        1,
        "not inside a git repository",
        where="outside",
    ),
    Row("grade-long-note", ("grade", "good", "--by", "user", "--note", LONG), 0),
    Row("grade-control-note", ("grade", "bad", "--by", "user", "--note", ESC), 0),
    Row(
        "grade-not-utf8-note",
        ("grade", "bad", "--by", "user", "--note", NOT_UTF8),
        0,
    ),
    Row("grade-fullwidth-hook", ("grade", "\uff15", "--by", "user"), 0, "not accepted", env=HOOK),
    # -- hook ------------------------------------------------------------------------------
    Row("hook-unknown-harness", ("hook", "nonesuch"), 0, "unknown harness", stdin="{}"),
    Row("hook-no-harness", ("hook",), 0, "HARNESS is missing"),
    Row("hook-extra-argument", ("hook", "codex", "extra"), 0, "extra"),
    Row("hook-not-json", ("hook", "claude-code"), 0, stdin="{not json"),
    Row("hook-binary", ("hook", "codex"), 0, stdin=b"\x00\xff" * 1000),
    Row(
        "hook-long-tool",
        ("hook", "claude-code"),
        0,
        stdin='{"hook_event_name": "PostToolUse", "tool_name": "' + LONG + '"}',
    ),
    # -- flush, status, rebuild ------------------------------------------------------------
    Row("flush-format", ("flush", "--format", "xml"), 2, "xml"),
    Row("status-format", ("status", "--format", "yaml"), 2, "yaml"),
    Row("status-extra", ("status", "now"), 2, "now"),
    Row("rebuild-extra", ("rebuild", "all"), 2, "all"),
    Row("flush-outside", ("flush",), 0, where="outside"),
    # -- report ----------------------------------------------------------------------------
    Row("report-by", ("report", "--by", "colour"), 2, "colour"),
    Row("report-since-far", ("report", "--since", "3000y"), 2, "out of range"),
    Row("report-since-huge", ("report", "--since", "9" * 5000 + "d"), 2, "out of range"),
    Row("report-since-date", ("report", "--since", "2026-13-45"), 2, "2026-13-45"),
    Row("report-since-fullwidth", ("report", "--since", "\uff13d"), 2, "cannot read"),
    Row("report-until-word", ("report", "--until", "tomorrow"), 2, "tomorrow"),
    Row("report-until-control", ("report", "--until", ESC), 2, "date"),
    Row("report-top-zero", ("report", "--top", "0"), 2, "--top"),
    Row("report-top-word", ("report", "--top", "many"), 2, "many"),
    Row("report-top-huge", ("report", "--top", "9" * 30), 0),
    Row("report-format", ("report", "--format", "pdf"), 2, "pdf"),
    Row("report-setup-shape", ("report", "--setup", "nonsense"), 2, "AGENT@MODEL"),
    Row("report-setup-long", ("report", "--setup", f"{LONG}@{LONG}"), 0),
    Row("report-setup-csv", ("report", "--setup", "a@m", "--format", "csv"), 2, "--setup"),
    Row("report-like-missing", ("report", "--like", "{missing}"), 2, "--like"),
    Row("report-project-long", ("report", "--project", LONG), 0),
    Row("report-agent-control", ("report", "--agent", ESC, "--model", ESC), 0),
    Row("report-harness-not-utf8", ("report", "--harness", NOT_UTF8), 0),
    Row("report-outside", ("report",), 0, where="outside"),
    # -- migrate, export, import -----------------------------------------------------------
    Row("migrate-from-missing", ("migrate", "--from", "{missing}"), 1, "could not be merged"),
    Row("migrate-from-a-file", ("migrate", "--from", "{file}"), 1, "could not be merged"),
    Row("migrate-from-empty-folder", ("migrate", "--from", "{outside}"), 1, "could not be merged"),
    Row("migrate-format", ("migrate", "--format", "xml"), 2, "xml"),
    Row("migrate-nothing-here", ("migrate",), 0),
    Row("export-since-huge", ("export", "--since", "99999999999d"), 2, "out of range"),
    Row("export-until-word", ("export", "--until", "later"), 2, "later"),
    Row("export-project-long", ("export", "--project", LONG), 0),
    Row("import-missing", ("import", "{missing}"), 2, "cannot read"),
    Row("import-a-folder", ("import", "{outside}"), 2, "cannot read"),
    Row("import-no-file", ("import",), 2, "FILES is missing"),
    Row("import-garbage", ("import", "-"), 1, "bad line", stdin="not json\n{}\n[1]\n"),
    Row("import-binary", ("import", "-"), 1, "bad line", stdin=b"\xff\x00\n" * 10),
    Row(
        "import-long-line",
        ("import", "-"),
        1,
        "bad line",
        stdin='{"v": 1, "type": "' + LONG + '"}\n',
    ),
    # -- hooks, integrate ------------------------------------------------------------------
    Row("hooks-install-outside", ("hooks", "install"), 1, "not a git repository", where="outside"),
    Row("hooks-status-missing", ("hooks", "status", "--repo", "{missing}"), 1),
    Row("hooks-uninstall-file", ("hooks", "uninstall", "--repo", "{file}"), 1),
    Row("hooks-unknown", ("hooks", "reinstall"), 2, "'reinstall' is not a command"),
    Row("integrate-unknown", ("integrate", "nonesuch"), 2, "nonesuch"),
    Row("integrate-project-outside", ("integrate", "claude-code", "--project"), 1, where="outside"),
    # -- config ----------------------------------------------------------------------------
    Row("config-get-unknown", ("config", "get", "colour"), 2, "'colour' is not one of"),
    Row("config-set-unknown", ("config", "set", "colour", "blue"), 2, "'colour' is not one of"),
    Row("config-set-size-word", ("config", "set", "max_database_size", "big"), 2, "big"),
    Row(
        "config-set-size-infinite",
        ("config", "set", "max_database_size", "1e999"),
        2,
        "out of range",
    ),
    Row(
        "config-set-window-infinite",
        ("config", "set", "attribution_window", "1e999d"),
        2,
        "out of range",
    ),
    Row("config-set-path-empty", ("config", "set", "journal_dir", ""), 2, "non-empty"),
    Row("config-set-path-tilde-user", ("config", "set", "database_path", "~x/db"), 2, "~user"),
    Row(
        "config-set-path-not-utf8", ("config", "set", "database_path", f"/d/{NOT_UTF8}"), 2, "UTF-8"
    ),
    Row("config-set-path-control", ("config", "set", "journal_dir", f"~/{ESC}"), 0),
    Row(
        "config-set-newer-file",
        ("config", "set", "attribution_window", "1h"),
        1,
        "upgrade agent-tracker",
        config="format = 9\n",
    ),
    Row("config-set-no-value", ("config", "set", "journal_dir"), 2, "VALUE is missing"),
]


def _rows() -> list[Any]:
    return [pytest.param(row, id=row.id, marks=row.marks) for row in ROWS]


@dataclass
class Place:
    repo: Path
    outside: Path
    file: Path
    missing: Path
    deep: Path

    def fill(self, text: str) -> str:
        return (
            text.replace("{repo}", str(self.repo))
            .replace("{outside}", str(self.outside))
            .replace("{file}", str(self.file))
            .replace("{missing}", str(self.missing))
            .replace("{deep}", str(self.deep))
        )


@pytest.fixture
def place(tmp_path: Path, make_repo: Any) -> Place:
    repo = make_repo()
    commit_file(repo, "a.txt", "1", "first")
    git(repo, "remote", "add", "origin", "https://example.invalid/me/app.git")
    outside = tmp_path / "outside"  # no repository above tmp_path
    outside.mkdir()
    file = tmp_path / "plain-file"
    file.write_text("not a folder, not a database\n")
    deep = tmp_path / "deep"
    for _ in range(30):  # a path of ~4 KiB: the project's name is far beyond a key's limit
        deep = deep / ("d" * 120)
    deep.mkdir(parents=True)
    return Place(repo, outside, file, tmp_path / "missing", deep)


def _record_known_events(settings: config.Settings, repo: Path) -> int:
    """A tool call, a commit and its grade of the known setup, flushed, and the repository's
    commit (so that grading it needs no remark); returns how many events of the setup."""
    capture.run("commit", {"repo": str(repo), "agent": "other"}, settings)
    journal = Journal(settings.journal_folder)
    sha = "ab" * 20
    journal.append(events.encode(events.make("tool", BASE, "proj", name="edit")))
    journal.append(events.encode(commit_event(BASE, "proj", sha)))
    journal.append(events.encode(events.make("grade", BASE, "proj", hash=sha, by="user", grade=2)))
    result = TrackingService(settings).flush_write_buffer()
    assert result.applied == 4
    return 3


@pytest.mark.parametrize("row", _rows())
def test_bad_input_is_one_clear_line_a_documented_exit_code_and_loses_nothing(
    row: Row, place: Place, home: Path, ledger: Ledger
) -> None:
    settings = config.load()
    known = _record_known_events(settings, place.repo)
    before = db_entries(settings)
    totals_before = setup_totals(settings, BASE)

    if row.config is not None:
        cfg = home / ".config" / "opencode" / CONFIG_NAME
        cfg.write_bytes(row.config.encode("utf-8", "surrogateescape"))
    env = {**os.environ, **{k: place.fill(v) for k, v in row.env.items()}}
    cwd = place.repo if row.where == "repo" else place.outside
    done = tracker(
        *(place.fill(arg) for arg in row.argv), cwd=cwd, env=env, stdin=row.stdin, timeout=60
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    traceback = has_traceback(done.stderr) or has_traceback(done.stdout)

    # Whatever the row left pending is applied by a flush with the settings of before.
    TrackingService(settings).flush_write_buffer()
    after = db_entries(settings)
    # Segment markers are bookkeeping that later flushes prune by design, not recorded data.
    missing = [k for k in before if k not in after and not k.startswith(b"meta:segment:")]
    lost = known if missing or setup_totals(settings, BASE) != totals_before else 0
    leaked = [p for p in (place.fill(p) for p in row.creates_nothing) if Path(p).exists()]
    ledger.record(
        f"bad input ({row.id}): {' '.join(row.argv)[:60]!r}",
        f"exit {row.code}, one line on stderr, nothing lost",
        checked=known,
        lost=lost,
        tracebacks=int(traceback),
    )

    assert not traceback, done.stderr[-2000:]
    assert done.returncode == row.code, done.stderr[-2000:]
    assert len(lines) <= 1, done.stderr[-2000:]
    if row.code != 0 or row.says:
        assert len(lines) == 1, done.stderr[-2000:]
        assert lines[0].startswith("agent-tracker: "), lines[0]
        assert row.says in lines[0], lines[0]
    for line in lines:
        assert "\x1b" not in line, line
        assert "\x07" not in line, line
    assert not missing, f"keys lost: {missing[:5]}"
    assert lost == 0
    assert not leaked, f"created {leaked}"
