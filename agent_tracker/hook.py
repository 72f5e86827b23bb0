"""`agent-tracker hook HARNESS`: record one harness hook call from its JSON payload.

The contract with the harness: read the payload from standard input (however large), print
nothing on standard output, exit 0 whatever happens, finish fast. A payload that cannot be
read gives one line on standard error and is recorded with what could be read of it.

For each call: the harness's adapter (`harnesses/`) says what happened; under the session's
lock (`sessions`), the adapter fills in the model and counts the tokens its harness files
gained since the last call, and the session remembers its setup and the fingerprint of its
instruction files; then one event is appended to the journal. Session-end hooks start a
flush in a detached process and return at once: harnesses give such hooks about a second,
and a flush that is cut short there is simply finished by the next one (pre-push, say).

Standard library only, no Typer, Rich or LMDB: this runs in every agent tool call.
"""

from __future__ import annotations

import os
import sys

from agent_tracker import events, gitinfo, harnesses, models, transcript
from agent_tracker.journal import Journal
from agent_tracker.sessions import SessionStore

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

    from agent_tracker.config import Settings
    from agent_tracker.harnesses import Observation


#: `AGENT_TRACKER_AUTO_FLUSH=0` leaves flushing to the pre-push hook and to people.
ENV_AUTO_FLUSH = "AGENT_TRACKER_AUTO_FLUSH"


