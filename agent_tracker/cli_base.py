"""What the CLI modules share: output formats, option helpers, settings from the context,
and the conventions every command follows.

Conventions (issue 11): help names every value in words (`--since DAY`, `--top N`, `KEY`),
never a Python type (`<str>`, `<int>`); help has no line ending in spaces; a usage error is
one plain line that names the option and, when there is a list, the values it takes
(`--by: 'x' is not one of setup, agent, ...`). `Command` and `Group` carry the first two;
`usage_message` writes the third from Click's exception, whatever its wording.
"""

from __future__ import annotations

import copy
import io
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from difflib import get_close_matches
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
from typer.core import TyperCommand, TyperGroup

from agent_tracker import config
from agent_tracker.errors import printable

try:  # Typer 0.26+ carries its own copy of Click, and raises its exceptions
    from typer._click import Context, Parameter
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older Typer uses Click's own
    from click import (  # type: ignore[assignment,no-redef,import-not-found,unused-ignore]
        Context,
        Parameter,
    )
    from click import (  # type: ignore[no-redef,import-not-found,unused-ignore]
        exceptions as click_errors,
    )

if TYPE_CHECKING:
    from rich.console import Console


class Format(StrEnum):
    text = "text"
    json = "json"


FormatOpt = Annotated[Format, typer.Option("--format", help="Output format.")]
WaitOpt = Annotated[
    str | None,
    typer.Option(
        "--wait",
        metavar="SECONDS",
        help="How long to wait for another process writing the database, then say "
        '"database busy" and keep every pending event (default: $AGENT_TRACKER_LOCK_WAIT, '
        "else 2 inside a git hook and 30 by hand).",
    ),
]


def opt(name: str, text: str, metavar: str | None = None) -> Any:
    return typer.Option(name, help=text, metavar=metavar)


#: What every command that opens the database or reads the journal needs to be valid.
STORE_SETTINGS = ("database_path", "max_database_size", "journal_dir")


def settings_of(ctx: typer.Context, needs: tuple[str, ...] = STORE_SETTINGS) -> config.Settings:
    """The settings for this run: the root's flags over environment, file and defaults.

    The settings the command `needs` are checked now, so that it fails at once with one
    clear line whether or not it gets as far as using them (a flush with nothing pending
    still says that the size is invalid); the others fail only when read.
    """
    obj: dict[str, Any] = ctx.find_root().obj or {}
    settings = config.load(config_flag=obj.get("config"), flags=obj.get("flags"))
    for key in needs:
        settings.value(key)  # raises the setting's ConfigError
    return settings


@contextmanager
def waiting(wait: str | None) -> Iterator[None]:
    """Within the block, database writes wait `--wait` seconds for the writer lock."""
    from agent_tracker import writelock

    with writelock.waiting(None if wait is None else writelock.parse_wait(wait)):
        yield


def config_file_of(ctx: typer.Context) -> str:
    obj: dict[str, Any] = ctx.find_root().obj or {}
    return config.config_path(obj.get("config"))


def notes_console(fmt: Format) -> Console:
    """Where side remarks go: stdout for text, stderr when stdout carries JSON."""
    from agent_tracker import render

    return render.console(stderr=fmt is Format.json)


# -- conventions: help in words, usage errors in plain words -----------------------------------

#: Words for values whose option names none: by the type's name (Typer's Click, then Click).
_TYPE_WORDS = {"int": "N", "integer": "N", "float": "NUMBER", "path": "PATH"}


