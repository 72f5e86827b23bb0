"""Harness adapters: one module per harness, behind one small interface.

Each module (`claude_code`, `codex`, `opencode`) turns the JSON its harness hands a hook into
an `Observation` (what happened, in which session, folder and setup), and knows where that
harness keeps what its payloads leave out (Claude Code's model is only in its transcript;
Codex's tokens are only in its rollout file). `agent_tracker.hook` does the rest, the same for
every harness: session state, tokens, instruction fingerprint, the journal event. (Which
variables name a session in each harness's shells is `attribution`'s business.)

An adapter module provides:

- `NAME`: the harness name recorded in events (`claude-code`, `codex`, `opencode`);
- `TRANSCRIPT_FORMAT`: how `transcript` reads the harness's session file (None: it has none);
- `observe(payload) -> Observation | None`: None for hook events that record nothing;
- `discover(observation, state, reader)`: fill in the model and count new tokens from the
  harness's own files, using and updating the session's `state` (its reading position).
  `hook` then remembers agent and model per session and falls back on them.

Standard library only, imported lazily per harness: this runs in every hook call.
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

#: Harness name -> its adapter module.
MODULES = {
    "claude-code": "agent_tracker.harnesses.claude_code",
    "codex": "agent_tracker.harnesses.codex",
    "opencode": "agent_tracker.harnesses.opencode",
}
#: Programs that only prepare the shell for the one that matters (`cd repo && pytest`).
_PRELUDE = frozenset(
    {"cd", "pushd", "popd", "export", "set", "source", ".", "unset", "true", ":", "alias"}
)
#: Words that run the next word as the program (`sudo make`, `uv run pytest`).
_WRAPPERS = frozenset({"sudo", "env", "time", "nohup", "exec", "command", "nice", "timeout"})
_RUNNERS = {"uv": "run", "poetry": "run", "pipenv": "run", "pnpm": "exec", "bundle": "exec"}
_SEPARATORS = ("&&", "||", ";", "|", "\n", "&")


class Observation:
    """One hook call, normalised.

    `kind` is `tool`, `command` or `session` (None: only the session state changes);
    `name` the tool, program or session phase; `ok` False for a failed call.
    """

    __slots__ = (
        "agent",
        "agent_id",
        "cost",
        "cwd",
        "flush",
        "instruction_files",
        "kind",
        "model",
        "name",
        "ok",
        "session",
        "skip_history",
        "tokens",
        "transcript",
    )

    def __init__(self, kind: str | None, name: str, **fields: Any) -> None:
        self.kind = kind
        self.name = name
        self.session: str | None = None
        self.agent: str | None = None
        self.agent_id: str | None = None
        self.model: str | None = None
        self.cwd: str | None = None
        self.ok = True
        self.transcript: str | None = None
        self.tokens: dict[str, int] = {}
        self.cost: float = 0.0
        self.instruction_files: list[str] = []
        self.flush = False
        #: The transcript holds an earlier session's turns (a resumed session): count from
        #: its end, not its start.
        self.skip_history = False
        for key, value in fields.items():
            setattr(self, key, value)


def adapter(harness: str) -> ModuleType | None:
    """The adapter module of `harness`, or None for a harness agent-tracker does not know."""
    name = MODULES.get(harness)
    if name is None:
        return None
    # __import__ with a fromlist returns the submodule, without importing importlib itself.
    module: ModuleType = __import__(name, fromlist=["NAME"])
    return module


def text(payload: dict[str, Any], key: str, limit: int = 2000) -> str | None:
    """`payload[key]` when it is non-empty text (cut to `limit`), else None."""
    value = payload.get(key)
    if isinstance(value, str) and value.strip():
        return value[:limit]
    return None


def program_of(command: str) -> str:
    """The program a shell command line runs: `cd app && uv run pytest -q` -> `pytest`.

    The first word of the first part that is not mere preparation (`cd`, `export`, ...),
    past variable assignments, wrappers (`sudo -u bob`, `env X=1`, `timeout -s KILL 10`) and
    runners (`uv run --with x`, `npx -y`, `uvx`, `python -m`) with their options, without
    its folder.
    """
    for part in _split_parts(command[:4000]):
        words = part.split()
        _skip_assignments(words)
        while words and _name(words[0]) in _WRAPPERS:
            wrapper = _name(words.pop(0))
            _skip_options(words)
            _skip_assignments(words)
            if wrapper == "timeout" and words and words[0][:1].isdigit():
                words.pop(0)  # the duration
        if not words:
            continue
        program = _name(words[0]).strip("'\"()")
        if program in _PRELUDE or not program:
            continue
        runner = _RUNNERS.get(program)
        rest = words[1:]
        if runner is not None and rest[:1] == [runner]:
            rest = rest[1:]
        elif program in _LAUNCHERS:
            if rest[:1] == ["run"]:  # pipx run, bunx run
                rest = rest[1:]
        elif program.startswith("python") and rest[:1] == ["-m"]:
            rest = rest[1:]
        else:
            return program[:100]
        _skip_options(rest)
        return _name(rest[0])[:100] if rest else program[:100]
    return "shell"


#: Programs that run the next word as the program (`npx jest`, `uvx ruff`).
_LAUNCHERS = frozenset({"npx", "bunx", "pipx", "uvx", "pnpx"})
#: Options of wrappers and runners that take the next word as their value.
_OPTION_VALUES = frozenset(
    {
        "-u",
        "-g",
        "-s",
        "-k",
        "-n",
        "-p",
        "-C",
        "-w",
        "--with",
        "--from",
        "--python",
        "--user",
        "--group",
        "--signal",
        "--kill-after",
        "--directory",
        "--project",
        "--package",
    }
)


def _name(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def _skip_assignments(words: list[str]) -> None:
    while words and "=" in words[0] and not words[0].startswith(("=", "-")):
        words.pop(0)  # FOO=1 make


def _skip_options(words: list[str]) -> None:
    while words and words[0].startswith("-"):
        option = words.pop(0)
        if option in _OPTION_VALUES and words:
            words.pop(0)


def _split_parts(command: str) -> list[str]:
    """Split a command line at `&&`, `||`, `;`, `|`, `&` and newlines outside quotes."""
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    index = 0
    while index < len(command):
        char = command[index]
        if quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"':
                current.append(char)
                index += 1
                char = command[index] if index < len(command) else ""
            current.append(char)
            index += 1
            continue
        if char in "'\"":
            quote = char
            current.append(char)
            index += 1
            continue
        separator = next((s for s in _SEPARATORS if command.startswith(s, index)), None)
        if separator:
            parts.append("".join(current))
            current = []
            index += len(separator)
            continue
        current.append(char)
        index += 1
    parts.append("".join(current))
    return [part for part in (p.strip() for p in parts) if part]


def common_fields(payload: dict[str, Any]) -> dict[str, Any]:
    """The fields Claude Code and Codex send with every hook: session, folder, transcript,
    and the model where the payload names one."""
    return {
        "session": text(payload, "session_id", 200),
        "cwd": text(payload, "cwd", 4096),
        "transcript": text(payload, "transcript_path", 4096),
        "model": text(payload, "model", 200),
    }


def tool_call(
    payload: dict[str, Any],
    shell_tools: frozenset[str],
    command_line: str,
    ok: bool,
    common: dict[str, Any],
) -> Observation:
    """A tool call: a command named by its program for the harness's shell tools."""
    tool = text(payload, "tool_name", 200) or "unknown"
    if tool in shell_tools:
        return Observation("command", program_of(command_line), ok=ok, **common)
    return Observation("tool", tool, ok=ok, **common)


