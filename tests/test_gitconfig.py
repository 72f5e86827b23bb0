"""gitconfig reads a config file as git does: each case is checked against git itself."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent_tracker import gitconfig

# Config texts as people and tools write them; git's own reading is the expected answer.
CASES = {
    "plain": '[remote "origin"]\n\turl = git@github.com:me/app.git\n',
    "quoted with escaped quotes": '[remote "origin"]\n\turl = "/srv/my \\"repo\\".git"\n',
    "escaped backslash": '[remote "origin"]\n\turl = "C:\\\\srv\\\\app.git"\n',
    "inline comments": '[remote "origin"]\n\turl = /srv/app.git # where\n\tfetch = x ; y\n',
    "comment characters quoted": '[remote "origin"]\n\turl = "/srv/a#b;c.git" ; real comment\n',
    "tab newline backspace escapes": '[a]\n\tb = "x\\ty\\nz\\bq"\n',
    "continuation line": '[remote "origin"]\n\turl = /srv/\\\n  app.git\n',
    "continuation inside quotes": '[a]\n\tb = "one \\\ntwo"\n',
    "internal whitespace kept": "[a]\n\tb =  one   two   \n",
    "quoted whitespace kept": '[a]\n\tb = " one\t two "\n',
    "section case, subsection case": (
        '[REMOTE "origin"]\n\tURL = first\n[remote "Origin"]\n\turl = other\n'
    ),
    "deprecated dotted subsection": "[remote.ORIGIN]\n\turl = dotted\n",
    "escaped subsection": '[remote "a\\"b\\\\c"]\n\turl = sub\n',
    "variable after the header": "[agent-tracker] project = github.com/me/app\n",
    "bare name and empty value": "[agent-tracker]\n\tenabled\n\troot =\n",
    "several values, last wins": "[agent-tracker]\n\tenabled = true\n\tenabled = false\n",
    "crlf line endings": '[remote "origin"]\r\n\turl = "/srv/app.git"\r\n',
    "comment lines and blanks": "# top\n; also\n\n[core]\n  # inside\n\tbare = false\n",
    "quote in the middle": '[a]\n\tb = pre" mid "post\n',
}


def _git_reads(path: Path) -> list[tuple[str, str | None]]:
    done = subprocess.run(
        ["git", "config", "--file", str(path), "--list", "-z"],
        capture_output=True,
        check=True,
    )
    found: list[tuple[str, str | None]] = []
    for entry in done.stdout.decode().split("\0"):
        if entry:
            key, newline, value = entry.partition("\n")
            found.append((key, value if newline else None))
    return found


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_are_read_as_git_reads_them(name: str, tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_bytes(CASES[name].encode())
    ours = [(key, value) for key, values in gitconfig.read(str(path)).items() for value in values]
    theirs = _git_reads(path)
    # git lists in file order; ours groups by key (in first-seen order): compare per key
    assert sorted(ours, key=lambda kv: kv[0]) == sorted(theirs, key=lambda kv: kv[0])
    for key in {k for k, _ in theirs}:
        assert [v for k, v in ours if k == key] == [v for k, v in theirs if k == key]


def test_the_unescaped_origin_of_a_quoted_path_is_the_one_git_fetches_from(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config"
    path.write_text('[remote "origin"]\n\turl = "/srv/my \\"repo\\" #1.git"\n')
    config = gitconfig.read(str(path))
    assert config["remote.origin.url"] == ['/srv/my "repo" #1.git']


@pytest.mark.parametrize(
    "text",
    [
        '[remote "origin"]\n\turl = "never closed\n',
        '[remote "origin"]\n\turl = bad \\q escape\n',
        '[remote "origin"\n\turl = x\n',
        "[a]\n\t1bad = x\n",
        "key = before any section\n",
    ],
)
def test_lines_git_refuses_give_no_value_and_no_error(text: str) -> None:
    assert "remote.origin.url" not in gitconfig.parse(text)


def test_a_missing_file_reads_as_empty(tmp_path: Path) -> None:
    assert gitconfig.read(str(tmp_path / "absent")) == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, True),  # a bare name
        ("true", True),
        ("Yes", True),
        ("on", True),
        ("1", True),
        ("42", True),
        ("false", False),
        ("NO", False),
        ("off", False),
        ("0", False),
        ("", False),
        ("maybe", True),  # not a boolean: the default
    ],
)
def test_booleans_read_as_git_reads_them(value: str | None, expected: bool) -> None:
    assert gitconfig.boolean(value, default=True) is expected


def test_only_the_keys_asked_for_are_read_and_continuations_of_others_skipped() -> None:
    text = (
        "[core]\n\tbare = false\n"
        '[remote "origin"]\n\tfetch = +refs/heads/*:\\\n url = not-a-key\n'
        "\turl = /srv/app.git\n"
    )
    wanted = {"remote.origin.url"}
    assert gitconfig.parse(text, wanted) == {"remote.origin.url": ["/srv/app.git"]}
    assert gitconfig.parse(text)["remote.origin.fetch"] == ["+refs/heads/*: url = not-a-key"]