def _words(params: list[Parameter]) -> None:
    """Give every option and argument a metavar in words, and keep Typer from showing an
    argument's type (`<str>`) beside it."""
    for param in params:
        if param.param_type_name == "argument":  # its help says what it takes
            param.metavar = param.metavar or (param.name or "value").upper()
            param.type = _unnamed(param.type)
        elif getattr(param.type, "choices", None):
            # Named in a word, the values in the help: Typer's <a|b|c> folds mid-word in a
            # narrow terminal.
            param.metavar = param.metavar or max(param.opts, key=len).lstrip("-").upper()
            text = getattr(param, "help", None) or ""
            values = [str(getattr(c, "value", c)) for c in param.type.choices]  # type: ignore[attr-defined]
            if not all(re.search(rf"\b{re.escape(value)}\b", text) for value in values):
                param.help = f"{text.rstrip('.')}: {_allowed(param)}."  # type: ignore[attr-defined]
        elif param.metavar is None and not getattr(param, "is_flag", False):
            param.metavar = _TYPE_WORDS.get(param.type.name, "TEXT")
        limits = _range_words(param.type)
        if limits:  # in the help's words, not Typer's `[1<=x<=100000]`
            text = getattr(param, "help", None) or ""
            param.help = f"{text.rstrip('.')}, {limits}."  # type: ignore[attr-defined]
            param.type = _rangeless(param.type)


def _range_words(kind: Any) -> str | None:
    """ "from 1 to 100000" (or "at least 1", "at most 9") for a number range type."""
    low, high = getattr(kind, "min", None), getattr(kind, "max", None)
    if not hasattr(kind, "_describe_range") or (low is None and high is None):
        return None
    if low is not None and high is not None:
        return f"from {low} to {high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _rangeless(kind: Any) -> Any:
    """`kind` (a number range) that Typer's help does not describe a second time."""
    copied = copy.copy(kind)
    copied.__class__ = type(
        f"Rangeless{type(kind).__name__}", (type(kind),), {"_describe_range": lambda _: ""}
    )
    return copied


def _unnamed(kind: Any) -> Any:
    """`kind` (a Click parameter type) that names no metavar of its own, so that Typer's
    help shows the argument's name in words alone: it asks the type directly."""
    copied = copy.copy(kind)
    copied.__class__ = type(
        f"Unnamed{type(kind).__name__}", (type(kind),), {"get_metavar": _no_metavar}
    )
    return copied


def _no_metavar(self: Any, param: Parameter, ctx: Context | None = None) -> str:
    return ""


def _usage_pieces(command: Any, ctx: Context) -> list[str]:
    """`[OPTIONS] KEY VALUE`, `[OPTIONS] FILES...`: arguments in words, optional ones in
    brackets (Typer writes required ones as `{key}`)."""
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if param.param_type_name == "argument":
            name = (param.metavar or param.name or "").upper() + ("..." if param.nargs != 1 else "")
            pieces.append(name if param.required else f"[{name}]")
    return pieces


