"""The LMDB files on disk: opened private, checked for truncation, stale readers cleared.

- **Truncation.** LMDB maps `data.mdb` into memory and trusts it: reading a page past the
  end of a file cut short (a full disk during a copy, a restore cut off) kills the process
  with SIGBUS, no exception. `check_size` reads the two meta pages first (as LMDB does:
  the one with the newer transaction id counts) and refuses a file shorter than
  `(last page + 1) x page size` with one clear message. The meta pages are read before the
  size, so a commit racing the check only ever makes the file longer than the meta says.
- **Privacy.** `data.mdb` and `lock.mdb` are created 0600 whatever the umask (LMDB creates
  them with the mode given, less the umask; a read-only open would otherwise make the lock
  file with LMDB's default 0644), and files of ours found wider are narrowed.
- **Stale readers.** A process killed inside a read transaction leaves its slot in the
  reader table; while any process keeps the database open, nothing clears it, the oldest
  snapshot it pins stops pages from being reused, and at 126 slots every command fails
  with MDB_READERS_FULL. `open_env` clears the slots of dead processes on every open, so
  they never pile up. (py-lmdb begins a read transaction while opening, so once the table
  is already full no open succeeds and nothing can clear it from here: that is one clear
  message, and the table is reset as soon as no process has the database open.)
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path
from typing import Any

import lmdb

from agent_tracker.errors import DatabaseDamagedError, TrackerError

PRIVATE = 0o600
LMDB_MAGIC = 0xBEEFC0DE
#: Offsets in a meta page (LMDB 0.9, 64-bit): a 16-byte page header, then `MDB_meta`:
#: magic, version, address, map size, two `MDB_db` of 48 bytes (the first one's `md_pad`
#: holds the page size), the last page number used, the transaction id.
_HEADER = 16
_PSIZE_AT = _HEADER + 24
_LAST_PG_AT = _HEADER + 120
_META_END = _HEADER + 136
_FILES = ("data.mdb", "lock.mdb")


def _meta(head: bytes) -> tuple[int, int, int] | None:
    """(page size, last page, txn id) of one meta page, or None if it is not one."""
    if len(head) < _META_END:
        return None
    magic, _version = struct.unpack_from("<II", head, _HEADER)
    if magic != LMDB_MAGIC:
        return None
    (psize,) = struct.unpack_from("<I", head, _PSIZE_AT)
    last_pg, txnid = struct.unpack_from("<QQ", head, _LAST_PG_AT)
    if psize < 512 or psize > 65536 or psize & (psize - 1):
        return None
    return psize, last_pg, txnid


def needed_size(data_file: Path) -> tuple[int, int] | None:
    """(bytes the newest meta page says the file holds, bytes it has), or None when the file
    does not start like an LMDB 0.9 data file (LMDB itself then says what is wrong)."""
    with data_file.open("rb") as handle:
        first = _meta(handle.read(_META_END))
        metas = [first] if first is not None else []
        if first is not None:
            handle.seek(first[0])
            second = _meta(handle.read(_META_END))
            if second is not None and second[0] == first[0]:
                metas.append(second)
        size = os.fstat(handle.fileno()).st_size
    if not metas:
        return (1, 0) if size == 0 else None
    psize, last_pg, _ = max(metas, key=lambda meta: meta[2])
    return (last_pg + 1) * psize, size


def truncation(path: str | os.PathLike[str], data_file: str | None = None) -> str | None:
    """What is wrong with a truncated data file (None when it is whole, missing, or not an
    LMDB 0.9 file); `data_file` when it is not `path/data.mdb` (a single-file database)."""
    target = Path(data_file) if data_file else Path(path, "data.mdb")
    try:
        found = needed_size(target)
    except OSError:
        return None  # missing, not a folder, unreadable: not damage; opening says what it is
    if found is None or found[1] >= found[0]:
        return None
    needed, size = found
    what = "is empty" if size == 0 else f"has {size} bytes where its last commit needs {needed}"
    return f"{target.name} {what} (cut short, e.g. by a full disk or an interrupted copy)"


def check_size(path: str | os.PathLike[str]) -> None:
    """Refuse a truncated central database with one clear message (see the docstring)."""
    problem = truncation(path)
    if problem is not None:
        raise DatabaseDamagedError(
            f"database {path} is damaged: {problem}. Nothing was changed and pending events "
            "stay in the journal. Restore the folder from a backup, or move it away to start "
            "a new database and `agent-tracker import` an earlier export"
        )


def narrow(path: str | os.PathLike[str]) -> None:
    """Make our data and lock files 0600 (created under a wide umask, or by hand)."""
    for name in _FILES:
        target = Path(path, name)
        try:
            info = target.lstat()
            mine = stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid()
            if mine and info.st_mode & 0o7777 != PRIVATE:
                target.chmod(PRIVATE)
        except OSError:
            pass  # missing, or not ours to change: LMDB reports what matters


def open_env(path: str | os.PathLike[str], **options: Any) -> tuple[lmdb.Environment, int]:
    """The environment at `path` (a folder), private, with stale readers cleared; and how
    many stale reader slots were cleared. Raises lmdb.Error as LMDB does."""
    check_size(path)
    try:
        env = lmdb.open(os.fspath(path), subdir=True, mode=PRIVATE, max_dbs=0, **options)
    except lmdb.ReadersFullError:
        raise TrackerError(
            f"database {path}: every reader slot is taken, by running programs or by ones "
            "killed while reading; close the programs that keep the database open (e.g. "
            "long-running agent-tracker commands) and try again: the slots are freed when "
            "none has it open"
        ) from None
    try:
        narrow(path)
        cleared = env.reader_check()
    except BaseException:
        env.close()
        raise
    return env, cleared
