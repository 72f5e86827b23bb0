"""Our hooks in a harness's JSON hook settings: Claude Code's `settings.json` and Codex's
`hooks.json`, which share one shape:

    {"hooks": {"<Event>": [{"matcher": "*", "hooks": [{"type": "command", "command": "...",
                                                       "timeout": 10}]}]}}

Invariants:
- A handler is ours when its command ends with `hook <harness>` and names agent-tracker
  (`agent-tracker` or `agent_tracker`): an install from another interpreter path is ours too,
  and is replaced, never duplicated. Everything else is the person's and is never changed.
- Installing keeps every other key, hook and group, in their order; our group goes at the end
  of each event's list. When each event already holds exactly our handler, nothing is written.
- A file that is not valid JSON, has a key twice, or whose `hooks` is not an object is refused.
- Removing puts the original bytes back (from the backup) when the file, without our hooks,
  means what the original meant; deletes the file when there was none before and nothing else
  was added; otherwise it takes out our handlers only and keeps the rest.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_tracker.errors import TrackerError
from agent_tracker.integrate import base

TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class HookSpec:
    event: str
    matcher: str | None  # None: the event takes no matcher, or ours matches everything


class _DuplicateKeyError(ValueError):
    pass


class NotAListError(ValueError):
    """An event we install into holds something other than a list of groups."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads would keep the last of two equal keys: writing that back loses the first.
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise _DuplicateKeyError(key)
        data[key] = value
    return data


def parse(path: Path, text: str) -> dict[str, Any]:
    """The settings as data; refuses what we could not write back without losing anything."""
    if not text.strip():
        return {}
    nothing = "fix it or move it away (nothing was written)"
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKeyError as exc:
        raise TrackerError(f"{path} has the key {exc} twice; {nothing}") from None
    except json.JSONDecodeError as exc:
        raise TrackerError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            f"{nothing}"
        ) from None
    if not isinstance(data, dict):
        raise TrackerError(f"{path} does not hold a JSON object; {nothing}")
    if not isinstance(data.get("hooks", {}), dict):
        raise TrackerError(f'{path}: "hooks" is not an object; {nothing}')
    return data


def dump(data: dict[str, Any], like: str | None) -> str:
    """JSON text in the style of the file it replaces (its indent), ending with a newline."""
    return json.dumps(data, indent=_indent_of(like), ensure_ascii=False) + "\n"


def _indent_of(text: str | None) -> str:
    for line in (text or "").splitlines()[1:]:
        body = line.lstrip(" \t")
        if body and len(body) < len(line):
            return line[: len(line) - len(body)]
    return "  "


def is_ours(handler: object, harness: str) -> bool:
    if not isinstance(handler, dict):
        return False
    command = handler.get("command")
    if not isinstance(command, str):
        return False
    words = command.split()
    named = "agent-tracker" in command or "agent_tracker" in command
    return named and len(words) >= 3 and words[-2:] == ["hook", harness]


def _handlers(group: object) -> list[Any] | None:
    handlers = group.get("hooks") if isinstance(group, dict) else None
    return handlers if isinstance(handlers, list) else None


def _strip(groups: list[Any], harness: str) -> tuple[list[Any], bool]:
    """The groups without our handlers (a group left empty by that goes too)."""
    kept: list[Any] = []
    found = False
    for group in groups:
        handlers = _handlers(group)
        if handlers is None or not any(is_ours(h, harness) for h in handlers):
            kept.append(group)
            continue
        found = True
        others = [h for h in handlers if not is_ours(h, harness)]
        if others:
            kept.append({**group, "hooks": others})
    return kept, found


def remove_ours(data: dict[str, Any], harness: str) -> tuple[dict[str, Any], bool]:
    """A copy without our handlers (events and `hooks` emptied by that go too), and whether
    there was any."""
    new = copy.deepcopy(data)
    hooks = new.get("hooks")
    if not isinstance(hooks, dict):
        return new, False
    found_any = False
    for event in list(hooks):
        groups = hooks[event]
        if not isinstance(groups, list):
            continue
        kept, found = _strip(groups, harness)
        if found:
            found_any = True
            if kept:
                hooks[event] = kept
            else:
                del hooks[event]
    if found_any and not hooks:
        del new["hooks"]
    return new, found_any


def _canonical(data: dict[str, Any], harness: str) -> dict[str, Any]:
    """What the settings mean apart from our hooks: empty event lists and an empty `hooks`
    object mean nothing, so `{"hooks": {}}` and `{}` compare equal."""
    new, _ = remove_ours(data, harness)
    hooks = new.get("hooks")
    if isinstance(hooks, dict):
        for event in [e for e, groups in hooks.items() if groups == []]:
            del hooks[event]
        if not hooks:
            del new["hooks"]
    return new


