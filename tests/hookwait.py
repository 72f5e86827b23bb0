"""Waiting, bounded, for the work our git hooks leave running in the background.

The post-commit and pre-push hooks return at once and record or flush in a detached process;
while it runs, a marker file sits in the repository's git folder (`detached`). Tests that
look at the journal or the database after `git commit` or `git push` wait for those markers
to go, with a deadline: a hook that never finishes fails the test instead of hanging it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from agent_tracker import detached

#: Far above any hook's own bound in the tests: reaching it means the work is stuck.
DEADLINE = 60.0


def git_dir(repo: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--absolute-git-dir"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def settle(repo: Path, deadline: float = DEADLINE) -> None:
    """Return once no background work of our hooks is left in `repo`."""
    assert detached.wait(git_dir(repo), "", deadline), "the hooks' background work never ended"
