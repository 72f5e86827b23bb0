"""TrackingService: the capture side (append to the journal) and the flush trigger.

The method names follow the spec's TypeScript plugin so a reader of the spec finds their
way: `track_tool_usage`, `track_command_completion`, `commit_completed` and
`record_communication_score` each append exactly one event to the journal (the write
buffer) and never open the database; `flush_write_buffer` applies the buffer in one
transaction. In a repository that opted out (`git config agent-tracker.enabled false`) they
append nothing and return None (`disabled` then says why). `commit` and `grade`, which run
git anyway, pin the repository's identity and root commit at first sight (`gitinfo.pin`).
`commit` also notes the commit's setup in a small bounded file (`note_commit`), so that
`grade` can say which setup a grade counts for without opening the database.
This module is on the hot path: standard library only, `flush` imported lazily.
"""

from __future__ import annotations

import os
import time

from agent_tracker import attribution, events, fsio, gitinfo
from agent_tracker.errors import GitError, UsageError
from agent_tracker.journal import Journal

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from agent_tracker.config import Settings
    from agent_tracker.flush import FlushResult


#: HEAD reflog messages of commits that re-apply earlier work (not counted again).
REWRITES = ("rebase", "cherry-pick", "pull --rebase")

#: What `commit` notes of each commit it records, in the journal folder, so that `grade`
#: can say which setup a grade counts for without opening the database (issue 11; read by
#: `recorded.commit_setup`): one line per commit, these fields tab-separated (tabs and line
#: breaks in them become spaces, the subject cut to `_SUBJECT_KEPT` characters), appended
#: with one `os.write` like the journal, and cut to its newest half once it passes
#: `SETUPS_MAX` bytes (a few thousand commits; ~130 bytes each). A hint, like
#: `recorded-commits`: two commits cutting it at the same instant can lose a line. A later
#: layout gets a new file name, so that an older agent-tracker never misreads it. Written
#: here, not in `recorded`: one module fewer to load on every commit.
SETUPS_FILE = "commit-setups"
SETUPS_MAX = 512 * 1024
SETUP_FIELDS = ("hash", "id", "harness", "agent", "model", "subject")
_SUBJECT_KEPT = 120


