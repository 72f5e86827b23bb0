"""OpenCode: a plugin file, loaded when OpenCode starts, runs `<tracker> hook opencode`.

Where: `~/.config/opencode/plugins/agent-tracker.js` (under `$XDG_CONFIG_HOME` when that is
set), or with --project the repository's `.opencode/plugins/agent-tracker.js`. OpenCode loads
every `*.js`/`*.ts` file directly inside `plugins/` (opencode.ai/docs/plugins; 1.18 still also
reads the older `plugin/`, where the first hand-made agent-tracker plugin was put).

The plugin ships inside the package as `agent_tracker/integrations/opencode-plugin.js`. The
contract with it: the string literal `"@AGENT_TRACKER_COMMAND@"` (double quotes included, so
the shipped file is valid JavaScript as it is) is replaced by a JSON array of strings: the
command that runs this tracker, without `hook opencode`, e.g.
`["/home/me/.venv/bin/agent-tracker"]` or `["/usr/bin/python3", "-m", "agent_tracker"]`
(a JSON array is a JavaScript literal).

Installing writes `MARKER` as the first line, so a later install or --remove knows the file is
ours whatever version wrote it. A file without it at our path is someone else's: install moves
it to `agent-tracker.js.agent-tracker.bak` (OpenCode does not load that name) and --remove puts
it back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from agent_tracker.errors import TrackerError
from agent_tracker.integrate import base

HARNESS = "opencode"
PLACEHOLDER = '"@AGENT_TRACKER_COMMAND@"'
MARKER = "// agent-tracker-opencode-plugin"
FILE_NAME = "agent-tracker.js"
_HEADER = f"{MARKER}: installed by `agent-tracker integrate opencode` (--remove deletes it)\n"


def plugin_path(home: Path, env: Mapping[str, str], project: Path | None) -> Path:
    return _folder(home, env, project) / "plugins" / FILE_NAME


def legacy_path(home: Path, env: Mapping[str, str], project: Path | None) -> Path:
    return _folder(home, env, project) / "plugin" / FILE_NAME


def _folder(home: Path, env: Mapping[str, str], project: Path | None) -> Path:
    if project is not None:
        return project / ".opencode"
    config = env.get("XDG_CONFIG_HOME")
    return (Path(config) if config else home / ".config") / "opencode"


def template() -> str:
    """The plugin as shipped, with its placeholder."""
    shipped = resources.files("agent_tracker").joinpath("integrations", "opencode-plugin.js")
    try:
        return shipped.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TrackerError(
            "the OpenCode plugin (agent_tracker/integrations/opencode-plugin.js) is missing "
            "from this installation"
        ) from None


def render(argv: list[str], text: str | None = None) -> str:
    source = template() if text is None else text
    if PLACEHOLDER not in source:
        raise TrackerError(f"the shipped OpenCode plugin has no {PLACEHOLDER} to fill in")
    return _HEADER + source.replace(PLACEHOLDER, json.dumps(argv))


def is_ours(data: bytes) -> bool:
    return data.startswith(MARKER.encode())


def install(path: Path, text: str, *, dry_run: bool, private_parent: bool) -> base.Change:
    raw = base.read_bytes(path)
    wanted = text.encode("utf-8")
    if raw == wanted:
        return base.Change(path, base.UNCHANGED, "plugin already installed; nothing written")
    backup = base.backup_path(path)
    kept = None
    if raw is None:
        action = base.INSTALLED
        detail = base.verb(dry_run, "plugin installed", "would install the plugin")
    elif is_ours(raw):
        action = base.UPDATED
        detail = base.verb(dry_run, "plugin updated", "would update the plugin")
    elif backup.exists():
        raise TrackerError(
            f"{path} was not written by agent-tracker and {backup.name} already exists; move "
            "one of them away, then run this again"
        )
    else:
        action = base.INSTALLED
        detail = base.verb(dry_run, "plugin installed", "would install the plugin")
        kept_as = base.verb(dry_run, "is kept", "would be kept")
        detail += f"; the file that was there {kept_as} as {backup.name}"
        kept = backup
        if not dry_run:
            base.keep_backup(path, raw)
    if not dry_run:
        base.write_atomic(path, wanted, private_parent=private_parent)
    return base.Change(path, action, detail, text, kept)


def uninstall(path: Path, *, dry_run: bool) -> base.Change:
    raw = base.read_bytes(path)
    if raw is None:
        return base.Change(path, base.ABSENT, "no plugin; nothing to remove")
    if not is_ours(raw):
        return base.Change(path, base.ABSENT, "not written by agent-tracker; left alone")
    backup = base.backup_path(path)
    earlier = base.read_bytes(backup)
    if earlier is not None:
        detail = base.verb(dry_run, "plugin removed", "would remove the plugin")
        back = base.verb(dry_run, "is put back", "would be put back")
        detail += f"; the earlier file {back} from {backup.name}"
        if not dry_run:
            base.write_atomic(path, earlier)
            backup.unlink()
        return base.Change(path, base.RESTORED, detail, base.decode(backup, earlier))
    if not dry_run:
        base.delete(path)
    detail = base.verb(dry_run, "plugin deleted", "would delete the plugin")
    return base.Change(path, base.DELETED, detail)


def notes(home: Path, env: Mapping[str, str], project: Path | None) -> list[str]:
    said = []
    legacy = legacy_path(home, env, project)
    if legacy.is_file():
        said.append(
            f"{legacy} is an older agent-tracker plugin; OpenCode loads it too and it would "
            "record every tool call a second time: remove it."
        )
    said.append("OpenCode loads plugins when it starts: restart OpenCode sessions already running.")
    return said
