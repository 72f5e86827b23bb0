"""What agent-tracker remembers about each harness session between hook calls.

One small JSON file per session in `<journal folder>/sessions/`, named
`<harness>--<session id>.json`. It holds what a later hook call or commit needs without
reading a transcript again:

- the session's setup: `agent` and `model` (per subagent under `agents`), its `project`;
- how far its transcript was read (`offset`, and the message being counted), the tokens it
  spent in all (`tokens`), how many of them were already reported in an event (`reported`)
  and the total at its last commit (`at_commit`), so that tokens are counted once;
- the fingerprint of its instruction files (`instructions`) and the files behind it.

Every update happens under an exclusive `flock` on the file itself (a harness may run several
hooks of one session at once, and each must count the transcript's new tokens only once).
The file is rewritten in place: it is a cache, and a torn one is read as empty, which costs
at most the tokens of one increment, never a double count. Files of sessions unseen for
`KEEP_DAYS` are removed by `prune`. Standard library only: this runs in every hook call.
"""

from __future__ import annotations

import fcntl
import json
import os
import time

from agent_tracker.paths import make_private_dir

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

FOLDER = "sessions"
KEEP_DAYS = 30
HARNESSES = ("claude-code", "codex", "opencode")
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def file_name(harness: str, session: str) -> str:
    """A file name for the session; ids with unusual characters are spelled in hex."""
    if session and len(session) <= 100 and set(session) <= _SAFE and session[0] != ".":
        key = session
    else:
        key = "x" + session.encode("utf-8", "replace").hex()[:120]
    return f"{harness}--{key}.json"


class Locked:
    """One session's state, read and held under its lock until `close` writes it back."""

    def __init__(self, fd: int, state: dict[str, Any]) -> None:
        self.fd = fd
        self.state = state

    def close(self) -> None:
        """Write the state back (with the time it was last seen) and release the lock."""
        try:
            self.state["seen"] = round(time.time(), 3)
            data = json.dumps(self.state, separators=(",", ":")).encode("utf-8")
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, data, 0)
        finally:
            os.close(self.fd)  # releases the lock


class SessionStore:
    HARNESSES = HARNESSES

    def __init__(self, journal_folder: str) -> None:
        self.folder = os.path.join(journal_folder, FOLDER)

    def path(self, harness: str, session: str) -> str:
        return os.path.join(self.folder, file_name(harness, session))

    def open(self, harness: str, session: str) -> Locked:
        """The session's state under an exclusive lock; `close()` saves changes."""
        path = self.path(harness, session)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            make_private_dir(self.folder)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            state = _parse(_read_all(fd))
        except BaseException:
            os.close(fd)
            raise
        if not state:
            state = {"v": 1, "harness": harness, "session": session}
        return Locked(fd, state)

    def read(self, harness: str, session: str) -> dict[str, Any] | None:
        """The session's state without locking (a snapshot), or None when unknown."""
        try:
            with open(self.path(harness, session), "rb") as handle:
                state = _parse(handle.read())
        except OSError:
            return None
        return state or None

    def find(self, session: str, harness: str | None = None) -> dict[str, Any] | None:
        """The state of `session`, looked up under `harness` or, if not given, any harness."""
        for name in (harness,) if harness else HARNESSES:
            state = self.read(name, session)
            if state is not None:
                return state
        return None

    def all(self) -> Iterator[dict[str, Any]]:
        """Every session's state (read-only snapshots), in no particular order."""
        try:
            names = os.listdir(self.folder)
        except OSError:
            return
        for name in names:
            if name.endswith(".json"):
                try:
                    with open(os.path.join(self.folder, name), "rb") as handle:
                        state = _parse(handle.read())
                except OSError:
                    continue
                if state:
                    yield state

    def prune(self, keep_days: float = KEEP_DAYS, now: float | None = None) -> int:
        """Remove the files of sessions unseen for `keep_days`; returns how many."""
        horizon = (time.time() if now is None else now) - keep_days * 86400
        removed = 0
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return 0
        for entry in entries:
            try:
                if entry.name.endswith(".json") and entry.stat().st_mtime < horizon:
                    os.unlink(entry.path)
                    removed += 1
            except OSError:
                continue
        return removed


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    offset = 0
    while True:
        chunk = os.pread(fd, 65536, offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def _parse(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        state = json.loads(raw)
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}
