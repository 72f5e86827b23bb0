"""The journal: pending events between capture and flush.

Layout of the journal folder (0700, files 0600):

- `live.jsonl`      capture commands append here, one JSON line per event
- `journal.lock`    appenders hold a *shared* flock while writing; rotation takes it exclusive
- `flush.lock`      one flusher at a time (non-blocking: a second flusher is told "busy")
- `segment-<ns>-<rand>.jsonl`  the live file renamed by a flush, waiting to be applied
- `quarantine/<segment>.jsonl` lines that could not be applied, with the reason
- `segment-<id>-newer.jsonl` lines of a newer event format, set aside by a flush that could
  apply the rest of segment `<id>`: an ordinary pending segment, which a newer
  agent-tracker's flush applies (this one leaves a segment of only such lines alone)

Invariants:
- An append is one `os.write` of a whole line (<= 4 KiB) to an `O_APPEND` descriptor, under the
  shared lock. Rotation renames the live file under the exclusive lock, so no append is in
  flight into a segment once it exists; appenders then create a fresh live file.
- A segment's name is its id. The flush records the id in the same LMDB transaction that
  applies it and deletes the file only after the commit, so a flush killed at any instant
  applies each segment exactly once (see `flush`).
- Quarantine files are written atomically and named after their segment, so a repeated
  flush of the same segment rewrites the same file instead of duplicating lines.
- Nothing waits without bound: an append that cannot get the shared lock within
  `LOCK_WAIT` (a flush stuck in its rename, a process holding the lock) writes its event to
  a new segment of its own instead (created whole by a rename, so a flush sees all of it
  or none); a rotation that cannot get the exclusive lock within `ROTATE_WAIT` leaves the
  live file for the next flush.
- Files are opened without following symbolic links (`fsio.open_private`, 0600 whatever
  the umask); the folder must belong to the user (a wider mode than 0700 is narrowed).
- No LMDB, Typer or Rich here: this module runs inside every agent tool call.
"""

from __future__ import annotations

import fcntl
import os
import time

from agent_tracker import events, fsio
from agent_tracker.errors import FormatError, TrackerError
from agent_tracker.paths import as_path, make_private_dir

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path
    from typing import Any, BinaryIO

LIVE = "live.jsonl"
SEGMENT_PREFIX = "segment-"
#: How far back `last_activity` reads in the live journal.
TAIL_BYTES = 256 * 1024
#: How long `remember_setups` keeps a project's newest activity (longer than any sensible
#: attribution window; the lookup applies the configured window).
REMEMBER_SECONDS = 7 * 86400
#: Event types that show a session at work in a project.
ACTIVITY_TYPES = ("tool", "command", "session")
#: How an activity event's type reads in a journal line (a cheap test before decoding).
_ACTIVITY_MARKS = tuple(b'"type":"%s"' % kind.encode() for kind in ACTIVITY_TYPES)
#: What a line may hold and still be no event (NULs: a crash artefact).
_BLANK = b" \t\r\n\x0b\x0c\x00"


LAST_SETUPS = "last-setups.json"
#: Suffix of the segment holding the newer-format lines set aside from segment `<id>`.
NEWER_SUFFIX = "-newer"


def segment_name() -> str:
    """A new segment's file name: its id starts with the time, so names sort oldest first."""
    return f"{SEGMENT_PREFIX}{time.time_ns():020d}-{os.urandom(4).hex()}.jsonl"


def _nul_free(line: bytes) -> list[bytes]:
    """The pieces of a line around its runs of NUL bytes (what a crash can leave where data
    was to be), without the NULs."""
    return [piece for piece in line.split(b"\x00") if piece.strip()]


class BadLine:
    """A journal line that was not applied, kept for the quarantine file."""

    __slots__ = ("error", "lineno", "text")

    def __init__(self, lineno: int, text: bytes, error: str) -> None:
        self.lineno = lineno
        self.text = text
        self.error = error


def _open_lines(path: Path) -> BinaryIO | None:
    """A journal file opened for reading line by line; None when it is gone (a flush
    deleted it meanwhile)."""
    try:
        return open(path, "rb")  # the caller closes it
    except FileNotFoundError:
        return None


def _text(line: bytes) -> bytes:
    """A line as the quarantine keeps it: without its newline."""
    return line[:-1] if line.endswith(b"\n") else line