class TrackingService:
    DISABLED = "tracking is off in this repository (git config agent-tracker.enabled)"

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.environ = os.environ if environ is None else environ
        self.journal = Journal(settings.journal_folder)
        #: set when a call recorded nothing because its repository opted out
        self.disabled = False
        #: the project of the last call
        self.project: gitinfo.Project | None = None

    def _append(self, event: dict[str, Any]) -> dict[str, Any]:
        self.journal.append(events.encode(event))
        return event

    def _project(self, repo: str | None) -> tuple[gitinfo.Project, str, bool]:
        """The project, the folder to run git in, and whether git's own GIT_* variables
        apply (only for the current folder, as in a hook; never for a named --repo)."""
        honour_env = repo is None
        project = gitinfo.find_project(repo or ".", honour_env)
        self.disabled = not project.enabled
        self.project = project
        return project, project.toplevel or repo or ".", honour_env

    def _usage(
        self, kind: str, name: str, flags: attribution.Partial, repo: str | None
    ) -> dict[str, Any] | None:
        if not name.strip():
            raise UsageError(f"{kind} name must not be empty")
        setup = attribution.for_event(flags, self.environ)
        project, _, _ = self._project(repo)
        if not project.enabled:
            return None
        fields: dict[str, Any] = {"name": name.strip()}
        named = attribution.session_from_env(self.environ)
        if named is not None:
            fields["session"] = named[0]
        return self._append(events.make(kind, setup, project.identity, **fields))

    def track_tool_usage(
        self, name: str, flags: attribution.Partial, repo: str | None = None
    ) -> dict[str, Any] | None:
        """One tool call by an agent (+1 XP)."""
        return self._usage("tool", name, flags, repo)

    def track_command_completion(
        self, name: str, flags: attribution.Partial, repo: str | None = None
    ) -> dict[str, Any] | None:
        """One completed command (+2 XP)."""
        return self._usage("command", name, flags, repo)

    def commit_completed(
        self,
        flags: attribution.Partial,
        repo: str | None = None,
        rev: str = "HEAD",
        until: float | None = None,
    ) -> dict[str, Any] | None:
        """A commit (+5 XP, +1 commit), read from git and attributed to a setup.

        Returns None, recording nothing, for a commit that a rebase or cherry-pick rewrote
        from an earlier one: that work was counted when it was first committed. A commit
        made by `commit --amend` is recorded as replacing the commit it amends. Also None
        in a repository that opted out.

        `until` (the time the post-commit hook ran, when it recorded the commit in the
        background): activity in the journal after it is not the commit's.
        """
        project, where, honour_env = self._project(repo)
        if not project.enabled:
            return None
        commit = gitinfo.read_commit(where, rev, honour_env)
        if not project.pinned:
            self._first_sight(project)
        gitinfo.pin(project, where, honour_env, str(commit["hash"]))
        if project.root is not None:
            commit["root"] = project.root
        trailers = commit.pop("trailers")
        if not isinstance(trailers, dict):  # pragma: no cover - read_commit always sets it
            trailers = {}
        move = project.last_head_move(str(commit["hash"]))
        if move is not None:
            old_hash, _, message = move
            if message.startswith(REWRITES):
                return None
            if message.startswith("commit (amend)"):
                commit["replaces"] = old_hash

        from agent_tracker import instructions  # commits only: tool calls never pay for them
        from agent_tracker.sessions import SessionStore

        sessions = SessionStore(self.settings.journal_folder)
        states: dict[str, dict[str, Any]] = {}

        def session_state(session: str, harness: str | None) -> dict[str, Any] | None:
            state = sessions.find(session, harness)
            if state is not None:
                states[session] = state
            return state

        def recent() -> attribution.Activity | None:
            since = (until or time.time()) - self.settings.attribution_window
            found = self.journal.last_activity(project.identity, since, until)
            # Busy sessions elsewhere can push this project out of the journal's tail.
            return found or sessions.latest_in(project.identity, since)

        setup, source, session = attribution.for_commit(
            flags, self.environ, trailers, session_state, recent
        )
        known = (states.get(session) or sessions.find(session, setup[0])) if session else None
        if session is None or known is None:
            if session:
                commit["session"] = session
            fingerprint = instructions.of_project(where)
            if fingerprint:
                commit["instructions"] = fingerprint
            return self._note(
                self._append(
                    events.make("commit", setup, project.identity, source=source, **commit)
                )
            )
        # The session's own record: its instructions, and what it spent since its previous
        # commit; saved only once the commit event carrying that figure is in the journal.
        locked = sessions.open(str(known.get("harness", setup[0])), session)
        saved = False
        try:
            commit["session"] = session
            if locked.held:
                commit.update(_since_last_commit(locked.state, commit))
            if locked.state.get("instructions"):
                commit["instructions"] = locked.state["instructions"]
            event = self._append(
                events.make("commit", setup, project.identity, source=source, **commit)
            )
            saved = True
        finally:
            locked.close(save=saved)
        return self._note(event)

    def _note(self, commit: dict[str, Any]) -> dict[str, Any]:
        """Keep the commit's setup where `grade` finds it after a flush (`note_commit`)."""
        note_commit(self.settings.journal_folder, commit)
        return commit

    def record_communication_score(
        self,
        grade: str,
        by: str,
        flags: attribution.Partial,
        repo: str | None = None,
        rev: str = "HEAD",
        note: str | None = None,
    ) -> dict[str, Any] | None:
        """A grade (bad -1, neutral +1, good +2, excellence +5) of a commit by agent or user."""
        value = events.parse_grade(grade)
        party = by.strip().lower()
        if party not in events.PARTIES:
            raise UsageError(
                f"--by: {by!r} is not one of agent, user; see `agent-tracker grade --help`"
            )
        project, where, honour_env = self._project(repo)
        if not project.enabled:
            return None
        if project.git_dir is None:
            folder = os.path.abspath(where)  # noqa: PTH100 - str paths on the capture path
            raise GitError(
                f"{folder} is not inside a git repository: a grade is of a commit; run it in "
                "the repository or name it with --repo"
            )
        # HEAD, the usual case, is read from the repository's files: no git process.
        head = gitinfo.head_commit(project) if rev == "HEAD" else None
        commit_hash = head or gitinfo.resolve_commit(where, rev, honour_env)
        gitinfo.pin(project, where, honour_env, commit_hash)
        setup = attribution.for_event(flags, self.environ)
        fields: dict[str, Any] = {"hash": commit_hash, "by": party, "grade": value}
        if note:
            fields["note"] = note
        return self._append(events.make("grade", setup, project.identity, **fields))

    def _first_sight(self, project: gitinfo.Project) -> None:
        """Before the first pin of a repository whose `origin` was added since its tool
        calls were recorded (under the path of its main working tree, as a repository
        without `origin` is known), keep that earlier identity: pinning the new one would
        split the project and leave this commit without its session."""
        if project.common_dir is None:
            return
        path_identity = gitinfo.main_tree(project.common_dir)
        if project.identity == path_identity:
            return
        since = time.time() - self.settings.attribution_window
        if self.journal.last_activity(project.identity, since) is None and (
            self.journal.last_activity(path_identity, since) is not None
        ):
            project.identity = path_identity

    def flush_write_buffer(
        self, folder: str | None = None, merge_limit: int | None = None
    ) -> FlushResult:
        """Apply every pending event to the database in one transaction; then merge the
        per-project database an older tool left in `folder`, if any (see `flush.flush`)."""
        from agent_tracker.flush import flush

        return flush(self.settings, folder, merge_limit)


