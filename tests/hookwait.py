"""Waiting, bounded, for the work our git hooks leave running in the background.

The post-commit and pre-push hooks return at once and record or flush in a detached process;
while it runs, a marker file sits in the repository's git folder (`detached`). Tests that
look at the journal or the database after `git commit` or `git push` wait for those markers
to go, with a deadline: a hook that never finishes fails the test instead of hanging it.
"""

from __future__ import annotations

import os
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


SLOW_TRACKER = """
import os, time
wait = float(os.environ.get("SLOW_COMMIT", "0"))
if wait:
    from agent_tracker import tracking
    commit_completed = tracking.TrackingService.commit_completed
    def slow(self, *args, **kwargs):
        time.sleep(wait)
        return commit_completed(self, *args, **kwargs)
    tracking.TrackingService.commit_completed = slow
wait_flush = float(os.environ.get("SLOW_FLUSH", "0"))
if wait_flush:
    from agent_tracker import flush
    apply_segment = flush._apply_segment
    def slow_apply(*args, **kwargs):
        time.sleep(wait_flush)  # inside the write transaction, before it commits
        return apply_segment(*args, **kwargs)
    flush._apply_segment = slow_apply
"""


def slow_env(tmp: Path, **values: str) -> dict[str, str]:
    """An environment in which the tracker started by a hook dawdles (`SLOW_COMMIT` seconds
    before it records a commit, `SLOW_FLUSH` inside the flush's transaction)."""
    site = tmp / "slow-site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SLOW_TRACKER)
    return {**os.environ, "PYTHONPATH": str(site), **values}
