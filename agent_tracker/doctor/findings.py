"""What `doctor` finds, as data: `Check`, `Diagnosis`, and the small helpers that word
times and sizes. No terminal code: the CLI renders these."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from agent_tracker.config import Settings

LEVELS = ("ok", "note", "warn", "fail")


@dataclass
class Check:
    section: str
    name: str
    level: str  # one of LEVELS
    message: str
    fix: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Diagnosis:
    paths: dict[str, Any]
    checks: list[Check]
    #: Nothing recorded yet: no database, nothing pending, no harness session seen.
    fresh: bool
    #: The repository whose hooks were checked (None: not in one).
    repo: str | None
    #: Per harness, the newest event seen (see `last_events`).
    last_seen: list[dict[str, Any]] = field(default_factory=list)

    @property
    def needs_you(self) -> int:
        return sum(1 for check in self.checks if check.level in ("warn", "fail"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.needs_you == 0,
            "needs_you": self.needs_you,
            "fresh": self.fresh,
            "repo": self.repo,
            "paths": self.paths,
            "checks": [asdict(check) for check in self.checks],
            "last_seen": self.last_seen,
        }


def ago(seconds: float) -> str:
    """A duration in words, for "... ago"."""
    seconds = max(0, int(seconds))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def when(ts: float, now: float) -> str:
    """Local time and how long ago, e.g. `2026-11-30 22:01 (5 minutes ago)`."""
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))
    return f"{stamp} ({ago(now - ts)})"


def size_setting(n: int) -> str:
    """A size as the configuration takes it, in whole units where it can be (`1GiB`)."""
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2)):
        if n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


class Collector:
    def __init__(self, settings: Settings, now: float, command: str) -> None:
        self.settings = settings
        self.now = now
        self.command = command  # how to spell agent-tracker in a fix
        self.checks: list[Check] = []

    def add(self, section: str, name: str, level: str, message: str, fix: str | None = None,
            **data: Any) -> Check:  # fmt: skip
        check = Check(section, name, level, message, fix, data)
        self.checks.append(check)
        return check