def say(message: str) -> None:
    """One line on standard error, best effort: a closed or broken stderr is no failure."""
    try:  # a message may quote undecodable input: never let it fail the write
        sys.stderr.write(f"agent-tracker: {events.clean_text(message)}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def run(harness: str, raw: bytes, settings: Settings) -> dict[str, Any] | None:
    """Record the hook call whose payload is `raw`; returns the event appended, if any.

    Problems with the payload are written to standard error as one line; nothing is raised
    for them (the caller still catches errors of the journal itself).
    """
    adapter = harnesses.adapter(harness)
    if adapter is None:
        say(f"hook: unknown harness {harness!r} (known: {', '.join(harnesses.MODULES)})")
        return None
    payload, problem = harnesses.read_payload(raw)
    if problem:
        say(f"hook {harness}: {problem}")
    observation = adapter.observe(payload)
    if observation is None:
        if problem and (payload.get("tool_name") or payload.get("tool")):
            observation = harnesses.Observation("tool", "unknown")
        else:
            return None
    folder = observation.cwd or os.getcwd()
    project = gitinfo.find_project(folder, honour_env=False)
    if not project.enabled:  # git config agent-tracker.enabled false: record nothing
        return None
    top = project.toplevel or folder
    journal = Journal(settings.journal_folder)
    if observation.session:
        event = _record_in_session(adapter, observation, settings, project.identity, top)
    else:
        event = None
        if observation.kind is not None:
            from agent_tracker import instructions

            fingerprint = instructions.of_project(top)
            event = _event(adapter.NAME, observation, project.identity, fingerprint)
            journal.append(events.encode(event))
    if observation.flush and os.environ.get(ENV_AUTO_FLUSH, "1") != "0":
        start_flush(settings)
    return event


def _record_in_session(
    adapter: ModuleType, observation: Observation, settings: Settings, project: str, top: str
) -> dict[str, Any] | None:
    """Model, tokens and instructions through the session's state, and the event appended
    while the session is locked: the state (how far the transcript was read) is saved only
    once the event carrying those tokens is in the journal, so they are counted once."""
    assert observation.session is not None
    store = SessionStore(settings.journal_folder)
    locked = store.open(adapter.NAME, observation.session)
    saved = False
    try:
        state = locked.state
        part = state
        if observation.agent_id:
            part = state.setdefault("agents", {}).setdefault(observation.agent_id, {})
        adapter.discover(observation, part, transcript.Reader())
        if not locked.held:
            observation.tokens = {}  # without the state, new tokens cannot be told from old
        for key in ("agent", "model"):  # remembered for later calls and for commits
            value = getattr(observation, key)
            if value:
                part[key] = value
            elif part.get(key):
                setattr(observation, key, part[key])
        if observation.transcript and not observation.agent_id:
            state["transcript"] = observation.transcript  # for `commit` (see tracking)
        state["project"] = project
        spent = state.setdefault("tokens", {})
        for kind, count in observation.tokens.items():
            spent[kind] = spent.get(kind, 0) + count
        if observation.kind is not None:
            # Tokens a commit read from the transcript are reported with the next event.
            for kind, count in (state.pop("pending", None) or {}).items():
                observation.tokens[kind] = observation.tokens.get(kind, 0) + count
        if observation.cost:
            state["cost"] = state.get("cost", 0.0) + observation.cost
        if observation.instruction_files or "instructions" not in state:
            state["instructions"] = _fingerprint(state, observation.instruction_files, top)
        event = None
        if observation.kind is not None:
            event = _event(adapter.NAME, observation, project, state.get("instructions"))
            Journal(settings.journal_folder).append(events.encode(event))
        saved = True
    finally:
        locked.close(save=saved)
    if observation.flush and observation.name == "end":
        store.prune()
    return event


def _fingerprint(state: dict[str, Any], loaded: list[str], top: str) -> str | None:
    """The session's instruction fingerprint: the files the harness said it loaded, once it
    says so; until then the project's. Worked out once per session, not per call."""
    from agent_tracker import instructions

    if not loaded:
        return instructions.of_project(top)
    files = state.setdefault("instruction_files", [])
    files.extend(f for f in loaded if f not in files)
    return instructions.fingerprint(files, top)


def _event(
    harness: str, observation: Observation, project: str, fingerprint: str | None
) -> dict[str, Any]:
    setup = (
        harness,
        observation.agent or events.UNKNOWN,
        models.normalise(observation.model) or events.UNKNOWN,
    )
    fields: dict[str, Any] = {"name": observation.name}
    if not observation.ok:
        fields["ok"] = False
    if observation.session:
        fields["session"] = observation.session
    if fingerprint:
        fields["instructions"] = fingerprint
    if observation.tokens:
        fields["tokens"] = observation.tokens
    if observation.cost:
        fields["cost"] = round(observation.cost, 6)
    assert observation.kind is not None
    return events.make(observation.kind, setup, project, **fields)


def start_flush(settings: Settings) -> None:
    """Start `agent-tracker flush` in its own session, detached, and return at once."""
    import subprocess

    from agent_tracker.entry import HOOK_BOUND

    env = dict(os.environ)
    env["AGENT_TRACKER_JOURNAL_DIR"] = settings.journal_folder
    env.setdefault("AGENT_TRACKER_HOOK_TIMEOUT", "60")
    env.setdefault(HOOK_BOUND, env["AGENT_TRACKER_HOOK_TIMEOUT"])  # see entry
    try:
        subprocess.Popen(
            # -P: never import a module named agent_tracker from the project folder
            [
                sys.executable,
                "-P",
                "-m",
                "agent_tracker",
                "--database-path",
                settings.database_file,
                "flush",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            env=env,
        )
    except OSError as exc:
        say(f"could not start a flush: {exc}")


#: A hook still running after this many seconds ends itself, quietly and with status 0,
#: before the harness's own timeout (10 s as `integrate` installs it) reports it as failed.
DEADLINE = 8


def _give_up(signum: int, frame: object) -> None:
    os._exit(0)


def main(harness: str, settings: Settings) -> int:
    """The `hook` command: exit 0 whatever happens, never print on standard output."""
    import signal

    signal.signal(signal.SIGALRM, _give_up)
    signal.alarm(DEADLINE)
    try:
        stream = getattr(sys.stdin, "buffer", None)
        raw = stream.read() if stream is not None else b""
        run(harness, raw, settings)
    except BaseException as exc:  # noqa: BLE001 - a hook must never fail its harness
        say(f"hook {harness}: {str(exc) or type(exc).__name__}")
    finally:
        signal.alarm(0)
    return 0
