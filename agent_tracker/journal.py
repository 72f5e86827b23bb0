"""The journal: pending events between capture and flush.

Layout of the journal folder (0700, files 0600):

- `live.jsonl`      capture commands append here, one JSON line per event
- `journal.lock`    appenders hold a *shared* flock while writing; rotation takes it exclusive
- `flush.lock`      one flusher at a time (non-blocking: a second flusher is told "busy")
- `segment-<ns>-<rand>.jsonl`  the live file renamed by a flush, waiting to be applied
- `quarantine/<segment>.jsonl` lines that could not be applied, with the reason

Invariants:
- An append is one `os.write` of a whole line (<= 4 KiB) to an `O_APPEND` descriptor, under the
  shared lock. Rotation renames the live file under the exclusive lock, so no append is in
  flight into a segment once it exists; appenders then create a fresh live file.
- A segment's name is its id. The flush records the id in the same LMDB transaction that
  applies it and deletes the file only after the commit, so a flush killed at any instant
  applies each segment exactly once (see `flush`).
- Quarantine files are written atomically and named after their segment, so a repeated
  flush of the same segment rewrites the same file instead of duplicating lines.
- No LMDB, Typer or Rich here: this module runs inside every agent tool call.
"""

from __future__ import annotations

import fcntl
import os
import time

from agent_tracker import events
from agent_tracker.errors import TrackerError
from agent_tracker.paths import as_path, make_private_dir

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path
    from typing import Any

LIVE = "live.jsonl"
SEGMENT_PREFIX = "segment-"
#: How far back `last_activity` reads in the live journal.
TAIL_BYTES = 256 * 1024
#: How long `remember_setups` keeps a project's newest activity (longer than any sensible
#: attribution window; the lookup applies the configured window).
REMEMBER_SECONDS = 7 * 86400
#: Event types that show a session at work in a project.
ACTIVITY_TYPES = ("tool", "command", "session")


LAST_SETUPS = "last-setups.json"


