"""Work our git hooks left running in the background, and waiting for it.

The post-commit and pre-push hooks start the tracker detached and return at once, so git is
never held up. While it runs, the hook script keeps a marker file in the repository's git
folder, `<git dir>/agent-tracker/commit-<hash>-<pid>` (recording that commit) or `flush-<pid>`
(flushing the journal): created before the hook returns, removed by the script once the
tracker has ended, however it ended. A marker is a promise that someone is still at work:

- `grade` of a commit that is not recorded yet waits for that commit's marker before it
  says the commit was never recorded (a grade right after `git commit`);
- `flush` run by hand waits for the markers of the repository it runs in, then for any
  flush that holds the journal's flush lock, and then flushes the rest: after it returns,
  everything the hooks started is in the database (the documented way to wait).

Waits are bounded. A marker older than `STALE` seconds is ignored (its script was killed
with it; the tracker itself never runs longer than the hook's bound). The marker's time is
also the hook's time: `commit` attributes a commit only to activity up to that instant.
Standard library only: this runs in hooks and capture commands.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False  # no typing import on the hook path
if TYPE_CHECKING:
    from agent_tracker.config import Settings
    from agent_tracker.flush import FlushResult

#: The folder of markers inside a repository's git folder.
FOLDER = "agent-tracker"
#: Set by the hook scripts for the tracker they start: the path of its marker.
ENV_MARKER = "AGENT_TRACKER_HOOK_MARKER"
#: A marker older than this (seconds) belongs to a script that was killed: ignored.
STALE = 120.0
#: How often a waiter looks again (seconds).
POLL = 0.02


def hook_time() -> float | None:
    """When the hook that started this process ran (its marker's time), if it did."""
    path = os.environ.get(ENV_MARKER)
    if not path:
        return None
    try:
        return os.stat(path).st_mtime  # noqa: PTH116 - str paths: no pathlib in hooks
    except OSError:
        return None


def running(git_dir: str, prefix: str = "", now: float | None = None) -> list[str]:
    """The fresh markers (paths) in `git_dir` whose names start with `prefix`."""
    folder = os.path.join(git_dir, FOLDER)  # noqa: PTH118 - str paths: no pathlib in hooks
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    horizon = (time.time() if now is None else now) - STALE
    found = []
    for entry in entries:
        if not entry.name.startswith(prefix) or entry.path == os.environ.get(ENV_MARKER):
            continue  # never wait for ourselves
        try:
            if entry.stat().st_mtime >= horizon:
                found.append(entry.path)
        except OSError:
            continue  # removed meanwhile: finished
    return found


def wait(git_dir: str, prefix: str = "", timeout: float = 10.0) -> bool:
    """Wait until no fresh marker starting with `prefix` is left in `git_dir`, at most
    `timeout` seconds; True when none is left."""
    deadline = time.monotonic() + timeout
    while running(git_dir, prefix):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)
    return True


def wait_for_flush_lock(lock_file: str, timeout: float) -> bool:
    """Wait until no process holds the journal's flush lock, at most `timeout` seconds;
    True when it is free (it is not kept: the flush takes it itself)."""
    import fcntl

    from agent_tracker import fsio

    try:
        fd = os.open(lock_file, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return True  # no lock file: no flush ever ran here
    try:
        if not fsio.flock_within(fd, fcntl.LOCK_EX, timeout):
            return False
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


#: How long a `flush` run by hand waits for the hooks' background work: longer than the
#: pre-push hook's default bound (30 s), after which its flush has ended one way or another.
SETTLE = 35.0


def settle(journal_folder: str, folder: str, timeout: float = SETTLE) -> bool:
    """Before a `flush` by hand: wait for the background work of our hooks in the repository
    of `folder` (if any), then for a flush running anywhere; True when all of it ended
    within `timeout` seconds (otherwise the flush goes on, and may find itself busy)."""
    from agent_tracker import gitinfo

    deadline = time.monotonic() + timeout
    git_dir = gitinfo.find_project(folder).git_dir
    if git_dir is not None and not wait(git_dir, "", timeout):
        return False
    left = max(0.0, deadline - time.monotonic())
    lock_file = os.path.join(journal_folder, "flush.lock")  # noqa: PTH118 - as above
    return wait_for_flush_lock(lock_file, left)


def flush_by_hand(settings: Settings, folder: str, limit: int | None) -> FlushResult:
    """`flush` run by a person (or inside our hook, `limit` set): by hand, first the hooks'
    background work (`settle`), and a flush that started in between is waited for too,
    within `SETTLE` seconds in all. Both the fast path (`entry`) and the CLI call this."""
    from agent_tracker import flush

    hooked = limit is not None
    deadline = time.monotonic() + SETTLE
    while True:
        if not hooked:
            settle(settings.journal_folder, folder, deadline - time.monotonic())
        result = flush.flush(settings, folder, limit)
        if hooked or not result.busy or result.message or time.monotonic() >= deadline:
            if not result.busy and not result.message:
                start_team_sync(settings, result.applied > 0)
            return result


#: What a team sync started after a flush records about itself (see `team.sync`).
TEAM_STATUS = "team-status.json"
#: `AGENT_TRACKER_AUTO_SYNC=0` leaves team syncs to people (and to tests that count them).
ENV_AUTO_SYNC = "AGENT_TRACKER_AUTO_SYNC"


def start_team_sync(settings: Settings, anything_new: bool) -> bool:
    """After a flush, when a team server is configured: start `team sync --background` in
    its own session and return at once (it bounds itself; psycopg loads there, never here).
    Started when the flush applied something or the last sync did not succeed; True when
    started."""
    try:
        url = settings.team_database_url
    except Exception:  # noqa: BLE001 - a bad URL is for `doctor` to say, never the flush
        return False
    if url is None or os.environ.get(ENV_AUTO_SYNC, "1") == "0":
        return False
    if not anything_new and _last_sync_ok(settings.journal_folder):
        return False
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in (ENV_MARKER, "AGENT_TRACKER_HOOK_BOUND")}
    env["AGENT_TRACKER_JOURNAL_DIR"] = settings.journal_folder
    command = [sys.executable, "-P", "-m", "agent_tracker", "--config", settings.config_file]
    command += ["--database-path", settings.database_file, "team", "sync", "--background"]
    try:
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # outside the hook's process group: its bound is its own
            close_fds=True,
            env=env,
        )
    except OSError:
        return False  # the next flush tries again; nothing is lost
    return True


def _last_sync_ok(journal_folder: str) -> bool:
    import json

    try:
        with open(os.path.join(journal_folder, TEAM_STATUS), "rb") as handle:  # noqa: PTH118
            return bool(json.loads(handle.read()).get("ok"))
    except (OSError, ValueError, AttributeError):
        return False
