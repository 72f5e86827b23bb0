from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result, commit_file, db_entries, git

from agent_tracker import config, gitinfo
from agent_tracker.errors import GitError
from agent_tracker.gitinfo import extension, find_project, normalise_url, reverted_commit
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
        ("../sibling.git", "../sibling"),  # no repository to resolve it against
        # item 19: tokens in a query or fragment go the way of user:password
        ("https://github.com/Me/app.git?access_token=ghp_secret", "github.com/Me/app"),
        ("https://github.com/Me/app.git;jsessionid=secret", "github.com/Me/app"),
        ("git@github.com:Me/app.git?secret", "github.com/Me/app"),
        ("https://gitlab.com/g/app?private_token=glpat-x#frag", "gitlab.com/g/app"),
        ("https://host.xz/app.git/#token=abc", "host.xz/app"),
        ("ssh://git@host.xz/app.git?key=1", "host.xz/app"),
        ("file:///srv//git/../app.git?x=1", "/srv/app"),
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


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("../p.git", "/work/one/p"),
        ("./p.git", "/work/one/repo/p"),
        ("sub/p.git", "/work/one/repo/sub/p"),  # no `host:` before the first `/`: a path
        ("../../srv/./p.git/", "/work/srv/p"),
        ("/srv/p.git", "/srv/p"),
        ("git@github.com:me/p.git", "github.com/me/p"),
    ],
)
def test_a_relative_remote_is_resolved_against_the_repository(url: str, expected: str) -> None:
    """Item 7: `../p.git` of two unrelated repositories must not be one project."""
    assert normalise_url(url, "/work/one/repo") == expected


def test_unrelated_repositories_with_the_same_relative_remote_differ(
    make_repo: Callable[..., Path],
) -> None:
    one = make_repo("a/repo", origin="../p.git")
    two = make_repo("b/repo", origin="../p.git")
    assert find_project(str(one)).identity == str(one.parent / "p")
    assert find_project(str(two)).identity == str(two.parent / "p")


def test_a_quoted_origin_is_unescaped_as_git_reads_it(make_repo: Callable[..., Path]) -> None:
    """Item 21: the identity is what git fetches from, not the raw text of the file."""
    repo = make_repo(origin='/srv/my "odd" #repo.git')
    config_text = (repo / ".git" / "config").read_text()
    assert '\\"odd\\"' in config_text  # git wrote it quoted and escaped
    assert find_project(str(repo)).identity == '/srv/my "odd" #repo'


def test_the_pin_wins_over_origin_and_survives_its_removal(
    make_repo: Callable[..., Path],
) -> None:
    repo = make_repo(origin="git@github.com:me/app.git")
    git(repo, "config", "agent-tracker.project", "github.com/me/app")
    git(repo, "remote", "set-url", "origin", "https://example.com/other.git")
    found = find_project(str(repo / "."))
    assert (found.identity, found.pinned) == ("github.com/me/app", True)
    git(repo, "remote", "remove", "origin")
    assert find_project(str(repo)).identity == "github.com/me/app"


def test_without_a_pin_the_identity_is_computed_as_before(
    make_repo: Callable[..., Path],
) -> None:
    repo = make_repo(origin="git@github.com:me/app.git")
    found = find_project(str(repo))
    assert (found.identity, found.pinned, found.root, found.enabled) == (
        "github.com/me/app",
        False,
        None,
        True,
    )
    bare = make_repo("plain")
    assert find_project(str(bare)).identity == str(bare)


@pytest.mark.parametrize(
    ("value", "enabled"),
    [("false", False), ("no", False), ("off", False), ("0", False), ("true", True), ("1", True)],
)
def test_a_repository_opts_out_with_agent_tracker_enabled(
    make_repo: Callable[..., Path], value: str, enabled: bool
) -> None:
    repo = make_repo()
    git(repo, "config", "agent-tracker.enabled", value)
    assert find_project(str(repo)).enabled is enabled


def test_pin_writes_identity_and_root_into_the_local_config(
    make_repo: Callable[..., Path],
) -> None:
    repo = make_repo(origin="https://tok@github.com/me/app.git?x=1")
    first = commit_file(repo, "a.txt", "1\n", "first")
    commit_file(repo, "b.txt", "2\n", "second")
    project = find_project(str(repo))
    gitinfo.pin(project, str(repo))
    assert git(repo, "config", "--local", "agent-tracker.project") == "github.com/me/app"
    assert git(repo, "config", "--local", "agent-tracker.root") == first
    again = find_project(str(repo))
    assert (again.identity, again.pinned, again.root) == ("github.com/me/app", True, first)


def test_the_root_is_the_smallest_of_several_and_absent_in_a_shallow_clone(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    repo = make_repo()
    first = commit_file(repo, "a.txt", "1\n", "first")
    git(repo, "checkout", "-q", "--orphan", "other")
    other = commit_file(repo, "b.txt", "2\n", "other root")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--allow-unrelated-histories", "-m", "join", "other")
    commit_file(repo, "c.txt", "3\n", "later")
    assert gitinfo.root_commit(str(repo)) == min(first, other)
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow))
    project = find_project(str(shallow))
    gitinfo.pin(project, str(shallow))
    assert project.pinned
    assert project.root is None
    assert git(shallow, "config", "--local", "agent-tracker.root", check=False) == ""


