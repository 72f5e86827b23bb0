"""Which commits this machine has recorded, known without opening the database.

`grade` says so, in one line on stderr, when the commit it grades was never recorded (made
before `hooks install`, or in a repository without the hook); the grade is kept anyway and
counts once the commit is recorded. Capture never opens LMDB, so it asks two cheap sources,
both plain byte searches in the journal folder:

- the pending journal (live file and segments): a commit event for the hash, not yet flushed;
- `recorded-commits`: the hashes of the commits that flush, import and migrate recorded, one
  per line, the newest `KEEP` of them (rewritten down to `KEEP` lines once it passes twice
  that, so it stays under ~1 MB).

A hash found in neither is reported. When the file does not exist (nothing flushed since
this file was introduced), nothing is said: the first flush writes it, seeded with the
database's commits. The bound has one cost: a grade of a commit older than the newest
`KEEP` recorded ones is wrongly called unrecorded (it still counts).

`grade` also says which setup the graded commit counts for, again without the database:
`commit_setup` reads it from `commit-setups`, which `commit` keeps (`tracking.note_commit`
describes it), taking the first line of the hash as flush keeps the first commit event of a
hash and ignores the rest; a commit not found there (recorded before the file existed, or
by import or migrate) is looked for in the pending journal, else its setup is "decided at
flush". This module is on the capture path: standard library only.
"""

from __future__ import annotations

import os

from agent_tracker import fsio
from agent_tracker.journal import LIVE, SEGMENT_PREFIX

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from collections.abc import Iterable

FILE = "recorded-commits"
KEEP = 20_000


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def is_recorded(folder: str, commit_hash: str) -> bool | None:
    """True when the commit is recorded or pending, False when it is neither, None when
    this cannot be told (no record of recorded commits yet)."""
    known = _read(os.path.join(folder, FILE))
    if known is None:
        return None
    if _listed(known, commit_hash):
        return True
    return pending_commit(folder, commit_hash) is not None


def flushed(folder: str, commit_hash: str) -> bool:
    """Whether a flush, import or migrate recorded the commit (`recorded-commits`)."""
    return _listed(_read(os.path.join(folder, FILE)) or b"", commit_hash)


def _listed(known: bytes, commit_hash: str) -> bool:
    return (b"\n" + known).find(b"\n" + commit_hash.encode() + b"\n") != -1


def pending_commit(folder: str, commit_hash: str) -> bytes | None:
    """The first pending journal line (oldest segment first, then the live file) that
    records the commit `commit_hash`, or None."""
    try:
        names = sorted(n for n in os.listdir(folder) if n.startswith(SEGMENT_PREFIX))
    except OSError:
        return None
    wanted = b'"hash":"' + commit_hash.encode() + b'"'
    for name in (*names, LIVE):
        data = _read(os.path.join(folder, name)) or b""
        at = data.find(wanted)
        while at != -1:
            start = data.rfind(b"\n", 0, at) + 1
            if data.find(b'"type":"commit"', start, at) != -1:
                end = data.find(b"\n", at)
                return data[start : len(data) if end == -1 else end]
            at = data.find(wanted, at + 1)
    return None


def commit_setup(folder: str, commit_hash: str) -> dict[str, str] | None:
    """What `commit-setups` says of the commit (`SETUP_FIELDS`, from its first line for the
    hash), else what its pending journal line says; None when neither knows it."""
    from agent_tracker.tracking import SETUP_FIELDS, SETUPS_FILE  # loaded: grade uses it

    data = _read(os.path.join(folder, SETUPS_FILE))
    if data:
        needle = b"\n" + commit_hash.encode() + b"\t"
        at = (b"\n" + data).find(needle)
        if at != -1:
            end = data.find(b"\n", at)
            line = data[at : len(data) if end == -1 else end].decode("utf-8", "replace")
            values = line.split("\t")
            if len(values) == len(SETUP_FIELDS):
                return dict(zip(SETUP_FIELDS, values, strict=True))
    pending = pending_commit(folder, commit_hash)
    if pending is None:
        return None
    import json  # only here: a grade by hand of a commit that `commit-setups` misses

    try:
        event = json.loads(pending)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    return {name: str(event.get(name) or "") for name in SETUP_FIELDS}


def remember(folder: str, hashes: Iterable[str], seed: Iterable[str] = ()) -> None:
    """Add commit hashes to the file (after `seed`, oldest first, when there is no file
    yet). Never raises: the file only feeds a hint."""
    path = os.path.join(folder, FILE)
    try:
        present = _read(path)
        lines = [h.encode() for h in hashes]
        if present is None:
            lines = [h.encode() for h in seed] + lines
        elif not lines:
            return
        known = [] if present is None else present.splitlines()
        if present is not None and len(known) + len(lines) <= 2 * KEEP:
            fd = fsio.open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            with os.fdopen(fd, "ab") as handle:
                handle.write(b"".join(line + b"\n" for line in lines))
            return
        kept = (known + lines)[-KEEP:]
        # Not fsynced: a hint, rebuilt from the database if lost.
        fsio.atomic_write(path, b"".join(line + b"\n" for line in kept), durable=False)
    except OSError:
        pass


def hashes_of_facts(found: Iterable[tuple[str, object]]) -> list[str]:
    """The commit hashes among merged (key, fact) pairs (`commit:<project>:<hash>`)."""
    return [key.rsplit(":", 1)[1] for key, _ in found if key.startswith("commit:")]
