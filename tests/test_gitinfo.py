from __future__ import annotations

import pytest

from agent_tracker.gitinfo import extension, normalise_url


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
