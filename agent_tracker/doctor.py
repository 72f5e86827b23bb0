"""`agent-tracker doctor`: everything that decides whether work is being recorded, checked in
one go and said in plain words, each problem with what fixes it.

What it looks at: the settings; the database (size against its limit, reader slots, the last
flush); the journal (pending events and the age of the oldest, quarantined lines); the git
hooks of one repository (`hookscripts.status`, fixes from `hookscripts.fix_for`); the harness
integrations at user level and in that repository (`integrate.installed`, with Codex's hook
trust); and the last event seen from each harness, with its model.

Each finding is a `Check` with a level: `ok`; `note` (worth knowing, nothing to do); `warn`
(needs the person: something is not recorded, or soon will not be); `fail` (broken now).
`Diagnosis.needs_you` counts the last two; the CLI exits 1 when it is not zero. A set-up that
has recorded nothing yet gets one "first steps" finding instead of a finding per missing
part, so that a new user reads what to do first rather than a list of errors.

Read-only: nothing is written. (Opening the database clears the reader slots of processes
killed while reading, as every agent-tracker command does; the count is reported.)
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent_tracker import events, models
from agent_tracker.config import Settings
from agent_tracker.errors import ConfigError, GitError, TrackerError
from agent_tracker.journal import Journal

#: Warn when the database's high-water mark passes this share of its limit; call it full
#: above `FULL_SHARE` (a flush then fails for want of room, keeping every event pending).
WARN_SHARE = 0.80
FULL_SHARE = 0.95
#: The largest limit the configuration accepts (config.py checks 1 MiB..2 GiB).
MAX_LIMIT = 2 * 1024**3
#: Pending events older than this mean flushes are not running (git push, session end).
STALE_PENDING = 7 * 86400
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


def size_text(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _size_setting(n: int) -> str:
    """A size as the configuration takes it, in whole units where it can be (`1GiB`)."""
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2)):
        if n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


class _Collector:
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


def collect(
    settings: Settings,
    folder: Path,
    *,
    now: float | None = None,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
    name_repo: bool = False,
) -> Diagnosis:
    """Check everything (see the module docstring) for the repository holding `folder`;
    with `name_repo`, fixes name that repository (`--repo`) as it is not the current one."""
    from agent_tracker import hookscripts

    now = time.time() if now is None else now
    home = Path.home() if home is None else home
    env = os.environ if env is None else env
    c = _Collector(settings, now, hookscripts.command_name())
    paths = _paths(c)
    usable = not any(key in settings.errors for key in _STORE_KEYS)
    state: dict[str, Any] = {"database": False, "pending": 0, "quarantined": 0}
    if usable:
        state = _store(c)
    repo = _hooks(c, folder, name_repo)
    integrations = _integrations(c, home, env, None if repo is None else Path(repo))
    seen = (
        last_events(settings, state.get("pending_events", []), state.get("setups", []))
        if usable
        else []
    )
    fresh = usable and not (state["database"] or state["pending"] or state["quarantined"] or seen)
    _activity(c, seen, integrations)
    if fresh:
        _first_steps(c, repo)
    return Diagnosis(paths, c.checks, fresh, repo, seen)


_STORE_KEYS = ("database_path", "max_database_size", "journal_dir")


def _paths(c: _Collector) -> dict[str, Any]:
    st = c.settings
    paths: dict[str, Any] = {
        "config": str(st.config_path),
        "config_exists": st.config_path.exists(),
    }
    for key, name in (("database_path", "database"), ("journal_dir", "journal")):
        try:
            paths[name] = str(st.value(key))
        except ConfigError:
            paths[name] = None
    for key, error in sorted(st.errors.items()):
        c.add(
            "settings",
            key,
            "fail",
            f"{key} is invalid: {error}",
            f"{c.command} config set {key} VALUE  # or fix {st.config_path}",
        )
    return paths


def _store(c: _Collector) -> dict[str, Any]:
    """The database and journal checks; what the others need to know of them."""
    from agent_tracker.store import LMDBDatabase

    st = c.settings
    journal = Journal(st.journal_dir)
    found: dict[str, Any] = {"database": False, "pending": 0, "quarantined": 0}
    applied = None
    db = None
    try:
        db = LMDBDatabase.open_read(st.database_path, st.max_database_size)
    except TrackerError as exc:
        c.add("database", "open", "fail", str(exc), _open_fix(str(exc), c.command))
    if db is None:
        if not any(ch.section == "database" for ch in c.checks):
            c.add(
                "database",
                "file",
                "note",
                "not created yet: the first flush creates it",
                database=str(st.database_path),
            )
    else:
        with db:
            found["database"] = True
            _database(c, db)
            applied = db.is_applied
            pending = journal.pending_count(applied)
            oldest = journal.oldest_pending(applied)
            found["pending_events"] = list(_newest_pending(journal, applied))
            found["setups"] = db.agents()
    if db is None:
        pending = journal.pending_count()
        oldest = journal.oldest_pending()
        found["pending_events"] = list(_newest_pending(journal, None))
    found["pending"] = pending
    found["quarantined"] = _journal(c, journal, pending, oldest)
    return found


def _open_fix(message: str, command: str) -> str | None:
    if "understands" in message:
        return "upgrade agent-tracker (pipx upgrade agent-tracker, or pip install -U)"
    if "reader slot" in message:
        return "close long-running agent-tracker commands, then run doctor again"
    if "damaged" in message:
        return f"{command} export --output backup.jsonl  # then restore the folder from a backup"
    return None


def _database(c: _Collector, db: Any) -> None:
    st = c.settings
    stats = db.stats()
    used, limit = stats["used_bytes"], st.max_database_size
    share = used / limit if limit else 0.0
    said = f"{size_text(used)} of {size_text(limit)} ({share * 100:.0f}%)"
    data = {"used_bytes": used, "max_database_size": limit, "entries": stats["entries"]}
    bigger = min(MAX_LIMIT, max(limit * 2, 2 * 1024**2))
    raise_it = f"{c.command} config set max_database_size {_size_setting(bigger)}"
    if limit >= MAX_LIMIT:
        raise_it = (
            f"{c.command} export --output all.jsonl, move the database folder away, then "
            f"{c.command} import all.jsonl into a new one"
        )
    if share >= FULL_SHARE:
        c.add("database", "size", "fail", f"full: {said}; flushes fail", raise_it, **data)
    elif share > WARN_SHARE:
        c.add("database", "size", "warn", f"nearly full: {said}", raise_it, **data)
    else:
        c.add("database", "size", "ok", said, **data)
    in_use, most = db.reader_slots()
    slots = {"stale_readers": db.stale_readers, "readers": in_use, "max_readers": most}
    if db.stale_readers:
        s = "s" if db.stale_readers != 1 else ""
        c.add(
            "database",
            "readers",
            "note",
            f"cleared {db.stale_readers} reader slot{s} of processes killed while reading "
            "(a harness that stops its hooks early?)",
            **slots,
        )
    else:
        c.add("database", "readers", "ok", f"{in_use} of {most} reader slots in use", **slots)
    damaged = db.set_aside_count() + len(db.damaged)
    if damaged:
        c.add(
            "database",
            "damaged",
            "note",
            f"{damaged} damaged records set aside (kept under damaged: keys, not counted)",
            damaged=damaged,
        )
    last = db.last_flush()
    if last is None:
        c.add("database", "last flush", "note", "no flush recorded yet")
    else:
        c.add("database", "last flush", "ok", when(last, c.now), at=last)


def _journal(c: _Collector, journal: Journal, pending: int, oldest: float | None) -> int:
    if not pending:
        c.add("journal", "pending", "ok", "nothing pending", pending=0)
    else:
        age = c.now - oldest if oldest is not None else 0.0
        said = f"{pending} event{'s' if pending != 1 else ''} pending"
        if oldest is not None:
            said += f", the oldest from {when(oldest, c.now)}"
        data: dict[str, Any] = {"pending": pending, "oldest": oldest}
        if age > STALE_PENDING:
            c.add(
                "journal",
                "pending",
                "warn",
                f"{said}: flushes are not running (git push and session ends run them)",
                f"{c.command} flush",
                **data,
            )
        else:
            c.add("journal", "pending", "ok", said, **data)
    files = journal.quarantine_files()
    count = journal.quarantined_count()
    if count:
        c.add(
            "journal",
            "quarantine",
            "warn",
            f"{count} journal lines could not be applied and are not counted; they are kept, "
            f"with the reason, in {journal.quarantine_dir}",
            f"read them; once done, delete {journal.quarantine_dir}",
            lines=count,
            files=[str(p) for p in files],
        )
    return count


def _newest_pending(journal: Journal, applied: Any) -> list[dict[str, Any]]:
    """The newest pending event of each harness."""
    newest: dict[str, dict[str, Any]] = {}
    for event in journal.pending_events(applied):
        harness = event.get("harness")
        if isinstance(harness, str) and (
            harness not in newest or event["ts"] >= newest[harness]["ts"]
        ):
            newest[harness] = event
    return list(newest.values())


def _hooks(c: _Collector, folder: Path, name_repo: bool) -> str | None:
    from agent_tracker import hookscripts

    try:
        states = hookscripts.status(folder)
        place = hookscripts.locate(folder)
    except TrackerError as exc:  # GitError among them
        if not isinstance(exc, GitError) or "not a git repository" not in str(exc):
            c.add("hooks", "git", "warn", str(exc))
            return None
        c.add(
            "hooks",
            "repository",
            "note",
            f"{folder} is not in a git repository: run doctor in one (or with --repo) "
            "to check its hooks",
        )
        return None
    top = str(place.top) if place.top is not None else str(folder)
    for hook in states:
        data = {"state": hook.state, "path": str(hook.path), "how": hook.how}
        if hook.state == "installed":
            c.add("hooks", hook.name, "ok", f"{hook.name}: installed, {hook.how}", **data)
            continue
        fix = hookscripts.fix_for(hook, Path(top) if name_repo else None)
        level = "fail" if hook.state == "broken" else "warn"
        c.add("hooks", hook.name, level, f"{hook.name}: {hook.state}, {hook.how}", fix, **data)
    return top


def _integrations(
    c: _Collector, home: Path, env: Mapping[str, str], repo: Path | None
) -> list[Any]:
    from agent_tracker import integrate
    from agent_tracker.integrate import codex, installed

    argv = integrate.tracker_argv()
    found = installed.check_all(argv, home, env, repo)
    if all(item.state == "missing" for item in found):
        c.add(
            "integrations",
            "harnesses",
            "note",
            "no harness connected: only commits and grades are recorded, with the setup "
            "named by trailers or the environment",
            f"{c.command} integrate claude-code  # or codex, opencode",
        )
        return found
    for item in found:
        where = f"{item.harness} ({item.scope})"
        data = item.as_dict()
        fix = f"{c.command} integrate {item.harness}" + (
            " --project" if item.scope == "project" else ""
        )
        if item.state == "missing":
            continue
        if item.state == "installed":
            c.add("integrations", where, "ok", f"{where}: installed in {item.path}", **data)
        elif item.state == "other":
            c.add("integrations", where, "note", f"{where}: {item.detail}", fix, **data)
        elif item.state == "unreadable":
            c.add("integrations", where, "warn", f"{where}: {item.detail}", **data)
        else:
            level = "fail" if item.state == "broken" else "warn"
            c.add("integrations", where, level, f"{where}: {item.detail}", fix, **data)
        if item.trust is not None and item.state in ("installed", "other", "outdated"):
            trusted = item.trust == "trusted"
            level = "ok" if trusted else ("note" if item.trust == "unknown" else "warn")
            fix_trust = (
                None if trusted else "start codex, type /hooks, trust the agent-tracker hooks"
            )
            c.add(
                "integrations",
                f"{where} trust",
                level,
                f"{where}: {item.trust_detail}",
                fix_trust,
                trust=item.trust,
            )
    if any(i.harness == codex.HARNESS and i.state != "missing" for i in found):
        for said in codex.config_notes(home, env, repo):
            c.add("integrations", "codex config", "warn", said)
    return found


def last_events(
    settings: Settings,
    pending: list[dict[str, Any]],
    setups: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Per harness, the newest of: what its hooks reported (sessions), its newest pending
    event, and (to the day: flushed tool calls are counted per day) the stored setup it
    was last active with. Each with when (`seen`, Unix time, or `day` alone), which setup,
    and which project when known."""
    from agent_tracker import status

    newest: dict[str, dict[str, Any]] = {
        seen["harness"]: seen for seen in status.last_seen_per_harness(settings)
    }
    for event in pending:
        harness = event["harness"]
        if harness == events.UNKNOWN:
            continue  # a commit or grade no harness made: not a harness's last event
        if harness not in newest or event["ts"] > newest[harness]["seen"]:
            newest[harness] = {
                "harness": harness,
                "session": event.get("session"),
                "agent": event.get("agent") or events.UNKNOWN,
                "model": models.normalise(event.get("model")) or events.UNKNOWN,
                "project": event.get("project"),
                "seen": event["ts"],
            }
    for record in setups or []:
        harness, day = record.get("harness"), record.get("last_day")
        if not isinstance(harness, str) or harness == events.UNKNOWN or not isinstance(day, str):
            continue
        known = newest.get(harness)
        known_day = known.get("day") or events.day_of(known["seen"]) if known else None
        if known is None or (known_day is not None and day > known_day):
            newest[harness] = {
                "harness": harness,
                "session": None,
                "agent": record.get("agent") or events.UNKNOWN,
                "model": models.normalise(record.get("model")) or events.UNKNOWN,
                "project": None,
                "seen": None,
                "day": day,
            }
    for item in newest.values():
        item.setdefault("day", events.day_of(item["seen"]) if item["seen"] else None)
    return sorted(newest.values(), key=lambda item: item["harness"])