def test_pin_needs_no_commit_and_leaves_an_empty_repository_without_root(
    make_repo: Callable[..., Path],
) -> None:
    repo = make_repo()
    project = find_project(str(repo))
    gitinfo.pin(project, str(repo))
    assert git(repo, "config", "--local", "agent-tracker.project") == str(repo)
    assert project.root is None


@pytest.mark.parametrize("rev", ["--output=/tmp/x", "-p", ""])
def test_revisions_that_git_would_read_as_options_are_refused(
    make_repo: Callable[..., Path], rev: str, tmp_path: Path
) -> None:
    """Item 16: `--rev=--output=FILE` must not make git write FILE."""
    repo = make_repo()
    commit_file(repo, "a.txt", "1\n", "first")
    target = tmp_path / "written"
    rev = rev.replace("/tmp/x", str(target))
    with pytest.raises(GitError, match="is not a commit"):
        gitinfo.read_commit(str(repo), rev)
    with pytest.raises(GitError, match="is not a commit"):
        gitinfo.resolve_commit(str(repo), rev)
    assert gitinfo.root_commit(str(repo), rev) is None
    assert not target.exists()


def test_commit_and_grade_refuse_an_option_as_revision(
    cli: Callable[..., Result],
    make_repo: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    repo = make_repo()
    monkeypatch.chdir(repo)
    commit_file(repo, "a.txt", "1\n", "first")
    target = tmp_path / "out.txt"
    done = cli("commit", f"--rev=--output={target}")
    assert done.code != 0
    assert "is not a commit" in done.err
    done = cli("grade", "good", "--by", "user", f"--commit=--output={target}")
    assert done.code != 0
    assert not target.exists()


# -- HEAD without git, git without subprocess (issue 10) ------------------------------------


def test_head_is_read_from_the_repositorys_files_as_git_reads_it(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    repo = make_repo()
    assert gitinfo.head_commit(find_project(str(repo))) is None  # no commit yet: git says
    commit_file(repo, "a.txt", "a\n", "first")
    second = commit_file(repo, "b.txt", "b\n", "second")
    assert gitinfo.head_commit(find_project(str(repo))) == second  # a loose ref
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert gitinfo.head_commit(find_project(str(repo))) == second  # packed-refs
    tree = tmp_path / "tree"
    git(repo, "worktree", "add", "-q", "-b", "side", str(tree))
    third = commit_file(tree, "c.txt", "c\n", "third")
    assert gitinfo.head_commit(find_project(str(tree))) == third  # its own HEAD
    assert gitinfo.head_commit(find_project(str(repo))) == second
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    detached = git(repo, "rev-parse", "HEAD")
    assert gitinfo.head_commit(find_project(str(repo))) == detached


def test_grade_of_head_starts_no_git(
    make_repo: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo()
    head = commit_file(repo, "a.txt", "a\n", "first")
    no_git = tmp_path / "no-git"
    no_git.mkdir()
    monkeypatch.setenv("PATH", str(no_git))  # git cannot be found from here on
    monkeypatch.chdir(repo)
    from agent_tracker.entry import main

    assert main(["grade", "good", "--by", "user"]) == 0
    [event] = Journal(config.load().journal_dir).pending_events()
    assert (event["type"], event["hash"]) == ("grade", head)


def test_a_git_call_past_its_time_is_killed_and_said(
    make_repo: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo()
    slow = tmp_path / "slow-bin"
    slow.mkdir()
    sleep = shutil.which("sleep") or "/bin/sleep"
    (slow / "git").write_text(f"#!/bin/sh\nexec {sleep} 30\n")
    (slow / "git").chmod(0o755)
    monkeypatch.setenv("PATH", str(slow))
    with pytest.raises(GitError, match="took more than"):
        gitinfo._git(str(repo), "rev-list", timeout=0.3)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(GitError, match="not installed"):
        gitinfo.output(str(repo), "status")


def test_git_output_and_errors_come_back_whole(make_repo: Callable[..., Path]) -> None:
    repo = make_repo()
    for n in range(300):  # more than a pipe holds, on both streams
        (repo / f"file-{n:04}-{'x' * 200}.txt").write_text("x")
    out = gitinfo.output(str(repo), "status", "--porcelain", "--untracked-files=all")
    assert len(out.splitlines()) == 300
    with pytest.raises(GitError, match=r"failed in .*: fatal: "):
        gitinfo.output(str(repo), "rev-parse", "--verify", "no-such-ref^{commit}")


def test_the_entry_that_made_a_commit_is_found_beyond_the_reflog_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recorder that runs late (a slow background hook after a long rebase) looks for its
    commit's entry further back than the tail; else the rebased commit would count as new."""
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", str(repo))
    commit_file(repo, "a.txt", "a\n", "first")
    picked = commit_file(repo, "b.txt", "b\n", "second")
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    commit_file(repo, "other.txt", "o\n", "other")  # so the pick makes a new commit
    git(repo, "cherry-pick", picked)
    made = git(repo, "rev-parse", "HEAD")
    for n in range(20):  # later moves push the cherry-pick's entry out of a small tail
        commit_file(repo, f"c{n}.txt", f"{n}\n", f"change {n} " + "x" * 200)
    monkeypatch.setattr(gitinfo, "REFLOG_TAIL", 1024)
    move = find_project(str(repo)).last_head_move(made)
    assert move is not None
    assert move[1] == made
    assert move[2].startswith("cherry-pick")
