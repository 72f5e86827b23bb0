"""`agent-tracker integrate`: connect a harness to the tracker in one step.

| harness | installs | user level (default), or in the repository with --project |
|---|---|---|
| claude-code | hooks | `~/.claude/settings.json`, `<repo>/.claude/settings.json` |
| codex | hooks | `~/.codex/hooks.json`, `<repo>/.codex/hooks.json` |
| opencode | a plugin | `~/.config/opencode/plugins/agent-tracker.js`, `<repo>/.opencode/plugins/` |

(`$CLAUDE_CONFIG_DIR`, `$CODEX_HOME` and `$XDG_CONFIG_HOME` move the user-level files, as they
move the harnesses' own.) One module per harness holds its recipe; `hooks_json` merges the
JSON hook settings Claude Code and Codex share; `base` writes files.

Invariants:
- Every hook runs `<tracker> hook <harness>`, where `<tracker>` is this installation's
  `agent-tracker` console script (beside the interpreter, else on PATH, when it runs this
  interpreter), else `<python> -m agent_tracker`: absolute, shell-quoted, so the hooks work
  whatever PATH the harness passes on.
- Merging keeps everything else in the file and its order; running twice writes nothing the
  second time; the original is kept once as `<file>.agent-tracker.bak`.
- --remove takes out only what integrate added; when nothing else changed the file is back
  byte for byte, and a file that did not exist before is deleted again.
- A file that cannot be read or parsed is never written; --print (`dry_run`) writes nothing.
- Core code: no Typer, no Rich, no printing; the CLI renders `Outcome`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_tracker import gitinfo
from agent_tracker.errors import GitError, UsageError
from agent_tracker.integrate import base, claude_code, codex, hooks_json, opencode

HARNESSES = (claude_code.HARNESS, codex.HARNESS, opencode.HARNESS)
SCRIPT = "agent-tracker"


@dataclass(frozen=True)
class Outcome:
    """What `run` did (or, with dry_run, would do), as data for the CLI to render."""

    harness: str
    scope: str  # "user" or "project"
    command: str  # the hook command line, as written into the harness config
    removing: bool
    dry_run: bool
    changes: list[base.Change]
    notes: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # the hook events (none for a plugin)

    def as_dict(self) -> dict[str, Any]:
        return {
            "harness": self.harness,
            "scope": self.scope,
            "command": self.command,
            "events": self.events,
            "remove": self.removing,
            "dry_run": self.dry_run,
            "changes": [change.as_dict(with_content=self.dry_run) for change in self.changes],
            "notes": self.notes,
        }


def tracker_argv(python: str | None = None) -> list[str]:
    """The command that runs this installation of agent-tracker, as an argument list."""
    interpreter = Path(python or sys.executable).absolute()
    candidates = [interpreter.parent / SCRIPT]
    on_path = shutil.which(SCRIPT)
    if on_path:
        candidates.append(Path(on_path).absolute())
    for script in candidates:
        if _runs_with(script, interpreter):
            return [str(script)]
    return [str(interpreter), "-m", "agent_tracker"]


def _runs_with(script: Path, interpreter: Path) -> bool:
    """Whether `script` is a console script of `interpreter`'s environment: installers write
    that interpreter's full path into the script's first lines."""
    if not (script.is_file() and os.access(script, os.X_OK)):
        return False
    try:
        with script.open("rb") as handle:
            head = handle.read(1024)
    except OSError:
        return False
    return f"{interpreter.parent}{os.sep}".encode() in head


def hook_command(argv: list[str], harness: str) -> str:
    return shlex.join([*argv, "hook", harness])


def repo_root(start: Path) -> Path:
    """The top folder of the git work tree holding `start` (for --project)."""
    try:
        top = gitinfo.output(str(start), "rev-parse", "--show-toplevel", honour_env=False)
    except GitError as exc:
        if "not installed" in str(exc):
            raise
        top = ""
    if not top.strip():
        raise GitError(
            f"{start} is not inside a git repository; --project installs into a repository's "
            "harness config (leave it out to install for your user)"
        )
    return Path(top.strip())


def run(
    harness: str,
    *,
    project: Path | None = None,
    remove: bool = False,
    dry_run: bool = False,
    argv: list[str] | None = None,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Outcome:
    """Install (or with `remove`, uninstall) the integration of `harness`.

    `project` is a repository's top folder for a project-level install, None for the user's.
    """
    if harness not in HARNESSES:
        raise UsageError(f"unknown harness {harness!r}; choose one of: {', '.join(HARNESSES)}")
    argv = argv or tracker_argv()
    home = home or Path.home()
    env = os.environ if env is None else env
    command = hook_command(argv, harness)
    scope = "user" if project is None else "project"
    if harness == opencode.HARNESS:
        change, notes = _plugin(argv, home, env, project, remove=remove, dry_run=dry_run)
        events: list[str] = []
    else:
        change, notes, events = _hooks(
            harness, command, home, env, project, remove=remove, dry_run=dry_run
        )
    return Outcome(harness, scope, command, remove, dry_run, [change], notes, events)


def _plugin(
    argv: list[str],
    home: Path,
    env: Mapping[str, str],
    project: Path | None,
    *,
    remove: bool,
    dry_run: bool,
) -> tuple[base.Change, list[str]]:
    path = opencode.plugin_path(home, env, project)
    if remove:
        return opencode.uninstall(path, dry_run=dry_run), []
    text = opencode.render(argv)
    # A harness's own folder in the home folder may hold credentials: create it private.
    change = opencode.install(path, text, dry_run=dry_run, private_parent=project is None)
    return change, opencode.notes(home, env, project)


def _hooks(
    harness: str,
    command: str,
    home: Path,
    env: Mapping[str, str],
    project: Path | None,
    *,
    remove: bool,
    dry_run: bool,
) -> tuple[base.Change, list[str], list[str]]:
    if harness == claude_code.HARNESS:
        path = claude_code.settings_path(home, env, project)
    else:
        path = codex.hooks_path(home, env, project)
    if remove:
        return hooks_json.uninstall(path, harness, dry_run=dry_run), [], []
    version = claude_code.installed_version() if harness == claude_code.HARNESS else None
    specs = claude_code.specs(version) if harness == claude_code.HARNESS else codex.EVENTS
    handler = {"type": "command", "command": command, "timeout": hooks_json.TIMEOUT_SECONDS}
    change, data = hooks_json.install(
        path, specs, handler, harness, dry_run=dry_run, private_parent=project is None
    )
    if harness == claude_code.HARNESS:
        notes = claude_code.notes(path, data, version)
    else:
        notes = codex.config_notes(home, env, project) + codex.trust_notes(project)
    return change, notes, [spec.event for spec in specs]
