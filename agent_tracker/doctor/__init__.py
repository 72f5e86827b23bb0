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

The findings come from `storage` (database, journal) and `setup` (hooks, integrations, the
last events, first steps); `findings` holds the data they are made of.

Read-only: nothing is written. (Opening the database clears the reader slots of processes
killed while reading, as every agent-tracker command does; the count is reported.)
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent_tracker.config import Settings
from agent_tracker.doctor import setup, storage
from agent_tracker.doctor.findings import LEVELS, Check, Collector, Diagnosis, ago, when
from agent_tracker.errors import ConfigError

__all__ = ["LEVELS", "Check", "Diagnosis", "ago", "collect", "when"]


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
    c = Collector(settings, now, hookscripts.command_name())
    paths = _paths(c)
    usable = not any(key in settings.errors for key in _STORE_KEYS)
    state: dict[str, Any] = {"database": False, "pending": 0, "quarantined": 0}
    if usable:
        state = storage.check(c)
    repo = setup.hooks(c, folder, name_repo)
    integrations = setup.integrations(c, home, env, None if repo is None else Path(repo))
    seen = (
        setup.last_events(settings, state.get("pending_events", []), state.get("setups", []))
        if usable
        else []
    )
    fresh = usable and not (state["database"] or state["pending"] or state["quarantined"] or seen)
    setup.activity(c, seen, integrations)
    _team(c)
    if fresh:
        setup.first_steps(c, repo)
    return Diagnosis(paths, c.checks, fresh, repo, seen)


_STORE_KEYS = ("database_path", "max_database_size", "journal_dir")


def _team(c: Collector) -> None:
    """One line on the team sync, when a team server is configured (a postponed sync loses
    nothing: the next flush or `team sync` sends it)."""
    from agent_tracker.team.sync import status_line

    line = status_line(c.settings)
    if line is None:
        return
    postponed = not line.startswith("team sync: last synced")
    fix = f"{c.command} team sync" if postponed else None
    from importlib.util import find_spec

    if find_spec("psycopg") is None:  # whatever the last sync said: this is what stops it
        postponed, fix = True, "pip install 'agent-tracker[team]'  # the PostgreSQL driver"
    c.add("team", "sync", "note" if postponed else "ok", line, fix)


def _paths(c: Collector) -> dict[str, Any]:
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
