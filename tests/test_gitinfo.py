from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result, commit_file, db_entries, git

from agent_tracker import config
from agent_tracker.gitinfo import extension, normalise_url, reverted_commit
from agent_tracker.journal import Journal


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("git@github.com:Me/app.git", "github.com/Me/app"),
        ("https://github.com/Me/app.git", "github.com/Me/app"),
        ("https://user:token@GitHub.com/Me/app/", "github.com/Me/app"),
        (
            "ssh://git@gitlab.example.com:2222/group/sub/app.git",
            "gitlab.example.com:2222/group/sub/app",
        ),
        ("git+ssh://git@host.xz/path/app", "host.xz/path/app"),
        ("host.xz:~user/app.git", "host.xz/~user/app"),
        ("file:///srv/git/app.git", "/srv/git/app"),
        ("/srv/git/app.git", "/srv/git/app"),
        ("../sibling.git", "../sibling"),
    ],
)
def test_remote_urls_normalise_to_host_and_path_without_credentials(
    url: str, expected: str
) -> None:
    assert normalise_url(url) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [("src/App.PY", ".py"), ("Makefile", "Makefile"), ("a/b.test.ts", ".ts"), (".env", ".env")],
)
def test_extension_of_a_changed_file(path: str, expected: str) -> None:
    assert extension(path) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("This reverts commit " + "AB" * 20 + ".\n", "ab" * 20),
        ("Why.\n\nThis reverts commit " + "12" * 20 + ", reversing\nchanges made to x.", "12" * 20),
        ("Mentions: This reverts commit " + "ab" * 20 + ".", None),  # not a line of its own
        ("This reverts commit HEAD~1.", None),
        ("", None),
    ],
)
def test_the_reverted_commit_is_read_from_the_line_git_revert_writes(
    body: str, expected: str | None
) -> None:
    assert reverted_commit(body) == expected


def test_commit_records_the_commit_a_git_revert_reverts_and_flush_marks_it(
    cli: Callable[..., Result], make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo()
    monkeypatch.chdir(repo)
    first = commit_file(repo, "a.py", "1\n", "Add a")
    assert cli("commit", "--agent", "build", "--model", "m").code == 0
    git(repo, "revert", "--no-edit", "HEAD")
    assert cli("commit", "--agent", "plan", "--model", "m").code == 0
    settings = config.load()
    good, _ = Journal(settings.journal_dir).read(settings.journal_dir / "live.jsonl")
    assert [event.get("reverts") for event in good] == [None, first]
    assert cli("flush").code == 0
    cells = [json.loads(v) for k, v in db_entries(settings).items() if k.startswith(b"day:")]
    assert {c["agent"]: (c["commits"], c["reverted"]) for c in cells} == {
        "build": (1, 1),
        "plan": (1, 0),
    }
