"""The one error family of agent-tracker.

Core code raises `TrackerError` (or a subclass) for every problem a user can fix; the CLI
prints its message as one line on stderr (`message_line`) and exits with its `exit_code`.
Anything else is a bug and keeps its traceback.

Names in messages and output come from agents, harnesses and folders: `printable` shows
their control characters (escape sequences, newlines) as `\\x1b`-style escapes, so that no
such name can drive the terminal or split an error into several lines. Standard library
only: this module is on the capture hot path.
"""

from __future__ import annotations

# Exit codes, named once and used everywhere.
EXIT_ERROR = 1
EXIT_USAGE = 2
#: The database's writer lock stayed held longer than the command waits (EX_TEMPFAIL: try
#: again later); nothing was written. `flush` says "database busy" and exits 0 instead.
EXIT_BUSY = 75
EXIT_INTERRUPTED = 130
#: The team database server could not be reached: host unknown or unreachable, connection
#: refused or timed out, or the server stopped during a sync (EX_UNAVAILABLE). Nothing local
#: was lost; the next sync sends the same facts again.
EXIT_TEAM_UNREACHABLE = 69
#: The team server refused us: wrong password or user, TLS required by one side and refused
#: by the other, or a privilege missing (EX_NOPERM).
EXIT_TEAM_AUTH = 77
#: The team server's version or schema does not fit this agent-tracker: PostgreSQL older than
#: supported, or a schema written by a newer agent-tracker (EX_DATAERR).
EXIT_TEAM_SCHEMA = 65


TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    import re
    from collections.abc import Callable

#: Control characters (C0, DEL, C1), lone surrogates (undecodable bytes) and the
#: bidirectional overrides that can make text read differently from what it is.
_UNSAFE = "[\\x00-\\x08\\x0a-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069\\ud800-\\udfff]"


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, newlines: bool = False) -> str:
    """`text` with control characters shown as escapes (`\\x1b`, `\\u202e`); with
    `newlines`, line breaks are kept (multi-line output such as CSV)."""
    if text.isprintable():
        return text  # the usual case, without loading `re`
    if newlines:
        return "\n".join(printable(line) for line in text.split("\n"))
    import re

    return re.sub(_UNSAFE, _escape, text)


def message_line(error: BaseException) -> str:
    """The one stderr line for a failed command: `agent-tracker: error: ...`."""
    return f"agent-tracker: error: {printable(str(error) or type(error).__name__)}\n"


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


def say(line: str) -> None:
    """Write `line` to stderr as it is; a closed stderr is no reason to fail."""
    import sys

    try:
        sys.stderr.write(line)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def guarded(body: Callable[[], int]) -> int:
    """Run a command's body as every entry point does: Ctrl-C exits 130; a `TrackerError` or
    an `OSError` (an unwritable folder) is one line on stderr and its exit code; a reader
    that closed our output (`... | head`) ends it quietly. Anything else is a bug and keeps
    its traceback."""
    try:
        return body()
    except KeyboardInterrupt:
        say("agent-tracker: interrupted\n")
        return EXIT_INTERRUPTED
    except TrackerError as exc:
        say(message_line(exc))
        return exc.exit_code
    except OSError as exc:
        import errno

        if exc.errno != errno.EPIPE:
            say(message_line(exc))
        return EXIT_ERROR
