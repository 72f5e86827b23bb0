"""The one error family of agent-tracker.

Core code raises `TrackerError` (or a subclass) for every problem a user can fix; the CLI
prints its message as one line on stderr and exits with its `exit_code`. Anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

# Exit codes, named once and used everywhere.
EXIT_ERROR = 1
EXIT_USAGE = 2
#: The database's writer lock stayed held longer than the command waits (EX_TEMPFAIL: try
#: again later); nothing was written. `flush` says "database busy" and exits 0 instead.
EXIT_BUSY = 75
EXIT_INTERRUPTED = 130


class TrackerError(Exception):
    """A problem the user can act on; its message says what to do."""

    exit_code = EXIT_ERROR


class UsageError(TrackerError):
    """Bad input on the command line or in the configuration."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A configuration value is invalid; nothing was written."""


class GitError(TrackerError):
    """Git could not tell us what we asked (not a repository, unknown revision, ...)."""


class FormatError(TrackerError):
    """Data was written by a newer agent-tracker than this one."""


class DatabaseFullError(TrackerError):
    """The database reached `max_database_size`; pending events were kept."""


class DatabaseBusyError(TrackerError):
    """Another process held the database's write lock longer than we wait; nothing written."""

    exit_code = EXIT_BUSY


class DatabaseDamagedError(TrackerError):
    """The database files are damaged (e.g. truncated); nothing was changed."""