def _damaged(
    lineno: int, line: bytes, bad: list[BadLine], set_aside: list[BadLine]
) -> Iterator[dict[str, Any]]:
    """The events of a line that is not one JSON value: none when it is blank; those of the
    text around runs of NUL bytes (a crash artefact, noted as one bad line); else it is bad."""
    from orjson import loads

    text = _text(line)
    if not text or text.isspace():
        return
    pieces = [text]
    if b"\x00" in text:
        count = text.count(b"\x00")
        bad.append(BadLine(lineno, b"", f"{count} NUL bytes (left by a crash): dropped"))
        pieces = _nul_free(text)
    for piece in pieces:
        try:
            yield events.check(loads(piece))
        except FormatError as exc:
            set_aside.append(BadLine(lineno, piece, str(exc)))
        except ValueError as exc:  # orjson's decode error, or BadEvent
            reason = str(exc) if isinstance(exc, events.BadEvent) else f"not JSON: {exc}"
            bad.append(BadLine(lineno, piece, reason))


class Journal:
    #: How long an append waits for the shared lock (a flush holds it exclusively only for
    #: a rename) before it writes its event to a segment of its own instead.
    LOCK_WAIT = 1.0
    #: How long a flush waits for appenders before leaving the live file for the next flush.
    ROTATE_WAIT = 2.0

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

    # -- files -----------------------------------------------------------------------------

    def check_folder(self) -> None:
        """Create the folder (0700) when missing; refuse one that belongs to someone else,
        and narrow our own to 0700 when it is wider (it holds project paths)."""
        try:
            st = os.stat(self.folder)
        except FileNotFoundError:
            make_private_dir(self.folder)
            return
        if st.st_mode & 0o170000 != 0o040000:  # S_ISDIR, without importing stat
            raise TrackerError(
                f"journal folder {self.folder} is not a folder: set journal_dir to a folder "
                "of your own (agent-tracker creates it when missing)"
            )
        if st.st_uid != os.geteuid():
            raise TrackerError(
                f"journal folder {self.folder} belongs to another user (uid {st.st_uid}); "
                "agent-tracker does not write there: remove it, or set journal_dir to a "
                "folder of your own"
            )
        if st.st_mode & 0o1000:  # sticky: a folder shared by everyone, such as /tmp
            raise TrackerError(
                f"journal folder {self.folder} is a shared folder (like /tmp); agent-tracker "
                "keeps its journal private: set journal_dir to a folder of your own"
            )
        if st.st_mode & 0o077:
            os.chmod(self.folder, 0o700)

    def _open(self, path: str, flags: int) -> int:
        """`fsio.open_private`: 0600, never through a symbolic link (one left there by
        someone else would send our events, or our truncation, to a file of their choice)."""
        try:
            return fsio.open_private(path, flags)
        except OSError as exc:
            import errno

            if exc.errno in (errno.ELOOP, errno.EMLINK) and os.path.islink(path):
                raise TrackerError(
                    f"journal file {path} is a symbolic link; agent-tracker does not follow "
                    "links in its journal folder: remove it (and check who made it)"
                ) from None
            raise

    # -- capture side ----------------------------------------------------------------------

    def append(self, line: bytes) -> None:
        """Append one encoded event; never waits for a flush longer than `LOCK_WAIT`.

        Each record starts with its newline rather than ending with one: a line torn by a
        crash or a full disk then stays on its own line (quarantined alone) instead of
        swallowing the next event.
        """
        self.check_folder()
        record = b"\n" + line.rstrip(b"\n")
        lock_fd = self._open(self.lock_file, os.O_RDWR | os.O_CREAT)
        try:
            if not fsio.flock_within(lock_fd, fcntl.LOCK_SH, self.LOCK_WAIT):
                self.append_aside(record)
                return
            fd = self._open(self.live_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
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

    def append_aside(self, record: bytes) -> str:
        """Write `record` as a pending segment of its own, without the journal lock; returns
        its path. The file appears whole (temporary file, then rename), so a flush applies
        all of it or, not seeing it yet, leaves it to the next flush."""
        path = os.path.join(self.folder, segment_name())
        fsio.atomic_write(path, record, durable=False)  # appends are never fsynced either
        return path

    # -- flush side ------------------------------------------------------------------------

    def try_lock_flush(self) -> int | None:
        """The flush lock's descriptor, or None when another flush holds it."""
        self.check_folder()
        fd = self._open(self.flush_lock_file, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def rotate(self) -> Path | None:
        """Turn the live file into a new pending segment; None when there is nothing live,
        or when appenders kept the lock for `ROTATE_WAIT` (the next flush takes it)."""
        if not self.live.exists():
            return None
        lock_fd = self._open(self.lock_file, os.O_RDWR | os.O_CREAT)
        try:
            if not fsio.flock_within(lock_fd, fcntl.LOCK_EX, self.ROTATE_WAIT):
                return None
            try:
                if self.live.stat().st_size == 0:
                    return None
            except FileNotFoundError:
                return None
            segment = self.dir / segment_name()
            os.rename(self.live, segment)
            fsio.sync_folder(self.folder)  # the rename must be durable before its id is recorded
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
    def lines(path: Path) -> Iterator[tuple[int, bytes]]:
        """(line number, line with its newline) of one journal file, read as a stream: a
        file of any size costs the memory of one line (and a read buffer), never of all."""
        handle = _open_lines(path)
        if handle is None:
            return
        with handle:
            yield from enumerate(handle, start=1)

    @staticmethod
    def scan(
        path: Path,
        bad: list[BadLine],
        newer: list[BadLine] | None = None,
        count: Callable[[Any], bool] | None = None,
        count_line: Callable[[bytes], bool] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield the decoded events of one journal file; append undecodable lines to `bad`,
        and lines of a newer event format to `newer` (to `bad` when it is None).

        A generator over `lines`, so a flush holds one line at a time, never a whole file or
        all its events. With `count_line` and `count` (the flush passes `Applier.count_line`
        and `Applier.count`), each line is offered to the first as it is read, then parsed
        and offered to the second; one they take (they counted a well-formed tool call,
        command or session event) is not yielded. A run of NUL bytes (a crash can leave them
        where data was to be written) is one bad line of its own: the text around it is read
        as lines, so the last good event is kept.
        """
        from orjson import loads  # about 3x faster than json here (bench/bench_flush.py)

        check = events.check
        set_aside = bad if newer is None else newer
        handle = _open_lines(path)
        if handle is None:
            return
        with handle:  # iterated here, not through `lines`: one generator less per event
            for lineno, line in enumerate(handle, start=1):
                if count_line is not None and count_line(line):
                    continue
                try:
                    event = loads(line)
                except ValueError:
                    # Blank, torn, NUL-filled or not JSON: the rare case, judged in full.
                    yield from _damaged(lineno, line, bad, set_aside)
                    continue
                if count is not None and count(event):
                    continue
                try:
                    yield check(event)
                except FormatError as exc:
                    set_aside.append(BadLine(lineno, _text(line), str(exc)))
                except ValueError as exc:  # events.BadEvent
                    bad.append(BadLine(lineno, _text(line), str(exc)))

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
        # Durable: the segment these lines came from is deleted once the flush commits.
        fsio.atomic_write(target, ("\n".join(lines) + "\n").encode("utf-8"))
        return target

    def set_aside(self, segment_id: str, lines: list[BadLine]) -> Path:
        """Write the newer-format `lines` of a segment as a pending segment of their own
        (`segment-<id>-newer.jsonl`), durably, before the segment is deleted."""
        target = self.dir / f"{SEGMENT_PREFIX}{segment_id}{NEWER_SUFFIX}.jsonl"
        fsio.atomic_write(target, b"".join(b"\n" + b.text for b in lines))
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
            total += sum(1 for _, line in self.lines(path) if line.strip(_BLANK))
        return total

    def pending_events(
        self,
        applied: Callable[[str], bool] | None = None,
        count: Callable[[Any], bool] | None = None,
        count_line: Callable[[bytes], bool] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every decodable pending event, oldest first, without changing anything; streamed,
        and with `count`/`count_line` as in `scan` (the report's overlay passes an
        `Applier`'s)."""
        for path in self.pending_files(applied):
            yield from self.scan(path, [], None, count, count_line)

    def oldest_pending(self, applied: Callable[[str], bool] | None = None) -> float | None:
        """The time of the oldest pending event (None when none is pending).

        Each pending file is appended to in time order, so only its first event is read: a
        journal of any size costs one line per file."""
        from orjson import loads

        oldest: float | None = None
        for path in self.pending_files(applied):
            for _, line in self.lines(path):
                if not line.strip(_BLANK):
                    continue
                try:
                    ts = loads(line).get("ts")
                except (ValueError, AttributeError):
                    continue  # a bad line: the flush quarantines it
                if type(ts) in (int, float) and 0 <= ts < events.MAX_TS:
                    oldest = ts if oldest is None else min(oldest, ts)
                    break
        return oldest

    def quarantine_files(self) -> list[Path]:
        """The quarantine's files, oldest first."""
        if not self.quarantine_dir.is_dir():
            return []
        return sorted(self.quarantine_dir.glob("*.jsonl"))

    def quarantined_count(self) -> int:
        if not self.quarantine_dir.is_dir():
            return 0
        total = 0
        for path in self.quarantine_dir.glob("*.jsonl"):
            total += sum(1 for _, line in self.lines(path) if line.strip())
        return total

    def last_activity(
        self, project: str, since: float, until: float | None = None
    ) -> tuple[tuple[str, str, str], str | None] | None:
        """(setup, session) of the newest tool call, command or session event of `project`
        at or after `since` (and, given `until`, not after it), whether or not its agent
        and model are known.

        Reads only the tail of the live file and of the newest segment, and decodes only
        the lines that name the project, then the small record of what earlier flushes saw
        (`remember_setups`): this runs for every commit and must stay cheap however large
        the journal is.
        """
        project = events.clean_text(project)  # as the journal's events spell it
        try:
            names = sorted(n for n in os.listdir(self.folder) if n.startswith(SEGMENT_PREFIX))
        except FileNotFoundError:
            return None
        # The project as `events.encode` writes it (and as an ASCII-only encoder would).
        needles = {
            b'"project":' + events.dumps(project).encode("utf-8"),
            b'"project":' + events.dumps(project).encode("ascii", "backslashreplace"),
        }
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
                if not any(needle in text for needle in needles) or not any(
                    kind in text for kind in _ACTIVITY_MARKS
                ):
                    continue
                found = _activity(text, project, since, until)
                if found is not None:
                    return found
        seen = self._last_setups().get(project)
        if seen is not None and since <= seen[0] and (until is None or seen[0] <= until):
            session = seen[4] if len(seen) == 5 and isinstance(seen[4], str) else None
            return (str(seen[1]), str(seen[2]), str(seen[3])), session
        return None

    def _last_setups(self) -> dict[str, list[Any]]:
        """The file of `remember_setups`, keeping only well-formed entries: a damaged or
        hand-edited file must never fail a commit or a flush."""
        try:
            with open(os.path.join(self.folder, LAST_SETUPS), "rb") as handle:
                raw = handle.read()
        except OSError:
            return {}
        import json  # only now: a commit in a journal never flushed does without

        try:
            data = json.loads(raw)
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            project: seen
            for project, seen in data.items()
            if isinstance(seen, list)
            and len(seen) in (4, 5)
            and type(seen[0]) in (int, float)
            and 0 <= seen[0] < events.MAX_TS
        }

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
        merged = {p: v for p, v in merged.items() if v[0] >= horizon}
        # Not fsynced: after a power loss, attribution falls back on the sessions' files.
        fsio.atomic_write(
            os.path.join(self.folder, LAST_SETUPS), json.dumps(merged).encode(), durable=False
        )


def _activity(
    text: bytes, project: str, since: float, until: float | None
) -> tuple[tuple[str, str, str], str | None] | None:
    """(setup, session) of one journal line when it is activity of `project` in the time."""
    import json

    try:
        event = json.loads(text.strip(_BLANK))
    except ValueError:
        return None
    if not (
        isinstance(event, dict)
        and event.get("type") in ACTIVITY_TYPES
        and event.get("project") == project
        and isinstance(event.get("ts"), int | float)
        and event["ts"] >= since
        and (until is None or event["ts"] <= until)
    ):
        return None
    session = event.get("session")
    setup = (str(event["harness"]), str(event["agent"]), str(event["model"]))
    return setup, session if isinstance(session, str) else None
