"""The one line a capture command says by hand on a terminal: what it recorded.

`track tool|command`, `commit` and `grade` mostly run inside git hooks and harness plugins,
where they must print nothing; run by hand on a terminal they say what they did in one line
on standard output (`capture.main` decides when). For example:

    recorded tool call edit: +1 XP for build@anthropic/claude-sonnet-4-5 (opencode)
    recorded command pytest: +2 XP for build@anthropic/claude-sonnet-4-5 (opencode)
    recorded commit 1a2b3c4 "Add login": +5 XP for build@openai/gpt-5 (codex), from --agent/--model
    graded 1a2b3c4 "Add login": good (+2) by user, for build@openai/gpt-5 (codex)

A setup is spelled as the report labels it (`agent@model (harness)`), so the line's setup is
found in the report as it reads. A grade counts for the setup that made the commit
(`applier`); this never opens the database, so `grade` learns that setup from what `commit`
noted (`recorded.commit_setup`: the bounded `commit-setups` file, then the pending
journal), and says "setup decided at flush" when neither knows the commit (recorded before
this version, or by import or migrate) or, for a commit never recorded, that its setup is
decided once it is. Standard library only, and imported only when a line is said: piped and
hooked runs never load it.
"""

from __future__ import annotations

from agent_tracker import recorded
from agent_tracker.events import GRADE_NAMES, UNKNOWN

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from agent_tracker.tracking import TrackingService

#: XP per event type, as the scoring rules give them (`totals`; a test holds them equal).
XP = {"tool": 1, "command": 2, "commit": 5}
#: How a commit's setup was decided (its `source`), in the words the line uses.
SOURCES = {
    "session": "from the harness session in its environment",
    "flag": "from --agent/--model",
    "env": "from AGENT_TRACKER_AGENT/AGENT_TRACKER_MODEL",
    "trailer": "from the commit message's trailers",
    "author": "from the commit's author",
    "recent": "from the session last active in this repository",
    "unknown": "(no flag, variable, trailer or recent session named one)",
}
SUBJECT_SHOWN = 60
SHORT_HASH = 7


def setup_text(harness: str, agent: str, model: str) -> str:
    """`agent@model (harness)` as the report labels a setup; the harness left out when
    unknown; "an unknown setup" when nothing is known."""
    if agent == model == harness == UNKNOWN:
        return "an unknown setup"
    label = f"{agent}@{model}"
    return label if harness == UNKNOWN else f"{label} ({harness})"


def subject_text(subject: str) -> str:
    subject = " ".join(subject.split())
    if len(subject) > SUBJECT_SHOWN:
        subject = subject[: SUBJECT_SHOWN - 1].rstrip() + "…"
    return f'"{subject}"' if subject else ""


def commit_text(commit_hash: str, subject: str) -> str:
    shown = subject_text(subject)
    return f"{commit_hash[:SHORT_HASH]} {shown}" if shown else commit_hash[:SHORT_HASH]


def line(
    command: str,
    event: Mapping[str, Any] | None,
    service: TrackingService,
    repo: str | None = None,
) -> str | None:
    """The line for `command`, which recorded `event` (None: nothing recorded), or None
    when there is nothing more to say (a note on stderr already said why)."""
    if event is None:
        if service.disabled and command != "grade":  # grade says so on stderr, always
            return f"nothing recorded: {service.DISABLED}"
        return None  # a rebased or cherry-picked commit: said on stderr
    setup = setup_text(str(event["harness"]), str(event["agent"]), str(event["model"]))
    kind = str(event["type"])
    if kind in ("tool", "command"):
        what = "tool call" if kind == "tool" else "command"
        return f"recorded {what} {event['name']}: +{XP[kind]} XP for {setup}"
    folder = service.settings.journal_folder
    commit_hash = str(event["hash"])
    if kind == "commit":
        return _commit_line(folder, event, setup)
    known = recorded.commit_setup(folder, commit_hash)
    subject = known["subject"] if known else _subject(service, commit_hash, repo)
    value = int(event["grade"])
    graded = (
        f"graded {commit_text(commit_hash, subject)}: "
        f"{GRADE_NAMES[value]} ({value:+d}) by {event['by']}"
    )
    if known is None:
        if recorded.is_recorded(folder, commit_hash) is False:  # said on stderr just now
            return f"{graded}; its setup is decided once the commit is recorded"
        return f"{graded}; setup decided at flush"
    return f"{graded}, for {setup_text(known['harness'], known['agent'], known['model'])}"


def _commit_line(folder: str, event: Mapping[str, Any], setup: str) -> str:
    commit_hash = str(event["hash"])
    what = commit_text(commit_hash, str(event.get("subject") or ""))
    first = recorded.commit_setup(folder, commit_hash)
    if (first is not None and first["id"] != event["id"]) or recorded.flushed(folder, commit_hash):
        earlier = (
            f" for {setup_text(first['harness'], first['agent'], first['model'])}"
            if first is not None and first["id"] != event["id"]
            else ""
        )
        return f"commit {what} was already recorded{earlier}; this record will not count"
    replaces = event.get("replaces")
    if replaces:
        what = f"{what} (replaces amended {str(replaces)[:SHORT_HASH]})"
    source = SOURCES.get(str(event.get("source")), f"from {event.get('source')}")
    joiner = " " if source.startswith("(") else ", "
    return f"recorded commit {what}: +{XP['commit']} XP for {setup}{joiner}{source}"


def _subject(service: TrackingService, commit_hash: str, repo: str | None) -> str:
    """The commit's subject from git (one call; only for a commit `commit` never noted)."""
    from agent_tracker import gitinfo
    from agent_tracker.errors import TrackerError

    project = service.project
    where = (project.toplevel if project is not None else None) or repo or "."
    try:
        shown = gitinfo.output(where, "show", "-s", "--format=%s", commit_hash, honour_env=not repo)
    except (TrackerError, OSError):
        return ""
    return shown.strip()
