"""Which setup (harness, agent, model) an event belongs to, and how that was decided.

For `track` and `grade`: command-line flags, then environment variables, then `unknown`.
For `commit`, the full chain, first match wins, recorded as the commit's `source`:

1. `flag`     `--agent` / `--model` given on the command line
2. `env`      `AGENT_TRACKER_AGENT` / `AGENT_TRACKER_MODEL` set by the harness
3. `trailer`  `Agent:` / `Model:` / `Harness:` trailers in the commit message, or an
              agent's marker: Claude Code's `Co-authored-by: Claude ...`, Aider's
              ` (aider)` after the author's name
4. `journal`  the setup of the newest tool call or command in this project in the last
              `JOURNAL_WINDOW` seconds: from the journal, or, once a flush has emptied
              it, from what that flush remembered (`Journal.remember_setups`)
5. `unknown`

The harness comes from `--harness`, `AGENT_TRACKER_HARNESS`, the variables harnesses set in
their shells (`CLAUDECODE`, `OPENCODE`), the source that gave the agent, or the harness last
active in this project according to the journal.
"""

from __future__ import annotations

from agent_tracker.events import UNKNOWN

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

ENV_AGENT = "AGENT_TRACKER_AGENT"
ENV_MODEL = "AGENT_TRACKER_MODEL"
ENV_HARNESS = "AGENT_TRACKER_HARNESS"
#: Variables that harnesses set in the shells they start, and the harness each one means.
HARNESS_MARKERS = (("CLAUDECODE", "claude-code"), ("OPENCODE", "opencode"))
JOURNAL_WINDOW = 8 * 3600

Setup = tuple[str, str, str]


class Partial:
    """What the user or the environment said about the setup; None where nothing was said."""

    __slots__ = ("agent", "harness", "model")

    def __init__(
        self, harness: str | None = None, agent: str | None = None, model: str | None = None
    ) -> None:
        self.harness = harness or None
        self.agent = agent or None
        self.model = model or None

    def names_agent(self) -> bool:
        return self.agent is not None or self.model is not None


def harness_from_env(environ: Mapping[str, str]) -> str | None:
    if environ.get(ENV_HARNESS):
        return environ[ENV_HARNESS]
    for variable, harness in HARNESS_MARKERS:
        if environ.get(variable, "") not in ("", "0"):
            return harness
    return None


def from_env(environ: Mapping[str, str]) -> Partial:
    return Partial(harness_from_env(environ), environ.get(ENV_AGENT), environ.get(ENV_MODEL))


def _complete(first: Partial, harness: str | None) -> Setup:
    return (harness or first.harness or UNKNOWN, first.agent or UNKNOWN, first.model or UNKNOWN)


def for_event(flags: Partial, environ: Mapping[str, str]) -> Setup:
    """The setup of a tool call, command or grade: flags, then environment, then unknown."""
    env = from_env(environ)
    return (
        flags.harness or env.harness or UNKNOWN,
        flags.agent or env.agent or UNKNOWN,
        flags.model or env.model or UNKNOWN,
    )


def _text(trailers: Mapping[str, object], key: str) -> str | None:
    value = trailers.get(key)
    return value if isinstance(value, str) else None


def trailer_setup(trailers: Mapping[str, object]) -> Partial:
    harness = _text(trailers, "harness")
    partial = Partial(harness, _text(trailers, "agent"), _text(trailers, "model"))
    if partial.names_agent():
        return partial
    co_authors = trailers.get("co_authors")
    if isinstance(co_authors, list):
        for co_author in co_authors:
            if "noreply@anthropic.com" in str(co_author).lower():
                return Partial(harness or "claude-code", "claude-code", None)
    # Aider commits in the user's name with " (aider)" appended (its author marker).
    author = _text(trailers, "author") or ""
    if "(aider)" in author.lower():
        return Partial(harness or "aider", "aider", None)
    return partial


def for_commit(
    flags: Partial,
    environ: Mapping[str, str],
    trailers: Mapping[str, object],
    journal_lookup: Callable[[], Setup | None],
) -> tuple[Setup, str]:
    """(setup, source) of a commit, following the chain in the module docstring."""
    env = from_env(environ)
    harness = flags.harness or env.harness
    trailer = trailer_setup(trailers)
    for source, partial in (("flag", flags), ("env", env), ("trailer", trailer)):
        if partial.names_agent():
            if not (harness or partial.harness):
                # The harness is rarely spelled out; the one active here just before is.
                found = journal_lookup()
                harness = found[0] if found else None
            return _complete(partial, harness), source
    found = journal_lookup()
    if found is not None:
        return (harness or found[0], found[1], found[2]), "journal"
    return (harness or UNKNOWN, UNKNOWN, UNKNOWN), "unknown"
