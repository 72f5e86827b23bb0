"""Writing files so that a crash leaves the old content or the new, never a mix or nothing.

The one place that knows how (STYLE habit 6): a temporary file in the same folder, created
private (0600 whatever the umask, and never through a symbolic link), written, fsynced,
renamed over the target, and the folder fsynced so that the rename itself survives a power
loss. `sync_folder` makes other folder changes (a deleted segment, a new file) durable.

`flock_within` takes a lock waiting a bounded time: no capture may hang behind a stuck
process. Only `os`, `fcntl` and `time` are imported: capture and hook code use this module
on their hot path.
"""

from __future__ import annotations

import fcntl
import os
import time

#: Files agent-tracker creates hold project paths and commit subjects.
PRIVATE_FILE = 0o600
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def sync_folder(folder: str | os.PathLike[str]) -> None:
    """fsync a folder, so that files created, renamed or deleted in it stay so."""
    fd = os.open(folder, os.O_RDONLY | _CLOEXEC)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync a folder; nothing more can be done
        pass
    finally:
        os.close(fd)


def open_private(path: str | os.PathLike[str], flags: int, mode: int = PRIVATE_FILE) -> int:
    """`os.open` that refuses to follow a symbolic link at `path` and creates the file with
    exactly `mode` (the umask cannot widen it, and a file that exists is not changed)."""
    fd = os.open(path, flags | _NOFOLLOW | _CLOEXEC, mode)
    if flags & os.O_CREAT:
        try:
            if os.fstat(fd).st_mode & 0o7777 & ~mode:
                os.fchmod(fd, mode)  # created under a permissive umask, or left so by hand
        except OSError:
            pass
    return fd


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes,
    mode: int = PRIVATE_FILE,
    *,
    durable: bool = True,
) -> None:
    """Replace `path` by a file holding `data`, all or nothing.

    The temporary file is created with `mode` (0600 by default, never wider whatever the
    umask), in the same folder; a leftover of an earlier crash is replaced. With `durable`
    (the default), data and rename are fsynced; caches that can be rebuilt may pass False.
    """
    target = os.fspath(path)
    folder, name = os.path.split(target)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    try:  # noqa: SIM105 - contextlib is not loaded at start-up; this is the hot path
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if mode != PRIVATE_FILE:
                os.fchmod(fd, mode)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        try:  # noqa: SIM105 - as above
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if durable:
        sync_folder(folder or ".")


def flock_within(fd: int, kind: int, wait: float) -> bool:
    """`flock(fd, kind)` (LOCK_SH or LOCK_EX), waiting at most `wait` seconds; False when it
    was not had by then."""
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        pass
    deadline = time.monotonic() + wait
    delay = 0.001
    while time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            continue
    return False
