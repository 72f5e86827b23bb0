"""Codex CLI: hooks in a `hooks.json` beside its config run `<tracker> hook codex`.

Where: `~/.codex/hooks.json` (`$CODEX_HOME/hooks.json` when that is set), or with --project the
repository's `.codex/hooks.json`. Codex discovers a `hooks.json` next to each config layer and
also reads inline `[hooks]` tables of `config.toml` (developers.openai.com/codex/hooks); a file
of its own leaves the person's `config.toml`, its comments and its layout untouched. The JSON
shape is Claude Code's. Events: SessionStart, PostToolUse (matcher "*"), Stop, SessionEnd.

Trust: Codex runs a hook that is not managed by policy only once the person has trusted its
exact definition, in the `/hooks` screen of the Codex terminal interface; it stores the hash
of what it trusted in `config.toml`, so a changed hook (a new install path, say) waits for
trust again, and an untrusted hook is skipped without a word. Project hooks also need the
project itself trusted. `--dangerously-bypass-hook-trust` runs hooks unreviewed for one run.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from agent_tracker.integrate.hooks_json import HookSpec

HARNESS = "codex"
EVENTS = [
    HookSpec("SessionStart", None),
    HookSpec("PostToolUse", "*"),
    HookSpec("Stop", None),
    HookSpec("SessionEnd", None),
]


def codex_home(home: Path, env: Mapping[str, str]) -> Path:
    folder = env.get("CODEX_HOME")
    return Path(folder).expanduser() if folder else home / ".codex"


def hooks_path(home: Path, env: Mapping[str, str], project: Path | None) -> Path:
    if project is not None:
        return project / ".codex" / "hooks.json"
    return codex_home(home, env) / "hooks.json"


def trust_notes(project: Path | None) -> list[str]:
    said = [
        "Codex runs these hooks only once you trust them; until then it skips them silently:",
        "  start `codex`, type /hooks, review the agent-tracker hooks and trust them.",
        "  Trust them again whenever integrate changes them (a new install path, say).",
        "  For one unattended run instead: codex exec --dangerously-bypass-hook-trust ...",
    ]
    if project is not None:
        said += [
            "  Codex reads a project's .codex/hooks.json only in a trusted project: trust the",
            f'  folder when Codex asks, or set [projects."{project}"] trust_level = "trusted"',
            "  in ~/.codex/config.toml.",
        ]
    return said


def config_notes(home: Path, env: Mapping[str, str], project: Path | None) -> list[str]:
    """What in Codex's own config.toml would stop or confuse our hooks."""
    said = []
    configs = [codex_home(home, env) / "config.toml"]
    if project is not None:
        configs.append(project / ".codex" / "config.toml")
    for config in configs:
        try:
            data = tomllib.loads(config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue  # Codex's file, not ours to judge: it will say what is wrong with it
        features = data.get("features")
        if isinstance(features, dict) and False in (
            features.get("hooks"),
            features.get("codex_hooks"),
        ):
            said.append(
                f"{config} turns hooks off ([features] hooks = false): Codex runs none until "
                "that line goes."
            )
        hooks = data.get("hooks")
        if isinstance(hooks, dict) and any(key != "state" for key in hooks):
            said.append(
                f"{config} also has [hooks] tables: Codex runs both and warns that one "
                "layer has two kinds of hook config; you may move yours into hooks.json."
            )
    return said