def _since_last_commit(state: dict[str, Any], commit: dict[str, Any]) -> dict[str, Any]:
    """The tokens (and cost) a session spent on `commit`: since its previous commit, or,
    for an amend of that commit, since the one before (the amended commit is replaced, so
    what it cost goes with its replacement). Updates `state`.

    First reads what the session's transcript gained since its last hook (the turn that ran
    `git commit`), so the figure is up to date; those tokens are also kept as `pending`, to
    be reported in the session's usage by its next hook event. A session whose spending is
    followed but spent nothing new records zeros: "nothing", not "not known".
    """
    from agent_tracker import harnesses, transcript

    path = state.get("transcript")
    adapter = harnesses.adapter(str(state.get("harness")))
    fmt = adapter.TRANSCRIPT_FORMAT if adapter is not None else None
    followed = "tokens" in state or (isinstance(path, str) and fmt is not None)
    spent = state.setdefault("tokens", {})
    if isinstance(path, str) and fmt:
        found = transcript.Reader().read_increment(path, state, fmt)
        pending = state.setdefault("pending", {})
        for kind, count in found["tokens"].items():
            spent[kind] = spent.get(kind, 0) + count
            pending[kind] = pending.get(kind, 0) + count
        if found["model"]:
            state["model"] = found["model"]
    if commit.get("replaces") and commit["replaces"] == state.get("last_commit"):
        before, cost_before = state.get("before_last") or {}, state.get("cost_before_last", 0.0)
    else:
        before, cost_before = state.get("at_commit") or {}, state.get("cost_at_commit", 0.0)
        state["before_last"] = dict(before)
        state["cost_before_last"] = cost_before
    tokens = {k: n - before.get(k, 0) for k, n in spent.items() if n > before.get(k, 0)}
    cost = state.get("cost", 0.0) - cost_before
    state["last_commit"] = commit.get("hash")
    state["at_commit"] = dict(spent)
    state["cost_at_commit"] = state.get("cost", 0.0)
    figures: dict[str, Any] = {}
    if tokens or followed:
        figures["tokens"] = tokens or dict.fromkeys(events.TOKEN_KINDS, 0)
    if "cost" in state:
        figures["cost"] = round(max(cost, 0.0), 6)
    return figures


def note_commit(folder: str, event: Mapping[str, Any]) -> None:
    """Add the commit `event` (just appended to the journal) to `commit-setups`. Never
    raises: the file only feeds what `grade` says."""
    fields = [str(event.get(name) or "") for name in SETUP_FIELDS]
    fields[-1] = fields[-1][:_SUBJECT_KEPT]
    line = "\t".join(" ".join(f.replace("\t", " ").splitlines()) for f in fields)
    path = os.path.join(folder, SETUPS_FILE)  # noqa: PTH118 - str paths on the capture path
    try:
        fd = fsio.open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line.encode("utf-8", "replace") + b"\n")
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size > SETUPS_MAX:
            with open(path, "rb") as handle:
                data = handle.read()
            cut = data.find(b"\n", len(data) - SETUPS_MAX // 2) + 1
            fsio.atomic_write(path, data[cut:], durable=False)
    except OSError:
        pass
