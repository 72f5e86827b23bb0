"""`report --team`: the personal report's method over the team server's day cells.

The server keeps one day cell per (project, member, day, setup, instructions) and sums them
over members with SQL (`server.cells`), in the very shape of a local `day:` record; its
project records come from `server.projects`. `PoolView` offers them through the `scan`
interface that `report._collect` reads, so the ranking, the groups and every output format
are the personal report's own code. Its cost grows with setups x projects x days.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from agent_tracker import report as report_mod
from agent_tracker import totals
from agent_tracker.config import Settings
from agent_tracker.errors import UsageError
from agent_tracker.team import sharing


class PoolView:
    """The server's records, read once, behind `report._View`'s `scan`."""

    def __init__(self, projects: dict[str, dict[str, Any]], cells: list[dict[str, Any]]) -> None:
        self.projects = projects
        self.cells = cells

    def scan(
        self, prefix: str, start: str | None = None, stop: str | None = None
    ) -> Iterator[tuple[str, Any]]:
        if prefix == "project:":
            for identity, record in sorted(self.projects.items()):
                yield f"project:{identity}", record
        elif prefix == "day:":  # the server already kept the days asked for
            for cell in self.cells:
                yield f"day:{cell['day']}", cell


def build(
    settings: Settings, query: report_mod.Query, folder: str | None = None
) -> report_mod.Report:
    """The report of the whole pool, or of `query.member`'s machines together (`folder`:
    as `report.build`, unused: the pool has no per-project database)."""
    from agent_tracker.team import sync

    url = sync.team_url(settings)
    sync.require_driver()
    from agent_tracker.team import server

    conn = server.connect(url)
    try:  # reads only: a missing or older schema is `team init`'s to make (exit 65)
        if query.member is not None:
            known = server.members(conn)
            if query.member not in known:
                raise UsageError(
                    f"--member: {query.member!r} has synced nothing to this team server; "
                    f"its members: {', '.join(sorted(known)) or 'none yet'}"
                )
        view = PoolView(
            server.projects(conn), server.cells(conn, query.since, query.until, query.member)
        )
    finally:
        conn.close()
    return report_mod.from_view(view, _pseudonymous(query, view.projects))


def _pseudonymous(query: report_mod.Query, projects: dict[str, dict[str, Any]]) -> report_mod.Query:
    """`--project github.com/me/app` (or a folder) finds the project the pool knows only by
    its pseudonym: the same one a sync from here gives it."""
    wanted = query.project
    if wanted is None or any(totals.project_matches(p, wanted) for p in projects):
        return query
    alias = sharing.project_as_shared(wanted.strip(), False)
    return dataclasses.replace(query, project=alias) if alias in projects else query
