"""Which setup (harness, agent, model) an event belongs to, and how that was decided.

For `track` and `grade`: command-line flags, then environment variables, then `unknown`.
For `commit`, the chain below, first match wins, recorded as the commit's `source`:

1. `session`  the harness session named in the commit's environment (`AGENT_TRACKER_SESSION`,
              which the OpenCode plugin sets; `CLAUDE_CODE_SESSION_ID`; `CODEX_SESSION_ID` /
              `CODEX_THREAD_ID`) -> the setup that session's hooks recorded (of several, the
              one whose hooks reported last). A session whose hooks recorded nothing still
              names its harness; agent and model then come from flags or `AGENT_TRACKER_*`
              variables, else stay unknown.
2. `flag`     `--agent` / `--model` given on the command line
3. `env`      `AGENT_TRACKER_AGENT` / `AGENT_TRACKER_MODEL` set by the harness
4. `trailer`  `Agent:` / `Model:` / `Harness:` trailers (any case), Claude Code's
              `Co-Authored-By: Claude ... <noreply@anthropic.com>`, Aider's
              `Co-authored-by: aider (<model>)` trailer
5. `author`   an agent's author marker: Aider's ` (aider)` after the author's name; cloud
              agents by e-mail (GitHub Copilot, Cursor, Devin, OpenAI Codex, Google Jules)
6. `recent`   the most recent session active in this repository within the attribution
              window (default 2 hours, setting `attribution_window`) — the most recent one
              even when its model is unknown, never an older one with a known model
7. `unknown`

The harness, when a rule does not name it, comes from `--harness`, `AGENT_TRACKER_HARNESS`,
the variables harnesses set in their shells, or the harness of the most recent session.
"""

from __future__ import annotations

from agent_tracker import models
from agent_tracker.events import UNKNOWN

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

ENV_AGENT = "AGENT_TRACKER_AGENT"
ENV_MODEL = "AGENT_TRACKER_MODEL"
ENV_HARNESS = "AGENT_TRACKER_HARNESS"
ENV_SESSION = "AGENT_TRACKER_SESSION"
#: Variables that harnesses set in the shells they start, and the harness each one means.
HARNESS_MARKERS = (
    ("CLAUDECODE", "claude-code"),
    ("CODEX_SESSION_ID", "codex"),
    ("CODEX_THREAD_ID", "codex"),
    ("OPENCODE", "opencode"),
)
#: Variables that name the harness session a shell belongs to, and that session's harness
#: (None: the harness named by AGENT_TRACKER_HARNESS). The explicit one comes first.
SESSION_VARIABLES = (
    (ENV_SESSION, None),
    ("CLAUDE_CODE_SESSION_ID", "claude-code"),
    ("CODEX_SESSION_ID", "codex"),
    ("CODEX_THREAD_ID", "codex"),
)
#: Author e-mail fragments of cloud agents -> (harness, agent).
CLOUD_AUTHORS = (
    ("+copilot@users.noreply.github.com", ("copilot", "copilot")),
    ("cursoragent@cursor.com", ("cursor", "cursor")),
    ("+devin-ai-integration[bot]@", ("devin", "devin")),
    ("noreply@openai.com", ("codex-cloud", "codex")),
    ("google-labs-jules[bot]", ("jules", "jules")),
)
DEFAULT_WINDOW = 2 * 3600

Setup = tuple[str, str, str]
#: (setup, session id or None) of the most recent activity in a project.
Activity = tuple[Setup, str | None]


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