class _Trimmed(io.TextIOBase):
    """Standard output with the spaces at the end of each line left out (Rich pads the
    lines of Typer's help to the width); a terminal's colour codes are kept."""

    _END = re.compile(r" +((?:\x1b\[[0-9;]*m)*)$")

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner
        self.tail = ""

    def write(self, text: str) -> int:
        *lines, self.tail = (self.tail + text).split("\n")
        if lines:
            self.inner.write("".join(self._END.sub(r"\1", line) + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        self.inner.write(self.tail)
        self.tail = ""
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", None) or "utf-8"


@contextmanager
def _trimmed_stdout() -> Iterator[None]:
    inner = sys.stdout
    if inner is None:  # started without standard output (`>&-`): nothing to trim
        yield
        return
    trimmed = _Trimmed(inner)
    sys.stdout = trimmed
    try:
        yield
    finally:
        sys.stdout = inner
        trimmed.flush()


@contextmanager
def _tied(ctx: Context) -> Iterator[None]:
    """Option errors tied to the command being parsed: Click's parser raises them without,
    and the line would say neither the values taken nor where the help is."""
    try:
        yield
    except click_errors.UsageError as exc:
        if exc.ctx is None:
            exc.ctx, exc.cmd = ctx, ctx.command
        raise


class Command(TyperCommand):
    """Typer's command with its values named in words and its help unpadded."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _words(self.params)

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        with _tied(ctx):
            return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        return _usage_pieces(self, ctx)

    def format_help(self, ctx: Context, formatter: Any) -> None:
        with _trimmed_stdout():
            super().format_help(ctx, formatter)


class Group(TyperGroup):
    """Typer's group with its options named in words, its help unpadded, and an unknown
    command named with the commands there are."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _words(self.params)

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        with _tied(ctx):
            return super().parse_args(ctx, args)

    def format_help(self, ctx: Context, formatter: Any) -> None:
        with _trimmed_stdout():
            super().format_help(ctx, formatter)

    def resolve_command(self, ctx: Context, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            names = [n for n in self.list_commands(ctx) if not self.commands[n].hidden]
            near = get_close_matches(name, names, n=1)
            guess = f" (did you mean {near[0]}?)" if near else ""
            raise click_errors.UsageError(
                f"{name!r} is not a command{guess}; the commands: {', '.join(names)}", ctx
            )
        return super().resolve_command(ctx, args)


def plain_commands(app: typer.Typer) -> None:
    """Make every command of `app` and its sub-apps a `Command` (Typer has no default for
    an app's commands; groups get `Group` where their Typer is made)."""
    for info in app.registered_commands:
        if info.cls in (None, TyperCommand):  # not a class someone chose on purpose
            info.cls = Command
    for group in app.registered_groups:
        if group.typer_instance is not None:
            plain_commands(group.typer_instance)


def usage_message(exc: click_errors.ClickException) -> str:
    """Click's usage error as one plain line: what was wrong, with which option, and the
    values it takes when there is a list of them."""
    param = getattr(exc, "param", None)
    ctx = getattr(exc, "ctx", None)
    message = printable(exc.message)
    if isinstance(exc, click_errors.MissingParameter) and param is not None:
        allowed = _allowed(param)
        return f"{_hint(param)} is missing" + (f": give one of {allowed}" if allowed else "")
    if isinstance(exc, click_errors.BadParameter) and param is not None:
        return f"{_hint(param)}: {_bad_value(message, param)}"
    if isinstance(exc, click_errors.NoSuchOption):
        near = sorted(exc.possibilities or ())
        guess = f" (did you mean {' or '.join(near)}?)" if near else ""
        return f"no option {printable(exc.option_name)}{guess}"
    if isinstance(exc, click_errors.BadOptionUsage):
        option = printable(exc.option_name)
        if "requires" in message:
            param = _option(ctx, exc.option_name)
            allowed = _allowed(param) if param is not None else ""
            return f"{option} needs a value" + (f": one of {allowed}" if allowed else "")
        if "does not take a value" in message:
            return f"{option} takes no value"
    extra = re.fullmatch(r"Got unexpected extra argument\S* \((.*)\)\.?", message, re.DOTALL)
    if extra:
        return f"unexpected argument: {extra.group(1)}"
    return message[:1].lower() + message[1:].rstrip(".")


def _hint(param: Parameter) -> str:
    if param.param_type_name == "argument":
        return (param.metavar or param.name or "argument").upper()
    return max(param.opts, key=len)


def _allowed(param: Parameter) -> str:
    choices = getattr(param.type, "choices", None) or ()
    return ", ".join(str(getattr(choice, "value", choice)) for choice in choices)


def _bad_value(message: str, param: Parameter) -> str:
    """What was wrong with the value, from Click's message (which starts with its repr)."""
    value, sep, _ = message.rpartition(" is not ")
    if not sep:
        return message.rstrip(".")
    allowed = _allowed(param)
    if allowed:
        return f"{value} is not one of {allowed}"
    limits = _range_words(param.type)
    if limits and " is not in the range " in message:
        return f"{value} is not {limits}"
    if param.type.name in ("int", "integer", "int range", "integer range"):
        return f"{value} is not a whole number"
    if param.type.name == "float":
        return f"{value} is not a number"
    return message.rstrip(".")


def _option(ctx: Context | None, name: str) -> Parameter | None:
    if ctx is None:
        return None
    return next((p for p in ctx.command.params if name in p.opts), None)