def _activity(c: _Collector, seen: list[dict[str, Any]], integrations: list[Any]) -> None:
    for item in seen:
        model = item["model"]
        level = "ok" if model != events.UNKNOWN else "note"
        at = when(item["seen"], c.now) if item["seen"] else f"on {item['day']} (UTC)"
        said = f"{item['harness']}: {at}, {item['agent']} · {model}"
        if item.get("project"):
            said += f", in {item['project']}"
        if model == events.UNKNOWN:
            said += " (model unknown: the harness did not say which)"
        c.add("activity", item["harness"], level, said, **item)
    heard = {item["harness"] for item in seen}
    for item in integrations:
        if item.state == "installed" and item.harness not in heard:
            c.add(
                "activity",
                item.harness,
                "note",
                f"{item.harness}: no event seen yet (start a session to check)",
            )
            heard.add(item.harness)


def _first_steps(c: _Collector, repo: str | None) -> None:
    """For a set-up that has recorded nothing: one finding that says what to do first, in
    place of the findings of each part not set up yet."""
    hooks_missing = repo is None or any(
        ch.section == "hooks" and ch.data.get("state") == "missing" for ch in c.checks
    )
    no_harness = any(ch.section == "integrations" and ch.name == "harnesses" for ch in c.checks)
    c.checks = [
        ch
        for ch in c.checks
        if not (ch.section == "hooks" and ch.data.get("state") == "missing")
        and not (ch.section == "integrations" and ch.name == "harnesses")
        and not (ch.section == "hooks" and ch.name == "repository")
    ]
    steps = []
    if hooks_missing:
        where = "in each repository you work in" if repo is None else f"in {repo}"
        steps.append(f"{c.command} hooks install  # {where}")
    if no_harness:
        steps.append(f"{c.command} integrate claude-code  # or codex, opencode")
    if not steps:
        c.add(
            "setup",
            "first steps",
            "note",
            "set up, nothing recorded yet: make a commit or start a harness session",
        )
        return
    c.add(
        "setup",
        "first steps",
        "warn",
        "nothing recorded yet: install the git hooks (they record commits) and connect your "
        "harness (it records tool calls and the model)"
        if len(steps) == 2
        else "nothing recorded yet: "
        + (
            "install the git hooks (they record commits)"
            if hooks_missing
            else "connect your harness (it records tool calls and the model)"
        ),
        "\n".join(steps),
        steps=steps,
    )
