"""What the integration recipes share: the result of one file's change, reading, backups and
atomic writes.

Invariants:
- A file is read as bytes and decoded as UTF-8; one that cannot be read or decoded is never
  written (the error says so).
- Writes are atomic and durable (`fsio.atomic_write`: a private temp file in the same folder,
  fsynced, then `os.replace`) and keep the mode of the file they replace; a new file gets
  0644 (less the umask): harness config holds no secrets.
- A symlinked file (dotfiles) is written through the link, so the link stays a link.
- The backup `<file>.agent-tracker.bak` holds the file as it was before the first install; it
  is written once and never overwritten.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_tracker import fsio, paths
from agent_tracker.errors import TrackerError

BACKUP_SUFFIX = ".agent-tracker.bak"
NEW_FILE_MODE = 0o644

# What happened to one file (`Change.action`).
INSTALLED = "installed"  # our part was added (file created or merged into)
UPDATED = "updated"  # an older install of ours was replaced
UNCHANGED = "unchanged"  # already as wanted: nothing written
RESTORED = "restored"  # --remove put the original back, byte for byte
DELETED = "deleted"  # --remove deleted a file that did not exist before the install
REMOVED = "removed"  # --remove took out only our part; the person's changes stay
ABSENT = "absent"  # --remove found nothing of ours


@dataclass(frozen=True)
class Change:
    """One file and what integrate did (or, with --print, would do) to it."""

    path: Path
    action: str
    detail: str
    #: The full text written (or that would be written); None when nothing is written.
    content: str | None = None
    backup: Path | None = None

    def as_dict(self, with_content: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": str(self.path),
            "action": self.action,
            "detail": self.detail,
            "backup": str(self.backup) if self.backup else None,
        }
        if with_content:
            data["content"] = self.content
        return data


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + BACKUP_SUFFIX)


def read_bytes(path: Path) -> bytes | None:
    """The file's bytes, or None when there is no file."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise TrackerError(f"{path} is a folder, not a file; nothing was written") from None
    except OSError as exc:
        raise TrackerError(f"cannot read {path}: {exc.strerror}; nothing was written") from None


def decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise TrackerError(
            f"{path} is not UTF-8 text; fix it or move it away (nothing was written)"
        ) from None


def write_atomic(path: Path, data: bytes, *, private_parent: bool = False) -> None:
    """Replace `path` with `data` in one step, keeping the mode of the file it replaces.

    `private_parent`: missing folders are created 0700 (a harness's folder in the home folder
    may hold credentials; the harness would create it so too)."""
    target = Path(os.path.realpath(path))
    if private_parent:  # each folder it creates is 0700, not only the last one
        paths.make_private_dir(target.parent)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0o022)  # reading the umask means setting it: put it back at once
        os.umask(umask)
        mode = NEW_FILE_MODE & ~umask
    fsio.atomic_write(target, data, mode)


def keep_backup(path: Path, original: bytes) -> Path:
    """Save the file as it was before our first install, unless a backup exists already."""
    backup = backup_path(path)
    if not backup.exists():
        write_atomic(backup, original)
        with contextlib.suppress(FileNotFoundError):  # as private as the file it copies
            backup.chmod(path.stat().st_mode & 0o7777)
    return backup


def delete(path: Path) -> None:
    """Delete a file we created (through a symlink: the file it points to; the link stays, as
    it was before the install)."""
    Path(os.path.realpath(path)).unlink(missing_ok=True)


def verb(dry_run: bool, done: str, would: str) -> str:
    return would if dry_run else done
