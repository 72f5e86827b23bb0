"""`doctor`'s findings on the database and the journal: size against the limit, reader
slots, the last flush, pending events and the oldest one's age, the quarantine."""

from __future__ import annotations

import shlex
from typing import Any

from agent_tracker.doctor.findings import Collector, size_setting, when
from agent_tracker.errors import TrackerError
from agent_tracker.journal import Journal
from agent_tracker.words import size as size_text

#: Warn when the database's high-water mark passes this share of its limit; call it full
#: above `FULL_SHARE` (a flush then fails for want of room, keeping every event pending).
WARN_SHARE = 0.80
FULL_SHARE = 0.95
#: The largest limit the configuration accepts (config.py checks 1 MiB..2 GiB).
MAX_LIMIT = 2 * 1024**3
#: Pending events older than this mean flushes are not running (git push, session end).
STALE_PENDING = 7 * 86400


def check(c: Collector) -> dict[str, Any]:
    """The database and journal checks; what the others need to know of them."""
    from agent_tracker.store import LMDBDatabase

    st = c.settings
    journal = Journal(st.journal_dir)
    found: dict[str, Any] = {"database": False, "pending": 0, "quarantined": 0}
    applied = None
    db = None
    try:
        db = LMDBDatabase.open_read(st.database_path, st.max_database_size)
    except TrackerError as exc:
        c.add("database", "open", "fail", str(exc), _open_fix(str(exc), c.command))
    if db is None:
        if not any(ch.section == "database" for ch in c.checks):
            c.add(
                "database",
                "file",
                "note",
                "not created yet: the first flush creates it",
                database=str(st.database_path),
            )
    else:
        with db:
            found["database"] = True
            _database(c, db)
            applied = db.is_applied
            pending = journal.pending_count(applied)
            oldest = journal.oldest_pending(applied)
            found["pending_events"] = list(_newest_pending(journal, applied))
            found["setups"] = db.agents()
    if db is None:
        pending = journal.pending_count()
        oldest = journal.oldest_pending()
        found["pending_events"] = list(_newest_pending(journal, None))
    found["pending"] = pending
    found["quarantined"] = _journal(c, journal, pending, oldest)
    return found


def _open_fix(message: str, command: str) -> str | None:
    if "understands" in message:
        return "upgrade agent-tracker (pipx upgrade agent-tracker, or pip install -U)"
    if "reader slot" in message:
        return "close long-running agent-tracker commands, then run doctor again"
    if "damaged" in message:
        return f"{command} export --output backup.jsonl  # then restore the folder from a backup"
    return None


def _database(c: Collector, db: Any) -> None:
    st = c.settings
    stats = db.stats()
    used, limit = stats["used_bytes"], st.max_database_size
    share = used / limit if limit else 0.0
    said = f"{size_text(used)} of {size_text(limit)} ({share * 100:.0f}%)"
    data = {"used_bytes": used, "max_database_size": limit, "entries": stats["entries"]}
    bigger = min(MAX_LIMIT, max(limit * 2, 2 * 1024**2))
    raise_it = f"{c.command} config set max_database_size {size_setting(bigger)}"
    if limit >= MAX_LIMIT:
        raise_it = (
            f"{c.command} export --output all.jsonl, move the database folder away, then "
            f"{c.command} import all.jsonl into a new one"
        )
    if share >= FULL_SHARE:
        c.add("database", "size", "fail", f"full: {said}; flushes fail", raise_it, **data)
    elif share > WARN_SHARE:
        c.add("database", "size", "warn", f"nearly full: {said}", raise_it, **data)
    else:
        c.add("database", "size", "ok", said, **data)
    in_use, most = db.reader_slots()
    slots = {"stale_readers": db.stale_readers, "readers": in_use, "max_readers": most}
    if db.stale_readers:
        s = "s" if db.stale_readers != 1 else ""
        c.add(
            "database",
            "readers",
            "note",
            f"cleared {db.stale_readers} reader slot{s} of processes killed while reading "
            "(a harness that stops its hooks early?)",
            **slots,
        )
    else:
        c.add("database", "readers", "ok", f"{in_use} of {most} reader slots in use", **slots)
    damaged = db.set_aside_count() + len(db.damaged)
    if damaged:
        c.add(
            "database",
            "damaged",
            "note",
            f"{damaged} damaged records set aside (kept under damaged: keys, not counted)",
            damaged=damaged,
        )
    last = db.last_flush()
    if last is None:
        c.add("database", "last flush", "note", "no flush recorded yet")
    else:
        c.add("database", "last flush", "ok", when(last, c.now), at=last)


def _journal(c: Collector, journal: Journal, pending: int, oldest: float | None) -> int:
    if not pending:
        c.add("journal", "pending", "ok", "nothing pending", pending=0)
    else:
        age = c.now - oldest if oldest is not None else 0.0
        said = f"{pending} event{'s' if pending != 1 else ''} pending"
        if oldest is not None:
            said += f", the oldest from {when(oldest, c.now)}"
        data: dict[str, Any] = {"pending": pending, "oldest": oldest}
        if age > STALE_PENDING:
            c.add(
                "journal",
                "pending",
                "warn",
                f"{said}: flushes are not running (git push and session ends run them)",
                f"{c.command} flush",
                **data,
            )
        else:
            c.add("journal", "pending", "ok", said, **data)
    files = journal.quarantine_files()
    count = journal.quarantined_count()
    if count:
        c.add(
            "journal",
            "quarantine",
            "warn",
            (
                f"1 journal line could not be applied and is not counted; it is kept, with the "
                f"reason, in {journal.quarantine_dir}"
                if count == 1
                else f"{count} journal lines could not be applied and are not counted; they are "
                f"kept, with the reason, in {journal.quarantine_dir}"
            ),
            f"cat {shlex.quote(str(journal.quarantine_dir))}/*  # read "
            f"{'it' if count == 1 else 'them'}; once read, delete that folder",
            lines=count,
            files=[str(p) for p in files],
        )
    return count


def _newest_pending(journal: Journal, applied: Any) -> list[dict[str, Any]]:
    """The newest pending event of each harness."""
    newest: dict[str, dict[str, Any]] = {}
    for event in journal.pending_events(applied):
        harness = event.get("harness")
        if isinstance(harness, str) and (
            harness not in newest or event["ts"] >= newest[harness]["ts"]
        ):
            newest[harness] = event
    return list(newest.values())
