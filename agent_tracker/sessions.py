"""What agent-tracker remembers about each harness session between hook calls.

One small JSON file per session in `<journal folder>/sessions/`, named
`<harness>--<session id>.json`. It holds what a later hook call or commit needs without
reading a transcript again:

- the session's setup: `agent` and `model` (per subagent under `agents`), its `project`;
- how far its transcript was read (`offset`, and the message being counted), the tokens it
  spent in all (`tokens`), those a commit read but no event has reported yet (`pending`),
  and the total at its last commit (`at_commit`), so that tokens are counted once;
- the fingerprint of its instruction files (`instructions`) and the files behind it.

Every update happens under an exclusive `flock` on `<file>.lock` (a harness may run several
hooks of one session at once, and each must count the transcript's new tokens only once),
and replaces the file atomically (temp file, then `os.replace`), so a reader without the lock
sees the old state or the new one, never a torn one. A hook that cannot get the lock within
`LOCK_WAIT` goes on without the state rather than hold up its harness. Files of sessions
unseen for `KEEP_DAYS` are removed by `prune`. Standard library only: this runs in every hook call.
"""

from __future__ import annotations

import fcntl
import os
import time

from agent_tracker import fsio
from agent_tracker.events import clean_text
from agent_tracker.harnesses import MODULES
from agent_tracker.paths import make_private_dir

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

FOLDER = "sessions"
KEEP_DAYS = 30
HARNESSES = tuple(MODULES)
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def file_name(harness: str, session: str) -> str:
    """A file name for the session; ids with unusual characters are spelled in hex (of the
    id as events spell it, `events.clean_text`: one session, one file)."""
    session = clean_text(session)
    if session and len(session) <= 100 and set(session) <= _SAFE and session[0] != ".":
        key = session
    else:
        key = "x" + session.encode("utf-8").hex()[:120]
    return f"{harness}--{key}.json"


class Locked:
    """One session's state, read and held under its lock until `close` writes it back.

    When the lock could not be had in time (`SessionStore.LOCK_WAIT`), `held` is False, the
    state starts empty and `close` writes nothing: the caller records its event without the
    session's model cache or tokens rather than hold up the harness.
    """

    def __init__(self, path: str, fd: int | None, state: dict[str, Any]) -> None:
        self.path = path
        self.fd = fd
        self.state = state

    @property
    def held(self) -> bool:
        return self.fd is not None

    def close(self, save: bool = True) -> None:
        """Write the state back (with the time it was last seen), atomically, unless `save`
        is False; release the lock either way."""
        if self.fd is None:
            return
        try:
            if save:
                self.state["seen"] = round(time.time(), 3)
                import json  # here: a commit without sessions never needs it

                data = json.dumps(self.state, separators=(",", ":")).encode("utf-8")
                # A reader sees the old state or the new, whole. Not fsynced: this runs in
                # every hook call, and a state lost to a power failure costs at most a
                # re-read of the transcript.
                fsio.atomic_write(self.path, data, durable=False)
        finally:
            os.close(self.fd)  # releases the lock
            self.fd = None


class SessionStore:
    #: How long a hook waits for another hook of the same session before going on without
    #: the session's state (harnesses stop hooks after a few seconds).
    LOCK_WAIT = 2.0

    def __init__(self, journal_folder: str) -> None:
        self.folder = os.path.join(journal_folder, FOLDER)

    def path(self, harness: str, session: str) -> str:
        return os.path.join(self.folder, file_name(harness, session))

    def open(self, harness: str, session: str) -> Locked:
        """The session's state under an exclusive lock (on `<file>.lock`, so that the state
        itself can be replaced atomically); `close()` saves changes."""
        path = self.path(harness, session)
        try:
            fd = fsio.open_private(f"{path}.lock", os.O_RDWR | os.O_CREAT)
        except FileNotFoundError:
            make_private_dir(self.folder)
            fd = fsio.open_private(f"{path}.lock", os.O_RDWR | os.O_CREAT)
        try:
            if not fsio.flock_within(fd, fcntl.LOCK_EX, self.LOCK_WAIT):
                os.close(fd)
                return Locked(path, None, {"v": 1, "harness": harness, "session": session})
            state = self.read(harness, session) or {}
        except BaseException:
            os.close(fd)
            raise
        if not state:
            state = {"v": 1, "harness": harness, "session": session}
        return Locked(path, fd, state)

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

    def latest_in(
        self, project: str, since: float
    ) -> tuple[tuple[str, str, str], str | None] | None:
        """(setup, session) of the session last seen in `project` at or after `since`."""
        from agent_tracker import models

        best: dict[str, Any] | None = None
        for state in self.all():
            seen = state.get("seen")
            if state.get("project") != project or not isinstance(seen, int | float):
                continue
            if seen >= since and (best is None or seen > best["seen"]):
                best = state
        if best is None:
            return None
        setup = (
            str(best.get("harness") or "unknown"),
            str(best.get("agent") or "unknown"),
            models.normalise(best.get("model")) or "unknown",
        )
        session = best.get("session")
        return setup, session if isinstance(session, str) else None

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
                if entry.name.endswith((".json", ".lock", ".tmp")) and (
                    entry.stat().st_mtime < horizon
                ):
                    os.unlink(entry.path)
                    removed += 1
            except OSError:
                continue
        return removed


def _parse(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    import json  # here: a commit without sessions never needs it

    try:
        state = json.loads(raw)
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}