def sessions_from_env(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """Every (session id, harness) the environment names, the explicit one first.

    More than one when one harness runs inside another's shell (Codex started from a Claude
    Code Bash call inherits `CLAUDE_CODE_SESSION_ID`)."""
    found: list[tuple[str, str | None]] = []
    for variable, harness in SESSION_VARIABLES:
        value = environ.get(variable, "").strip()[:200]
        named = (value, harness or environ.get(ENV_HARNESS) or None)
        if value and named not in found:
            found.append(named)
    return found


def session_from_env(environ: Mapping[str, str]) -> tuple[str, str | None] | None:
    """The (session id, harness) a tool call or grade belongs to, if the environment says."""
    found = sessions_from_env(environ)
    return found[0] if found else None


def from_env(environ: Mapping[str, str]) -> Partial:
    return Partial(harness_from_env(environ), environ.get(ENV_AGENT), environ.get(ENV_MODEL))


def _model(name: str | None) -> str:
    return models.normalise(name) or UNKNOWN


def for_event(flags: Partial, environ: Mapping[str, str]) -> Setup:
    """The setup of a tool call, command or grade: flags, then environment, then unknown."""
    env = from_env(environ)
    return (
        flags.harness or env.harness or UNKNOWN,
        flags.agent or env.agent or UNKNOWN,
        _model(flags.model or env.model),
    )


def _text(trailers: Mapping[str, object], key: str) -> str | None:
    value = trailers.get(key)
    return value if isinstance(value, str) else None


def _seen(state: Mapping[str, object]) -> float:
    seen = state.get("seen")
    return float(seen) if isinstance(seen, int | float) else 0.0


def trailer_setup(trailers: Mapping[str, object]) -> Partial:
    """`Agent:`/`Model:`/`Harness:` trailers, else a co-author trailer of a known agent."""
    harness = _text(trailers, "harness")
    partial = Partial(harness, _text(trailers, "agent"), _text(trailers, "model"))
    if partial.names_agent():
        return partial
    co_authors = trailers.get("co_authors")
    for co_author in co_authors if isinstance(co_authors, list) else ():
        text = str(co_author).strip()
        lower = text.lower()
        if "noreply@anthropic.com" in lower:
            return Partial(harness or "claude-code", "main", None)
        if lower.startswith("aider") and "(" in text:
            # Aider: `Co-authored-by: aider (openai/gpt-4o) <noreply@aider.chat>`
            model = text[text.index("(") + 1 :].partition(")")[0].strip()
            return Partial(harness or "aider", "aider", model or None)
    return partial


def author_setup(trailers: Mapping[str, object]) -> Partial:
    """An agent's author marker: Aider's name suffix, or a cloud agent's e-mail."""
    author = (_text(trailers, "author") or "").lower()
    name, _, email = author.partition("<")
    if name.rstrip().endswith("(aider)"):
        return Partial("aider", "aider", None)
    for fragment, (harness, agent) in CLOUD_AUTHORS:
        if fragment in email or fragment in name:
            return Partial(harness, agent, None)
    return Partial()


def for_commit(
    flags: Partial,
    environ: Mapping[str, str],
    trailers: Mapping[str, object],
    session_state: Callable[[str, str | None], Mapping[str, object] | None],
    recent: Callable[[], Activity | None],
) -> tuple[Setup, str, str | None]:
    """(setup, source, session) of a commit, following the chain in the module docstring.

    `session_state(session, harness)` returns what that session's hooks recorded, if
    anything; `recent()` the most recent activity in this repository within the window.
    `AGENT_TRACKER_SESSION` is set on purpose for one shell and wins. Of the variables
    harnesses set (several when one harness runs inside another's shell), the session whose
    hooks reported last is the one at work; with no record at all, the first.
    """
    env = from_env(environ)
    harness = flags.harness or env.harness
    named = sessions_from_env(environ)
    if named:
        explicit = environ.get(ENV_SESSION, "").strip() != ""
        recorded = [(session_state(*pair), pair) for pair in named[:1] if explicit] or [
            (session_state(*pair), pair) for pair in named
        ]
        with_state = [(state, pair) for state, pair in recorded if state is not None]
        if with_state:
            state, (session, session_harness) = max(with_state, key=lambda item: _seen(item[0]))
            known = Partial(_text(state, "harness"), _text(state, "agent"), _text(state, "model"))
        else:
            session, session_harness = recorded[0][1]
            known = Partial(session_harness)
        setup = (
            known.harness or session_harness or harness or UNKNOWN,
            known.agent or flags.agent or env.agent or UNKNOWN,
            _model(known.model or flags.model or env.model),
        )
        return setup, "session", session
    rules = (
        ("flag", flags),
        ("env", env),
        ("trailer", trailer_setup(trailers)),
        ("author", author_setup(trailers)),
    )
    for source, partial in rules:
        if partial.names_agent():
            chosen = harness or partial.harness
            if chosen is None:
                # The harness is rarely spelled out; the one active here just before is.
                found = recent()
                chosen = found[0][0] if found else None
            setup = (chosen or UNKNOWN, partial.agent or UNKNOWN, _model(partial.model))
            return setup, source, None
    found = recent()
    if found is not None:
        found_setup, recent_session = found
        return found_setup, "recent", recent_session
    return (harness or UNKNOWN, UNKNOWN, UNKNOWN), "unknown", None
