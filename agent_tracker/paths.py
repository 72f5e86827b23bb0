"""Where agent-tracker keeps things. Every path the program uses is derived here.

Invariants:
- Paths are built from the home folder (`Path.home()`'s rule: `$HOME`, else the password
  database), never from a literal `~` handed to LMDB: older tools did that and created a
  folder named `~` inside projects.
- A relative configured path resolves against the home folder, not the working directory, so
  the result does not depend on where a hook happens to run.
- The journal lives beside the *default* database, in the tracker's own folder, whatever
  database is configured (so a change of database strands nothing), never in a work tree.

The functions work on `str` paths with `os.path`: they run in every agent tool call, where
importing `pathlib` alone would cost a noticeable share of the command's time.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # avoids importing typing and pathlib on the capture hot path
if TYPE_CHECKING:
    from pathlib import Path

DB_NAME = "agent-tracker.lmdb"
CONFIG_NAME = "agent-tracker.toml"
#: Where older tools left a database inside each project: they passed the path with an
#: unexpanded `~`, which LMDB took as a folder named "~" in the working directory.
LEGACY_PARTS = ("~", ".config", "opencode", DB_NAME)


def may_hold_legacy_database(folder: str) -> bool:
    """Whether something sits where an older tool left its per-project database (cheap: read
    commands load the merging code only then)."""
    return os.path.lexists(os.path.join(folder, *LEGACY_PARTS))


def home() -> str:
    # The same rule as pathlib.Path.home(), without importing pathlib.
    return os.path.expanduser("~")


def tracker_dir() -> str:
    """The folder that holds the default database, journal and config file."""
    return os.path.join(home(), ".config", "opencode")


def default_database_path() -> str:
    return os.path.join(tracker_dir(), DB_NAME)


def default_config_path() -> str:
    return os.path.join(tracker_dir(), CONFIG_NAME)


def resolve_user_path(value: str | os.PathLike[str]) -> str:
    """Absolute paths are kept, `~/x` is expanded, anything else is relative to home."""
    text = os.fspath(value)
    if text == "~":
        return home()
    if text.startswith("~/"):
        return os.path.normpath(os.path.join(home(), text[2:]))
    if text.startswith("~"):
        # `~user/...` would otherwise become a folder literally named "~user" in home.
        from agent_tracker.errors import ConfigError

        raise ConfigError(f"path {text!r}: only ~/ (your home folder) is understood, not ~user")
    if os.path.isabs(text):
        return os.path.normpath(text)
    return os.path.normpath(os.path.join(home(), text))


def journal_dir_for(database_path: str) -> str:
    """The journal folder that goes with a database: `foo.lmdb` -> `foo.journal`."""
    parent, name = os.path.split(os.path.normpath(database_path))
    return os.path.join(parent, f"{name.removesuffix('.lmdb')}.journal")


def make_private_dir(path: str | os.PathLike[str]) -> None:
    """Create `path` and missing parents with mode 0700 (the data holds project paths)."""
    missing = []
    cursor = os.path.abspath(path)
    while not os.path.isdir(cursor):
        missing.append(cursor)
        parent = os.path.dirname(cursor)
        if parent == cursor:
            break
        cursor = parent
    # Each folder we create is private, not only the last one (mkdir -p would use the umask).
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue  # created meanwhile by a concurrent process: fine


def as_path(text: str) -> Path:
    """`Path(text)`, importing pathlib only when something off the hot path asks for it."""
    from pathlib import Path

    return Path(text)
