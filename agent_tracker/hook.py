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

import json
import os
import sys

from agent_tracker import events, gitinfo, harnesses, instructions, models, transcript
from agent_tracker.journal import Journal
from agent_tracker.sessions import SessionStore

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import ModuleType
    from typing import Any

    from agent_tracker.config import Settings
    from agent_tracker.harnesses import Observation


def read_payload(raw: bytes) -> tuple[dict[str, Any], str | None]:
    """The payload as a dict, and a problem to report (None when it read cleanly)."""
    if not raw.strip():
        return {}, "empty payload on standard input"
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        found = harnesses.salvage(raw)
        return found, f"payload is not valid JSON ({exc}); recorded what could be read"
    if not isinstance(payload, dict):
        return {}, "payload is not a JSON object"
    return payload, None


def run(
    harness: str, raw: bytes, settings: Settings, environ: Mapping[str, str] | None = None
) -> dict[str, Any] | None:
    """Record the hook call whose payload is `raw`; returns the event appended, if any.

    Problems with the payload are written to standard error as one line; nothing is raised
    for them (the caller still catches errors of the journal itself).
    """
    adapter = harnesses.adapter(harness)
    if adapter is None:
        known = ", ".join(harnesses.MODULES)
        sys.stderr.write(f"agent-tracker: hook: unknown harness {harness!r} (known: {known})\n")
        return None
    payload, problem = read_payload(raw)
    if problem:
        sys.stderr.write(f"agent-tracker: hook {harness}: {problem}\n")
    observation = adapter.observe(payload)
    if observation is None:
        if problem and (payload.get("tool_name") or payload.get("tool")):
            observation = harnesses.Observation("tool", "unknown")
        else:
            return None
    project = gitinfo.find_project(observation.cwd or os.getcwd(), honour_env=False)
    top = project.toplevel or observation.cwd or os.getcwd()
    fingerprint = None
    if observation.session:
        fingerprint = _update_session(adapter, observation, settings, project.identity, top)
    elif observation.kind is not None:
        fingerprint = instructions.of_project(top)
    event = None
    if observation.kind is not None:
        event = _event(adapter.NAME, observation, project.identity, fingerprint, environ)
        Journal(settings.journal_folder).append(events.encode(event))
    if observation.flush:
        start_flush(settings)
    return event


def _update_session(
    adapter: ModuleType, observation: Observation, settings: Settings, project: str, top: str
) -> str | None:
    """Model, tokens and instructions through the session's state; returns the
    session's instruction fingerprint."""
    assert observation.session is not None
    store = SessionStore(settings.journal_folder)
    locked = store.open(adapter.NAME, observation.session)
    try:
        state = locked.state
        part = state
        if observation.agent_id:
            part = state.setdefault("agents", {}).setdefault(observation.agent_id, {})
        adapter.discover(observation, part, transcript.Reader())
        if observation.agent:
            part["agent"] = observation.agent
        elif part.get("agent"):
            observation.agent = part["agent"]
        state["project"] = project
        spent = state.setdefault("tokens", {})
        for kind, count in observation.tokens.items():
            spent[kind] = spent.get(kind, 0) + count
        if observation.cost:
            state["cost"] = state.get("cost", 0.0) + observation.cost
        if observation.instruction_files:
            files = state.setdefault("instruction_files", [])
            files.extend(f for f in observation.instruction_files if f not in files)
            state["instructions"] = instructions.fingerprint(files, top)
        elif "instructions" not in state:
            state["instructions"] = instructions.of_project(top)
        fingerprint: str | None = state.get("instructions")
    finally:
        locked.close()
    if observation.flush and observation.name == "end":
        store.prune()
    return fingerprint


def _event(
    harness: str,
    observation: Observation,
    project: str,
    fingerprint: str | None,
    environ: Mapping[str, str] | None,
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

    env = dict(os.environ)
    env["AGENT_TRACKER_JOURNAL_DIR"] = settings.journal_folder
    env.setdefault("AGENT_TRACKER_HOOK_TIMEOUT", "60")
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
        sys.stderr.write(f"agent-tracker: could not start a flush: {exc}\n")


def main(harness: str, settings: Settings) -> int:
    """The `hook` command: always exit 0, never print on standard output."""
    try:
        raw = sys.stdin.buffer.read()
    except (OSError, ValueError):
        raw = b""
    try:
        run(harness, raw, settings)
    except Exception as exc:  # noqa: BLE001 - a hook must never fail its harness
        sys.stderr.write(f"agent-tracker: hook {harness}: {exc}\n")
    return 0
