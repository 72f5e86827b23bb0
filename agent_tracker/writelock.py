"""Waiting a bounded time for LMDB's writer lock, which LMDB itself waits for without limit.

LMDB lets one write transaction run at a time, and `mdb_txn_begin` blocks until the lock is
free: a stuck or stopped writer (a flush paused in a debugger, a migration of a huge
database, another program) would hold every later `flush` — and the `git push` whose
pre-push hook runs it — for as long as it lives. LMDB has no try-lock, so:

- a write transaction is begun in a thread of its own (`Writer`), and the caller waits for
  it at most `wait` seconds; past that, `DatabaseBusyError` ("database busy"): nothing was
  written, and the journal keeps every pending event for a later flush;
- the caller uses the transaction in its own thread, one thread at a time; the writer thread
  ends it (commit or abort), because LMDB's writer lock is a mutex that only the thread that
  took it may release (LMDB's documentation, MDB_NOTLS: "serialize the write transactions
  in an OS thread");
- a writer given up on stays blocked until the lock is free, then aborts at once (having
  written nothing) and closes the environment if its owner was closed meanwhile; it is a
  daemon thread, so it never keeps a finished command alive. Until then the environment
  stays open, and py-lmdb refuses to open one path twice in a process: `settle` lets the
  next opener of that path wait (within the same bound) for the abandoned writer to finish.

How long to wait (`write_wait`): `--wait SECONDS` on the writing commands, else
`AGENT_TRACKER_LOCK_WAIT`, else `HOOK_WAIT` inside a git hook (git must not be held) and
`DEFAULT_WAIT` by hand.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

import lmdb

from agent_tracker.entry import HOOK_BOUND
from agent_tracker.errors import DatabaseBusyError, UsageError

#: Seconds a writing command run by hand waits for another process's write transaction.
DEFAULT_WAIT = 30.0
#: ... inside a git hook: `AGENT_TRACKER_HOOK_BOUND`, which our hook scripts set for the one
#: command they run (an `AGENT_TRACKER_HOOK_TIMEOUT` exported in a shell changes nothing).
HOOK_WAIT = 2.0
MAX_WAIT = 24 * 3600.0
#: Even "do not wait" gives the writer thread this long to take a free lock.
MIN_WAIT = 0.05
ENV_WAIT = "AGENT_TRACKER_LOCK_WAIT"
ENV_HOOK = HOOK_BOUND

_override: ContextVar[float | None] = ContextVar("agent_tracker_write_wait", default=None)
#: Writers given up on, by the real path of their database, until they finish.
_abandoned: dict[str, Writer] = {}


def parse_wait(value: object, what: str = "--wait") -> float:
    """Seconds from a number or a string such as `10` or `2.5`, in 0..MAX_WAIT."""
    try:
        if isinstance(value, str) and not value.isascii():
            raise ValueError(value)  # float() reads fullwidth digits; a setting must not
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = math.nan
    if not 0 <= seconds <= MAX_WAIT:  # also NaN
        raise UsageError(
            f"{what} must be a number of seconds from 0 to {MAX_WAIT:g}, got {value!r}"
        )
    return seconds


def write_wait(environ: Mapping[str, str] | None = None) -> float:
    """How long to wait for the writer lock now (see the module docstring)."""
    chosen = _override.get()
    if chosen is not None:
        return chosen
    env = os.environ if environ is None else environ
    raw = env.get(ENV_WAIT)
    if raw:
        return parse_wait(raw, ENV_WAIT)
    return HOOK_WAIT if env.get(ENV_HOOK) else DEFAULT_WAIT


@contextmanager
def waiting(seconds: float | None) -> Iterator[None]:
    """Within the block, writes wait `seconds` for the lock (None: the usual default)."""
    token = _override.set(seconds)
    try:
        yield
    finally:
        _override.reset(token)


class Writer:
    """One write transaction, begun and ended in a thread of its own (see the docstring)."""

    def __init__(self, env: lmdb.Environment, path: object) -> None:
        self.env = env
        self.path = path
        self.txn: lmdb.Transaction | None = None
        self._error: BaseException | None = None
        self._end_error: BaseException | None = None
        self._commit = False
        self._abandoned = False
        self._close_env = False
        self._finished = False
        self._lock = threading.Lock()
        self._begun = threading.Event()
        self._end = threading.Event()
        self._ended = threading.Event()
        self._done = threading.Event()  # finished in any way (see `settle`)
        self._thread = threading.Thread(target=self._run, name="agent-tracker-writer", daemon=True)

    def _run(self) -> None:
        try:
            txn = self.env.begin(write=True)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            with self._lock:
                self._error = exc
            self._begun.set()
            self._finish()
            return
        with self._lock:
            abandoned = self._abandoned
            if not abandoned:
                self.txn = txn
        if abandoned:  # the caller said "busy" long ago: write nothing, tidy up
            txn.abort()
            self._finish()
            return
        self._begun.set()
        self._end.wait()
        try:
            if self._commit:
                txn.commit()
            else:
                txn.abort()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self._end_error = exc
        finally:
            with self._lock:
                self._finished = True
                self._done.set()
            self._ended.set()

    def _finish(self) -> None:
        """Mark the writer finished; close the environment if its owner asked us to."""
        with self._lock:
            self._finished = True
            close = self._close_env
        if close:
            self.env.close()
        self._done.set()

    def begin(self, wait: float) -> lmdb.Transaction:
        """The write transaction, once the lock is ours; DatabaseBusyError after `wait` s."""
        self._thread.start()
        self._begun.wait(max(wait, MIN_WAIT))
        with self._lock:
            if self.txn is None and self._error is None:
                self._abandoned = True
                _abandoned[os.path.realpath(str(self.path))] = self
        if self._error is not None:
            raise self._error
        if self.txn is None:
            raise DatabaseBusyError(
                f"database busy: {self.path} is being written by another process (waited "
                f"{wait:g} s); nothing was written and every pending event is kept. Try "
                f"again later, or wait longer with --wait SECONDS or ${ENV_WAIT}"
            )
        return self.txn

    def end(self, commit: bool) -> None:
        """Commit (or abort) in the writer thread; re-raises what the commit raised."""
        self._commit = commit
        self._end.set()
        self._ended.wait()
        if self._end_error is not None:
            raise self._end_error

    @property
    def abandoned(self) -> bool:
        """Still blocked on a lock the caller stopped waiting for."""
        with self._lock:
            return self._abandoned and not self._finished

    def close_env_when_done(self) -> bool:
        """Ask an abandoned writer to close the environment once it is unblocked; False
        when it has already finished (the caller closes it then)."""
        with self._lock:
            if self._finished:
                return False
            self._close_env = True
            return True


def settle(path: object, wait: float) -> None:
    """Before opening `path`: wait up to `wait` s for a writer of this process given up on
    earlier to finish (it holds the environment open); DatabaseBusyError if it does not."""
    key = os.path.realpath(str(path))
    writer = _abandoned.get(key)
    if writer is None:
        return
    if not writer._done.wait(max(wait, MIN_WAIT)):
        raise DatabaseBusyError(
            f"database busy: {path} is being written by another process (waited {wait:g} s); "
            "nothing was written and every pending event is kept"
        )
    _abandoned.pop(key, None)
