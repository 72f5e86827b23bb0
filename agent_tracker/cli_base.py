"""What the CLI modules share: output formats, option helpers, settings from the context."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agent_tracker import config

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


def opt(name: str, text: str) -> Any:
    return typer.Option(name, help=text)


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
