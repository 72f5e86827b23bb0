"""Where agent-tracker keeps things. Every path the program uses is derived here.

Invariants:
- Paths are built from `Path.home()`, never from a literal `~` (older tools created a folder
  named `~` inside projects by passing "~/..." straight to LMDB).
- A relative configured path resolves against the home folder, not the working directory, so
  the result does not depend on where a hook happens to run.
- The journal lives beside the database, in the tracker's own folder, never in a work tree.
"""

from __future__ import annotations

import os
from pathlib import Path

DB_NAME = "agent-tracker.lmdb"
CONFIG_NAME = "agent-tracker.toml"
#: Folder that older tools used when they passed "~/.config/opencode" without expanding it.
LEGACY_RELATIVE = Path("~") / ".config" / "opencode" / DB_NAME


def home() -> Path:
    return Path.home()


def tracker_dir() -> Path:
    """The folder that holds the default database, journal and config file."""
    return home() / ".config" / "opencode"


def default_database_path() -> Path:
    return tracker_dir() / DB_NAME


def default_config_path() -> Path:
    return tracker_dir() / CONFIG_NAME


def resolve_user_path(value: str | os.PathLike[str]) -> Path:
    """Absolute paths are kept, `~/x` is expanded, anything else is relative to home."""
    text = os.fspath(value)
    if text == "~" or text.startswith("~/"):
        return home() / text[2:] if text != "~" else home()
    path = Path(text)
    if path.is_absolute():
        return path
    return home() / path


def journal_dir_for(database_path: Path) -> Path:
    """The journal folder that goes with a database: `foo.lmdb` -> `foo.journal`."""
    stem = database_path.name
    if stem.endswith(".lmdb"):
        stem = stem[: -len(".lmdb")]
    return database_path.parent / f"{stem}.journal"


def make_private_dir(path: Path) -> Path:
    """Create `path` and missing parents with mode 0700 (the data holds project paths)."""
    missing = []
    cursor = path
    while not cursor.is_dir():
        missing.append(cursor)
        if cursor.parent == cursor:
            break
        cursor = cursor.parent
    # Each folder we create is private, not only the last one (mkdir -p would use the umask).
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    return path