def read_payload(raw: bytes) -> tuple[dict[str, Any], str | None]:
    """The payload as a dict, and a problem to report (None when it read cleanly)."""
    import json  # here, not at the top: commits import this package for MODULES alone

    if not raw.strip():
        return {}, "empty payload on standard input"
    try:
        try:
            payload = json.loads(raw)
        except UnicodeDecodeError:
            # Bytes that are not UTF-8 (a folder name in Latin-1) read as Python reads file
            # names, so that the folder is found and `events` spells it as for any capture.
            payload = json.loads(raw.decode("utf-8", "surrogateescape"))
    except (ValueError, MemoryError, RecursionError) as exc:
        found = salvage(raw)
        reason = str(exc) or type(exc).__name__
        return found, f"payload is not valid JSON ({reason}); recorded what could be read"
    if not isinstance(payload, dict):
        return {}, "payload is not a JSON object"
    return payload, None


def salvage(raw: bytes) -> dict[str, Any]:
    """What can be read from a payload that is not valid JSON (cut short, say): the
    top-level text fields a hook needs, found by their `"key":"value"` spelling."""
    head = raw[: 1 << 16].decode("utf-8", "surrogateescape")
    found: dict[str, Any] = {}
    for key in ("hook_event_name", "session_id", "tool_name", "cwd", "model", "event", "tool"):
        marker = f'"{key}":"'
        start = head.find(marker)
        if start < 0:
            marker = f'"{key}": "'
            start = head.find(marker)
        if start < 0:
            continue
        start += len(marker)
        end = head.find('"', start)
        if end > start:
            found[key] = head[start:end]
    return found