def _group(spec: HookSpec, handler: dict[str, Any]) -> dict[str, Any]:
    if spec.matcher is None:
        return {"hooks": [handler]}
    return {"matcher": spec.matcher, "hooks": [handler]}


def _is_current(groups: list[Any], spec: HookSpec, handler: dict[str, Any], harness: str) -> bool:
    ours = [(group, h) for group in groups for h in (_handlers(group) or []) if is_ours(h, harness)]
    if len(ours) != 1:
        return False
    group, found = ours[0]
    return bool(found == handler and group.get("matcher") == spec.matcher)


def merge(
    data: dict[str, Any], specs: list[HookSpec], handler: dict[str, Any], harness: str
) -> dict[str, Any]:
    """A copy of the settings with exactly one handler of ours per event in `specs`, and none
    in other events (left by an older install)."""
    new = copy.deepcopy(data)
    hooks = new.setdefault("hooks", {})
    for spec in specs:
        groups = hooks.get(spec.event, [])
        if not isinstance(groups, list):
            raise NotAListError(spec.event)
        if not _is_current(groups, spec, handler, harness):
            kept, _ = _strip(groups, harness)
            hooks[spec.event] = [*kept, _group(spec, handler)]
    wanted = {spec.event for spec in specs}
    for event in [e for e in hooks if e not in wanted and isinstance(hooks[e], list)]:
        kept, found = _strip(hooks[event], harness)
        if found:
            if kept:
                hooks[event] = kept
            else:
                del hooks[event]
    return new


def install(
    path: Path,
    specs: list[HookSpec],
    handler: dict[str, Any],
    harness: str,
    *,
    dry_run: bool,
    private_parent: bool,
) -> tuple[base.Change, dict[str, Any]]:
    """Merge our hooks into the file; returns the change and the settings as they end up."""
    raw = base.read_bytes(path)
    text = None if raw is None else base.decode(path, raw)
    data = parse(path, text or "")
    try:
        new = merge(data, specs, handler, harness)
    except NotAListError as exc:
        raise TrackerError(
            f'{path}: "hooks"."{exc}" is not a list; fix it or move it away (nothing was written)'
        ) from None
    hooks = f"{len(specs)} hooks"
    if raw is not None and new == data:
        detail = f"{hooks} already installed; nothing written"
        return base.Change(path, base.UNCHANGED, detail), data
    _, had_ours = remove_ours(data, harness)
    content = dump(new, text)
    backup = None
    if raw is not None and not had_ours:
        backup = base.backup_path(path)
    action = base.UPDATED if had_ours else base.INSTALLED
    what = base.verb(dry_run, action, f"would be {action}")
    detail = f"{hooks} {what}"
    if backup is not None and backup.exists():
        detail += f"; the backup {backup.name} of an earlier install is kept as it is"
    elif backup is not None:
        detail += f"; original {base.verb(dry_run, 'kept', 'would be kept')} as {backup.name}"
    if not dry_run:
        if raw is not None and not had_ours:
            base.keep_backup(path, raw)
        base.write_atomic(path, content.encode("utf-8"), private_parent=private_parent)
    return base.Change(path, action, detail, content, backup), new


def uninstall(path: Path, harness: str, *, dry_run: bool) -> base.Change:
    """Take our hooks out; the original comes back byte for byte when nothing else changed."""
    raw = base.read_bytes(path)
    if raw is None:
        return base.Change(path, base.ABSENT, "no file; nothing to remove")
    text = base.decode(path, raw)
    data = parse(path, text)
    stripped, had_ours = remove_ours(data, harness)
    if not had_ours:
        return base.Change(path, base.ABSENT, "no agent-tracker hooks; left alone")
    backup = base.backup_path(path)
    original = base.read_bytes(backup)
    if original is not None:
        before = parse(backup, base.decode(backup, original))
        _, backup_has_ours = remove_ours(before, harness)
        if not backup_has_ours and _canonical(before, harness) == _canonical(data, harness):
            detail = base.verb(dry_run, "restored", "would be restored") + " from " + backup.name
            if not dry_run:
                base.write_atomic(path, original)
                backup.unlink()
            return base.Change(path, base.RESTORED, detail, base.decode(backup, original))
    if original is None and _canonical(data, harness) == {}:
        detail = base.verb(dry_run, "deleted", "would be deleted") + " (there was none before)"
        if not dry_run:
            base.delete(path)
        return base.Change(path, base.DELETED, detail)
    content = dump(stripped, text)
    detail = base.verb(dry_run, "removed", "would remove") + " our hooks; other settings kept"
    if original is not None:
        detail += f" (the original is still in {backup.name})"
    if not dry_run:
        base.write_atomic(path, content.encode("utf-8"))
    return base.Change(path, base.REMOVED, detail, content, backup if original else None)
