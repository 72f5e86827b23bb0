"""`doctor`'s findings on the set-up: the git hooks of a repository, the harness
integrations (with Codex's hook trust), the last event seen per harness, and the first steps
of a set-up that has recorded nothing yet."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent_tracker import events, models
from agent_tracker.config import Settings
from agent_tracker.doctor.findings import Collector, when
from agent_tracker.errors import GitError, TrackerError


def hooks(c: Collector, folder: Path, name_repo: bool) -> str | None:
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
            f"{folder} is not in a git repository: "
            + ("give --repo a repository" if name_repo else "run doctor in one (or with --repo)")
            + " to check its hooks",
        )
        return None
    top = str(place.top) if place.top is not None else str(folder)
    repo = Path(top) if name_repo else None
    # Husky owns the whole folder: its advice holds for a hook it has no file for yet too
    # (`hooks install` refuses to write there).
    husky = next((h for h in states if h.found == "husky"), None)
    for hook in states:
        data = {"state": hook.state, "path": str(hook.path), "how": hook.how}
        if hook.state == "installed":
            c.add("hooks", hook.name, "ok", f"{hook.name}: installed, {hook.how}", **data)
            continue
        fix = hookscripts.fix_for(husky or hook, repo)
        level = "fail" if hook.state == "broken" else "warn"
        c.add("hooks", hook.name, level, f"{hook.name}: {hook.state}, {hook.how}", fix, **data)
    return top


def integrations(c: Collector, home: Path, env: Mapping[str, str], repo: Path | None) -> list[Any]:
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


def activity(c: Collector, seen: list[dict[str, Any]], integrations: list[Any]) -> None:
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


def first_steps(c: Collector, repo: str | None) -> None:
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
