"""Applying decoded journal events to a `WriteBatch`: facts and derived totals together.

Used by `flush` (in its one write transaction) and by the report (on an in-memory overlay of
the stored records, for events still pending). Derived records change through `totals`, the
same functions a rebuild from the facts (`recompute`) uses, so the two always agree.

Tool calls, commands and session events are first summed per (project, setup, day, session,
instructions), and every record is read once and written once, so a thousand updates of one
setup cost one put. A session event counts no tool call: it brings the tokens and cost the
session reported, and marks the session as active in the project (`Applier.latest`).

Commits that revert others (`reverts` on the commit fact) and amendments keep the derived
index `reverts:<project>:<hash>` in step (see `recompute` for the rules), so a reverted
commit is counted once in `reverted` whichever of the two commits is recorded first. An
amendment of a commit this database never recorded still writes its `replaced` fact.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from agent_tracker import events, facts, totals
from agent_tracker.errors import FormatError
from agent_tracker.keys import (
    agent_key,
    commit_key,
    communication_key,
    project_key,
    replaced_key,
    reverts_key,
    usage_key,
)
from agent_tracker.store import WriteBatch


def drop_empty_days(batch: WriteBatch) -> None:
    """Delete day records left with nothing in them (their grades or commit moved away), as
    a rebuild from the facts would not have them either."""
    for key, value in batch.changes().items():
        if key.startswith("day:") and value is not None and totals.is_empty_day(value):
            batch.delete(key)


class Applier:
    """Applies decoded events to a `WriteBatch`: facts and derived totals together."""

    def __init__(
        self, batch: WriteBatch, dbid: str, latest: dict[str, list[Any]] | None = None
    ) -> None:
        self.batch = batch
        self.dbid = dbid
        #: project -> [ts, harness, agent, model, session or None] of its newest tool call,
        #: command or session event (for commit attribution after the journal is emptied)
        self.latest: dict[str, list[Any]] = {} if latest is None else latest
        self.applied = 0
        self.duplicates = 0
        self.by_type: dict[str, int] = {}
        #: hashes of the commit events seen (for `recorded`), duplicates included
        self.commits: list[str] = []
        #: Usage not yet applied (see `apply`): (project, harness, agent, model, day number,
        #: session, instructions) -> [tools, commands, sessions, newest ts, extras or None].
        #: Only checked events ever make a key, so a key found here has checked setup and
        #: project fields (what lets `count` skip checking them again).
        self._counts: dict[tuple[Any, ...], list[Any]] = {}
        #: Line tails seen by `count_line` (see `events.usage_line_pattern`) -> their checked
        #: fields and, per day number, their slot in `_counts`.
        self._tails: dict[bytes, tuple[tuple[Any, ...], dict[int, list[Any]]]] = {}
        self._match: Callable[[bytes], re.Match[bytes] | None] = events.usage_line_pattern().match

    def count_line(self, line: bytes) -> bool:
        """Count a raw journal line as `apply` would count its event when it is a tool call
        or command in the form `events.encode` writes and `events.check` accepts; False,
        counting nothing, for any other line (the caller decodes it in full).

        The flush's per-event path: no event is built; the part of the line that differs
        from call to call is matched by `events.usage_line_pattern`, the rest (setup,
        project, name, session) is checked once per distinct tail by `events.usage_tail`.
        """
        found = self._match(line)
        if found is None:
            return False
        kind, number, tail = found.groups()
        ts = float(number) if b"." in number else int(number)
        if not ts < 10_000_000_000:  # events.MAX_TS: a constant costs less than a lookup
            return False
        known = self._tails.get(tail)
        if known is None:
            fields = events.usage_tail(tail)
            if fields is None:
                return False
            if len(self._tails) >= _MAX_TAILS:  # many tool names or sessions: bounded memory
                self._tails.clear()
            known = self._tails[tail] = (fields, {})
        fields, by_day = known
        day = int(ts // 86400)
        slot = by_day.get(day)
        if slot is None:
            project, harness, agent, model, session, instructions = fields
            key = (project, harness, agent, model, day, session, instructions)
            slot = self._counts.get(key)
            if slot is None:
                slot = self._counts[key] = [0, 0, 0, 0.0, None]
            by_day[day] = slot
        slot[0 if kind == b"tool" else 1] += 1
        if ts > slot[3]:  # noqa: PLR1730 - cheaper than max() per event
            slot[3] = ts
        return True

    def count(self, event: Any) -> bool:
        """Count `event` as `apply` would when it is a tool call, command or session event
        that `events.check` accepts; False, counting nothing, for anything else (the caller
        then checks it in full and applies it, or quarantines it with the reason).

        The flush's per-event path (`journal.Journal.scan`): the same checks as
        `events.check`, except that the project and setup fields are checked once per
        distinct key (a key in `_counts` was made by a checked event, and equal text is
        equally valid), the first event of a key being checked in full.
        """
        if type(event) is not dict:
            return False
        get = event.get
        kind = get("type")
        index = _SLOT.get(kind) if type(kind) is str else None
        if index is None:
            return False
        version = get("v")
        ts = get("ts")
        name = get("name")
        ident = get("id")
        if (
            type(version) is not int
            or not 0 < version <= events.EVENT_FORMAT
            or (type(ts) is not float and type(ts) is not int)
            or not 0 <= ts < events.MAX_TS
            or type(name) is not str
            or not name
            or type(ident) is not str
            or not ident
        ):
            return False
        # A tool call or command of exactly the 9 fields checked here and below has nothing
        # optional; a session event, or more fields, get `events.check`'s own checks.
        extra = len(event) > 9
        checked = extra or kind == "session"
        if checked:
            try:
                events.check(event)
            except (events.BadEvent, FormatError):
                return False
        key = (
            get("project"),
            get("harness"),
            get("agent"),
            get("model"),
            int(ts // 86400),
            get("session") if extra else None,
            get("instructions") if extra else None,
        )
        try:
            slot = self._counts.get(key)
        except TypeError:  # a list or an object where text belongs: not an event
            return False
        if slot is None:
            if not checked:
                try:
                    events.check(event)
                except (events.BadEvent, FormatError):
                    return False
            slot = self._counts[key] = [0, 0, 0, 0.0, None]
        slot[index] += 1
        if ts > slot[3]:  # noqa: PLR1730 - cheaper than max() per event
            slot[3] = ts
        if extra:
            _add_extras(slot, event, event["type"])
        return True

    def _tally(self, event: dict[str, Any], index: int) -> None:
        """Count one checked tool call (index 0), command (1) or session event (2)."""
        # A format-1 event has exactly these 9 fields: no context, tokens or failure.
        extra = len(event) > 9
        key = (
            event["project"],
            event["harness"],
            event["agent"],
            event["model"],
            int(event["ts"] // 86400),
            event.get("session") if extra else None,
            event.get("instructions") if extra else None,
        )
        slot = self._counts.get(key)
        if slot is None:
            slot = self._counts[key] = [0, 0, 0, 0.0, None]
        slot[index] += 1
        if event["ts"] > slot[3]:  # noqa: PLR1730 - cheaper than max() per event
            slot[3] = event["ts"]
        if extra:
            _add_extras(slot, event, event["type"])

    def apply(self, evts: Iterable[dict[str, Any]]) -> None:
        """Apply checked events (`events.check`) in their order, then the usage counted so
        far (by `count` too): tool calls, commands and session events are only counted per
        (project, setup, day, session, instructions) until then, so memory and puts grow
        with the distinct keys, not with the events."""
        for event in evts:
            kind = event["type"]
            if kind == "tool" or kind == "command" or kind == "session":  # noqa: PLR1714
                self._tally(event, _SLOT[kind])
            elif kind == "commit":
                self._count("commit")
                self.commits.append(event["hash"])
                self._commit(event)
            else:
                self._count("grade")
                self._grade(event)
        counts, self._counts = self._counts, {}
        self._tails.clear()  # their slots were in the counts just taken
        for (project, harness, agent, model, day_number, session, instr), slot in counts.items():
            tools, commands, sessions, newest, extras = slot
            seen = self.latest.get(project)
            if seen is None or newest > seen[0]:
                # Even with an unknown agent or model: a newer session must never be passed
                # over for an older one whose model is known (commit attribution).
                self.latest[project] = [newest, harness, agent, model, session]
            self.applied += tools + commands + sessions
            for kind, count in (("tool", tools), ("command", commands), ("session", sessions)):
                if count:
                    self._count(kind, count)
            usage: dict[str, Any] = {
                "project": project,
                "harness": harness,
                "agent": agent,
                "model": model,
                "day": events.day_of(day_number * 86400),
                "tool_calls": tools,
                "commands": commands,
            }
            if extras:
                usage.update(extras)
            if not totals.has_usage(usage):
                continue  # session events that reported no spending: nothing to count
            for name, value in (("session", session), ("instructions", instr)):
                if value is not None:
                    usage[name] = value
            self._usage(usage)

    def _count(self, kind: str, count: int = 1) -> None:
        self.by_type[kind] = self.by_type.get(kind, 0) + count

    # -- records ---------------------------------------------------------------------------

    def _setup(self, fact: dict[str, Any]) -> dict[str, Any]:
        key = agent_key(events.setup_id(fact["harness"], fact["agent"], fact["model"]))
        record = self.batch.get(key)
        if record is None:
            record = totals.setup_record(fact["harness"], fact["agent"], fact["model"])
        self.batch.set(key, record)
        return record  # type: ignore[no-any-return]

    def _project(self, project: str) -> dict[str, Any]:
        key = project_key(events.project_id(project))
        record = self.batch.get(key)
        if record is None:
            record = totals.project_record(project)
        self.batch.set(key, record)
        return record  # type: ignore[no-any-return]

    def _day(self, fact: dict[str, Any], day: str) -> dict[str, Any]:
        key, made = totals.day_of(fact, day)
        cell = self.batch.get(key)
        if cell is None:
            cell = totals.day_record(*made)
        self.batch.set(key, cell)
        return cell  # type: ignore[no-any-return]

    def _usage(self, slot: dict[str, Any]) -> None:
        pid = events.project_id(slot["project"])
        sid = events.setup_id(slot["harness"], slot["agent"], slot["model"])
        day = slot["day"]
        context = (slot.get("session"), slot.get("instructions"))
        key = usage_key(self.dbid, pid, sid, day, *context)
        fact = self.batch.get(key)
        if fact is None:
            fact = dict(slot, **dict.fromkeys(facts.USAGE_COUNTS, 0))
        totals.add_counts(fact, slot)
        self.batch.set(key, fact)
        totals.add_usage(self._setup(slot), slot, day)
        totals.add_project_usage(self._project(slot["project"]), slot, day)
        totals.add_counts(self._day(slot, day), slot)

    def _commit(self, event: dict[str, Any]) -> None:
        pid = events.project_id(event["project"])
        key = commit_key(pid, event["hash"])
        if self.batch.has(key) or self.batch.has(replaced_key(pid, event["hash"])):
            self.duplicates += 1  # recorded twice (hook and by hand), or amended since
            return
        # Fields a journal line may leave out get the values a fact must have (facts.check).
        given = {k: event[k] for k in _COMMIT_FIELDS if event.get(k) is not None}
        fact = {**_COMMIT_DEFAULTS, **given}
        fact["exts"] = event.get("exts") or {}
        _commit_context(fact, event)
        replaced = event.get("replaces")
        if (
            replaced
            and replaced != event["hash"]
            and not self.batch.has(replaced_key(pid, replaced))
        ):
            self._replace(pid, replaced, event)  # leaves the grades of both uncounted
        else:
            self._account_grades(pid, event["hash"], -1)
        self.batch.set(key, fact)
        day = events.day_of(event["ts"])
        totals.add_commit(self._setup(fact), fact, day)
        totals.add_project_commit(self._project(event["project"]), fact, day)
        totals.add_day_commit(self._day(fact, day), fact)
        # Grades applied before their commit was known count for the setup that made it.
        for party in events.PARTIES:
            grade_key = communication_key(pid, event["hash"], party)
            grade = self.batch.get(grade_key)
            if grade is not None and not _same_setup(grade, fact):
                self.batch.set(grade_key, dict(grade, **{k: fact[k] for k in _SETUP_FIELDS}))
        self._account_grades(pid, event["hash"], +1)
        self._mark_revert(pid, fact, +1)
        if self.batch.has(reverts_key(pid, event["hash"])):  # reverted before it was known
            self._count_reverted(fact, +1)
        self.applied += 1

    def _replace(self, pid: str, old_hash: str, new: dict[str, Any]) -> None:
        """An amended commit replaces the one it amends: one commit, the newest grade of
        each party carried over. The amended commit may be unknown here (recorded on
        another machine): the `replaced` fact still records the amendment, so that an
        import of that commit later does not count it again."""
        new_hash = new["hash"]
        old_key = commit_key(pid, old_hash)
        old = self.batch.get(old_key)
        self._account_grades(pid, old_hash, -1)
        self._account_grades(pid, new_hash, -1)
        for party in events.PARTIES:
            grade_key = communication_key(pid, old_hash, party)
            grade = self.batch.get(grade_key)
            if grade is not None:
                self.batch.delete(grade_key)
                new_key = communication_key(pid, new_hash, party)
                present = self.batch.get(new_key)
                if present is None or facts.newer(grade, present):
                    self.batch.set(new_key, dict(grade, hash=new_hash))
        made = old if old is not None else new
        if old is not None:
            day = events.day_of(old["ts"])
            totals.add_commit(self._setup(old), old, day, sign=-1)
            totals.add_project_commit(self._project(old["project"]), old, day, sign=-1)
            totals.add_day_commit(self._day(old, day), old, sign=-1)
            if self.batch.has(reverts_key(pid, old_hash)):
                self._count_reverted(old, -1)
            self._mark_revert(pid, old, -1)
            self.batch.delete(old_key)
        # Marks of a revert of the amended commit go to the commit that replaced it.
        marked = self.batch.get(reverts_key(pid, old_hash))
        if marked is not None:
            self.batch.delete(reverts_key(pid, old_hash))
            present = self.batch.get(reverts_key(pid, new_hash)) or {"by": []}
            by = {*marked["by"], *present["by"]}
            self.batch.set(
                reverts_key(pid, new_hash), totals.revert_record(new["project"], new_hash, by)
            )
        # A fact of its own: exported and merged like the others, so that no older copy of
        # the amended commit (another database, an older export) can bring it back.
        self.batch.set(
            replaced_key(pid, old_hash),
            {
                "project": made["project"],
                "hash": old_hash,
                "by_hash": new_hash,
                "ts": made["ts"],
                "harness": made["harness"],
                "agent": made["agent"],
                "model": made["model"],
            },
        )

    def _final(self, pid: str, commit_hash: str) -> str:
        return totals.final_hash(
            commit_hash,
            lambda h: (self.batch.get(replaced_key(pid, h)) or {}).get("by_hash"),
        )

    def _mark_revert(self, pid: str, fact: dict[str, Any], sign: int) -> None:
        """Add (+1) or remove (-1) a counted commit from the index of the commit it reverts,
        and count that commit reverted while at least one counted commit reverts it."""
        target = totals.reverts_of(fact)
        if target is None:
            return
        target = self._final(pid, target)
        if target == fact["hash"]:
            return
        key = reverts_key(pid, target)
        marked = self.batch.get(key)
        by = set() if marked is None else set(marked["by"])
        before = bool(by)
        if sign > 0:
            by.add(fact["hash"])
        else:
            by.discard(fact["hash"])
        if by:
            self.batch.set(key, totals.revert_record(fact["project"], target, by))
        elif marked is not None:
            self.batch.delete(key)
        reverted = self.batch.get(commit_key(pid, target))
        if reverted is not None and before != bool(by):
            self._count_reverted(reverted, sign)

    def _count_reverted(self, commit: dict[str, Any], sign: int) -> None:
        totals.add_reverted(self._setup(commit), sign)
        totals.add_reverted(self._day(commit, events.day_of(commit["ts"])), sign)

    def _grade(self, event: dict[str, Any]) -> None:
        pid = events.project_id(event["project"])
        # A grade of a commit since amended is a grade of the commit that replaced it (as
        # `_replace` moves the grades it already had).
        commit_hash = self._final(pid, event["hash"])
        key = communication_key(pid, commit_hash, event["by"])
        old = self.batch.get(key)
        if old is not None and old["ts"] > event["ts"]:
            # An older grade arriving late never replaces a newer one; of two at the same
            # time, the one appended last wins (as it would in a rebuild: one fact per key).
            self.duplicates += 1
            return
        # The grade counts for the setup that made the commit, when the commit is known.
        made_by = self.batch.get(commit_key(pid, commit_hash)) or event
        fact = {k: event.get(k) for k in _GRADE_FIELDS}
        fact.update({k: made_by[k] for k in _SETUP_FIELDS}, hash=commit_hash)
        self._account_grades(pid, commit_hash, -1)
        self.batch.set(key, fact)
        self._account_grades(pid, commit_hash, +1)
        self.applied += 1

    def _account_grades(self, pid: str, commit_hash: str, sign: int) -> None:
        """Add (+1) or remove (-1) all grades of one commit from the setups they count for.

        Called with -1 before a change to the commit or its grades and +1 after it, so the
        day and setup they counted on are always worked out from the same state.
        """
        grades = [
            grade
            for party in events.PARTIES
            if (grade := self.batch.get(communication_key(pid, commit_hash, party))) is not None
        ]
        if not grades:
            return
        commit = self.batch.get(commit_key(pid, commit_hash))
        on = totals.grade_day(commit, grades)
        for made, values in totals.grades_by_setup(commit, grades):  # as in a rebuild
            totals.add_commit_grades(self._setup(made), values, sign)
            totals.add_day_grades(self._day(made, on), values, sign)


_SETUP_FIELDS = ("harness", "agent", "model")
#: Where a usage event is counted in its slot (see `Applier._counts`).
_SLOT = {"tool": 0, "command": 1, "session": 2}
#: At most this many line tails are kept by `Applier.count_line` (a few MiB).
_MAX_TAILS = 20_000
_TOKEN_COUNTS = facts.TOKEN_COUNTS
_COMMIT_FIELDS = (
    "id",
    "ts",
    "project",
    "hash",
    *_SETUP_FIELDS,
    "source",
    "subject",
    "author_time",
    "files",
    "insertions",
    "deletions",
)
_COMMIT_DEFAULTS = {
    "source": events.UNKNOWN,
    "subject": "",
    "author_time": 0,
    "files": 0,
    "insertions": 0,
    "deletions": 0,
}
_GRADE_FIELDS = ("id", "ts", "project", "hash", "by", "grade", "note")


def _add_extras(slot: list[Any], event: dict[str, Any], kind: str) -> None:
    """Failures, tokens and cost of one (checked) event, summed into its slot's extras."""
    extras: dict[str, int] | None = slot[4]
    if extras is None:
        extras = slot[4] = {}
    if event.get("ok") is False and kind != "session":
        extras["failures"] = extras.get("failures", 0) + 1
    tokens = event.get("tokens")
    if tokens:
        for kind_of_token, count in tokens.items():
            name = _TOKEN_COUNTS.get(kind_of_token)
            if name is not None and type(count) is int:
                extras[name] = extras.get(name, 0) + count
    cost = event.get("cost")
    if cost:
        micros = facts.cost_micros(cost)
        if micros:
            extras["cost_micros"] = extras.get("cost_micros", 0) + micros


def _commit_context(fact: dict[str, Any], event: dict[str, Any]) -> None:
    """What a commit fact keeps of its session: which one, its instructions, and what it
    spent since its previous commit (informational: never added to the usage totals)."""
    for key in facts.CONTEXT:
        if event.get(key) is not None:
            fact[key] = event[key]
    if type(event.get("tokens")) is dict:
        fact["tokens"] = facts.token_counts(event["tokens"])
    micros = facts.cost_micros(event.get("cost"))
    if micros is not None:
        fact["cost_micros"] = micros
    if event.get("reverts"):
        fact["reverts"] = event["reverts"]
    if event.get("root"):
        fact["root"] = event["root"]


def _same_setup(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a[k] == b[k] for k in _SETUP_FIELDS)