def _sync_folder(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BadLine:
    """A journal line that was not applied, kept for the quarantine file."""

    __slots__ = ("error", "lineno", "text")

    def __init__(self, lineno: int, text: bytes, error: str) -> None:
        self.lineno = lineno
        self.text = text
        self.error = error


class Journal:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        # Plain strings for what an append touches; Path views below for everything else.
        self.folder = os.fspath(directory)
        self.live_file = os.path.join(self.folder, LIVE)
        self.lock_file = os.path.join(self.folder, "journal.lock")
        self.flush_lock_file = os.path.join(self.folder, "flush.lock")

    @property
    def dir(self) -> Path:
        return as_path(self.folder)

    @property
    def live(self) -> Path:
        return as_path(self.live_file)

    @property
    def quarantine_dir(self) -> Path:
        return self.dir / "quarantine"

    # -- capture side ----------------------------------------------------------------------

    def append(self, line: bytes) -> None:
        """Append one encoded event; never blocks on a flush for longer than its rename.

        Each record starts with its newline rather than ending with one: a line torn by a
        crash or a full disk then stays on its own line (quarantined alone) instead of
        swallowing the next event.
        """
        try:
            lock_fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            make_private_dir(self.folder)
            lock_fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_SH)
            fd = os.open(self.live_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            record = b"\n" + line.rstrip(b"\n")
            try:
                written = os.write(fd, record)
            finally:
                os.close(fd)
        finally:
            os.close(lock_fd)  # closing the descriptor releases the lock
        if written != len(record):
            raise TrackerError(
                f"journal {self.live_file}: short write ({written} of {len(record)} bytes)"
            )

    # -- flush side ------------------------------------------------------------------------

    def try_lock_flush(self) -> int | None:
        """The flush lock's descriptor, or None when another flush holds it."""
        make_private_dir(self.folder)
        fd = os.open(self.flush_lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def rotate(self) -> Path | None:
        """Turn the live file into a new pending segment; None when there is nothing live."""
        if not self.live.exists():
            return None
        lock_fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            try:
                if self.live.stat().st_size == 0:
                    return None
            except FileNotFoundError:
                return None
            name = f"{SEGMENT_PREFIX}{time.time_ns():020d}-{os.urandom(4).hex()}.jsonl"
            segment = self.dir / name
            os.rename(self.live, segment)
            _sync_folder(self.folder)  # the rename must be durable before its id is recorded
            return segment
        finally:
            os.close(lock_fd)

    def segments(self) -> list[Path]:
        """Pending segments, oldest first (their names start with a nanosecond time)."""
        if not self.dir.is_dir():
            return []
        return sorted(p for p in self.dir.glob(f"{SEGMENT_PREFIX}*.jsonl"))

    @staticmethod
    def segment_id(segment: Path) -> str:
        return segment.name[len(SEGMENT_PREFIX) : -len(".jsonl")]

    @staticmethod
    def read(path: Path) -> tuple[list[dict[str, Any]], list[BadLine]]:
        """Decoded events of one journal file and the lines that could not be decoded."""
        bad: list[BadLine] = []
        return list(Journal.scan(path, bad)), bad

    @staticmethod
    def scan(path: Path, bad: list[BadLine]) -> Iterator[dict[str, Any]]:
        """Yield the decoded events of one journal file; append undecodable lines to `bad`.

        A generator, so a flush holds one file's text but not all its events at once.
        """
        from orjson import loads  # about 3x faster than json here (bench/bench_flush.py)

        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        check = events.check
        for lineno, line in enumerate(data.split(b"\n"), start=1):
            if not line or line.isspace():
                continue
            try:
                yield check(loads(line))
            except ValueError as exc:  # orjson's decode error, or BadEvent
                reason = str(exc) if isinstance(exc, events.BadEvent) else f"not JSON: {exc}"
                bad.append(BadLine(lineno, line, reason))

    def write_quarantine(self, segment_id: str, bad: list[BadLine]) -> Path:
        import json  # flush only: capture never reads or writes JSON through this module

        make_private_dir(self.quarantine_dir)
        target = self.quarantine_dir / f"{segment_id}.jsonl"
        lines = [
            json.dumps(
                {"line": b.lineno, "error": b.error, "text": b.text.decode("utf-8", "replace")},
                ensure_ascii=False,
            )
            for b in bad
        ]
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.chmod(0o600)
        os.replace(tmp, target)
        return target

    # -- read-only views -------------------------------------------------------------------

    def pending_files(self, applied: Callable[[str], bool] | None = None) -> list[Path]:
        """Segments (oldest first) and the live file, leaving out segments that `applied`
        says a flush already applied (it died before deleting them)."""
        files = [s for s in self.segments() if applied is None or not applied(self.segment_id(s))]
        if self.live.exists():
            files.append(self.live)
        return files

    def pending_count(self, applied: Callable[[str], bool] | None = None) -> int:
        """Events waiting for a flush (non-blank lines of the pending files)."""
        total = 0
        for path in self.pending_files(applied):
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            total += sum(1 for line in data.split(b"\n") if line.strip())
        return total

    def pending_events(
        self, applied: Callable[[str], bool] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every decodable pending event, oldest first, without changing anything."""
        for path in self.pending_files(applied):
            yield from self.scan(path, [])

    def quarantined_count(self) -> int:
        if not self.quarantine_dir.is_dir():
            return 0
        total = 0
        for path in self.quarantine_dir.glob("*.jsonl"):
            total += sum(1 for line in path.read_bytes().split(b"\n") if line.strip())
        return total

    def last_activity(
        self, project: str, since: float
    ) -> tuple[tuple[str, str, str], str | None] | None:
        """(setup, session) of the newest tool call, command or session event of `project`
        at or after `since`, whether or not its agent and model are known.

        Reads only the tail of the live file and of the newest segment, then the small
        record of what earlier flushes saw (`remember_setups`): this runs inside the
        post-commit hook and must stay cheap however large the journal is.
        """
        import json

        try:
            names = sorted(n for n in os.listdir(self.folder) if n.startswith(SEGMENT_PREFIX))
        except FileNotFoundError:
            return None
        candidates = [self.live_file, *(os.path.join(self.folder, n) for n in names[-1:])]
        for path in candidates:
            try:
                with open(path, "rb") as handle:
                    size = handle.seek(0, os.SEEK_END)
                    handle.seek(max(0, size - TAIL_BYTES))
                    tail = handle.read()
            except FileNotFoundError:
                continue
            for text in reversed(tail.split(b"\n")):
                if b'"project"' not in text:
                    continue
                try:
                    event = json.loads(text)
                except ValueError:
                    continue
                if (
                    isinstance(event, dict)
                    and event.get("type") in ACTIVITY_TYPES
                    and event.get("project") == project
                    and isinstance(event.get("ts"), int | float)
                    and event["ts"] >= since
                ):
                    session = event.get("session")
                    setup = (str(event["harness"]), str(event["agent"]), str(event["model"]))
                    return setup, session if isinstance(session, str) else None
        seen = self._last_setups().get(project)
        if isinstance(seen, list) and len(seen) in (4, 5) and seen[0] >= since:
            session = seen[4] if len(seen) == 5 and isinstance(seen[4], str) else None
            return (str(seen[1]), str(seen[2]), str(seen[3])), session
        return None

    def _last_setups(self) -> dict[str, Any]:
        import json

        try:
            with open(os.path.join(self.folder, LAST_SETUPS), "rb") as handle:
                data = json.loads(handle.read())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def remember_setups(self, latest: dict[str, list[Any]], keep: float = REMEMBER_SECONDS) -> None:
        """Record, per project, the newest activity a flush saw (`[ts, harness, agent, model,
        session]`), so that attribution to the most recent session still works for a commit
        made after a flush emptied the journal."""
        import json

        if not latest:
            return
        merged = self._last_setups()
        for project, seen in latest.items():
            old = merged.get(project)
            if not isinstance(old, list) or not old or old[0] <= seen[0]:
                merged[project] = seen
        horizon = time.time() - keep
        merged = {p: v for p, v in merged.items() if isinstance(v, list) and v[0] >= horizon}
        target = os.path.join(self.folder, LAST_SETUPS)
        tmp = f"{target}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(merged, handle)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
