"""Our git hooks beyond one repository: in git's template folder, and in every repository
under a folder.

Invariants:
- `install_global` makes `git init` and `git clone` copy our hooks into each new
  repository, through git's `init.templateDir` (git-init(1), "TEMPLATE DIRECTORY"). When the
  person has no template folder of their own, ours (`template_dir()`, beside the database)
  is set in the global git config. When they have one (global or system config), it is
  theirs to keep: our hooks go into its `hooks/` folder, chained like `install` chains a
  repository's hook, and the setting is left as it is. A global `core.hooksPath` makes git
  run every repository's hooks from one folder and ignore the template's: then nothing is
  changed and the person is told to install there.
- `uninstall_global` undoes exactly that: our template folder and the setting go when the
  setting names ours; from a folder of theirs only our scripts go, and a hook we had kept is
  put back. Repositories made meanwhile keep their copies (`uninstall --all` removes those).
- `install_all` walks a folder to a bounded depth, never following symbolic links nor going
  into a repository (nor hidden folders, nor `node_modules`), and installs in each
  repository with `hookscripts.install`; one it refuses is skipped with its reason, and the
  rest go on.
- git runs with the variables that tie it to one repository removed (STYLE habit 8).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent_tracker import gitinfo, hookscripts, paths
from agent_tracker.errors import GitError, TrackerError

TEMPLATE_KEY = "init.templateDir"
#: Folders `--all` never goes into: caches and dependencies, not anybody's repositories.
SKIPPED_NAMES = frozenset({"node_modules"})
DEFAULT_DEPTH = 3


def template_dir() -> Path:
    """Our template folder for `git init` and `git clone`: our `hooks/`, and the rest of
    git's own default template (`info/exclude`, `description`), which a template folder
    set in the config replaces."""
    return Path(paths.tracker_dir()) / "agent-tracker-git-template"


def git_default_template() -> Path | None:
    """The template folder git uses when none is set: `<prefix>/share/git-core/templates`
    beside its `<prefix>/lib(exec)/git-core` (Debian, Homebrew, Xcode alike)."""
    try:
        done = subprocess.run(
            ["git", "--exec-path"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    folder = Path(done.stdout.strip()).parent.parent / "share" / "git-core" / "templates"
    return folder if done.returncode == 0 and folder.is_dir() else None


def _defaults() -> list[tuple[Path, Path]]:
    """(git's default file, its relative path) for each file of git's default template but
    its sample hooks."""
    found = git_default_template()
    if found is None:
        return []
    return [
        (file, file.relative_to(found))
        for file in sorted(found.rglob("*"))
        if file.is_file() and file.relative_to(found).parts[0] != "hooks"
    ]


def _seed(folder: Path) -> None:
    """Copy git's default template files that `folder` lacks into it."""
    for source, relative in _defaults():
        target = folder / relative
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())


def _unseed(folder: Path) -> None:
    """Remove the files `_seed` copied (unchanged since), and the folders left empty."""
    for source, relative in _defaults():
        target = folder / relative
        if target.is_file() and target.read_bytes() == source.read_bytes():
            target.unlink()
            for parent in target.parents:
                if parent == folder or any(parent.iterdir()):
                    break
                parent.rmdir()


# -- git's global settings -------------------------------------------------------------------


def _config(*args: str) -> str | None:
    """`git config ARGS` outside any repository; None when the key is not set (exit 1)."""
    try:
        done = subprocess.run(
            ["git", "config", *args],
            cwd=paths.home(),
            env=gitinfo.clean_git_env(),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git config {args[-1]} took more than 30 s") from None
    if done.returncode == 1 and not done.stderr.strip():
        return None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise GitError(f"git config failed: {lines[-1] if lines else 'error'}")
    return done.stdout.rstrip("\n")


def _setting(scope: str, key: str) -> str | None:
    return _config(scope, "--path", "--get", key)


def configured_template() -> tuple[str, Path] | None:
    """The template folder git's config names, and where (`--global` or `--system`)."""
    for scope in ("--global", "--system"):
        value = _setting(scope, TEMPLATE_KEY)
        if value:
            return scope, Path(value)
    return None


def _is_ours(folder: Path) -> bool:
    return folder.resolve() == template_dir().resolve()


def _refuse_under_global_hooks_path() -> None:
    hooks_path = _setting("--global", "core.hooksPath")
    if hooks_path:
        raise TrackerError(
            f"core.hooksPath is set in your global git config ({hooks_path}): git runs every "
            "repository's hooks from there and never from a template, so `--global` changes "
            "nothing; run `agent-tracker hooks install` in any one repository instead"
        )


@dataclass(frozen=True)
class GlobalResult:
    """What `install_global`/`uninstall_global` did: one line on the template folder, the
    hooks' own (hook, what) pairs, and notes for the person."""

    template: str
    hooks: list[tuple[str, str]]
    notes: list[str] = field(default_factory=list)


def _notes() -> list[str]:
    if os.environ.get("GIT_TEMPLATE_DIR"):
        return [
            "GIT_TEMPLATE_DIR is set in this environment and overrides init.templateDir "
            "where it is set"
        ]
    return []


def install_global() -> GlobalResult:
    """Make every new clone and `git init` get our hooks (see the module's docstring)."""
    _refuse_under_global_hooks_path()
    found = configured_template()
    if found is None or _is_ours(found[1]):
        folder = template_dir()
        paths.make_private_dir(folder)
        _seed(folder)
        done = hookscripts.install_into(folder / "hooks")
        if found is None:
            _config("--global", TEMPLATE_KEY, str(folder))
            what = f"set to {folder} in your global git config"
        else:
            what = f"already {folder}"
    else:
        scope, folder = found
        if not folder.is_dir():
            raise TrackerError(
                f"{TEMPLATE_KEY} is {folder} in your {scope[2:]} git config, but there is no "
                "such folder: create it, or unset the setting, then install again"
            )
        try:
            done = hookscripts.install_into(folder / "hooks")
        except PermissionError:
            raise TrackerError(
                f"{TEMPLATE_KEY} is {folder} in your {scope[2:]} git config and you may not "
                f"write there: set a folder of your own with `git config --global "
                f"{TEMPLATE_KEY} DIR` (copy {folder} into it), then install again"
            ) from None
        what = f"{folder} (from your {scope[2:]} git config): our hooks added to it"
    notes = [
        "new clones and `git init` get the hooks; for the repositories you have, run "
        "`agent-tracker hooks install --all DIR`",
        *_notes(),
    ]
    return GlobalResult(what, done, notes)


def uninstall_global() -> GlobalResult:
    """Undo `install_global`: the setting and our folder, or our hooks in theirs."""
    found = configured_template()
    if found is not None and not _is_ours(found[1]):
        scope, folder = found
        done = hookscripts.uninstall_from(folder / "hooks")
        what = f"{folder} (from your {scope[2:]} git config) kept; our hooks removed from it"
    else:
        folder = template_dir()
        done = hookscripts.uninstall_from(folder / "hooks") if folder.exists() else []
        if folder.exists():
            _unseed(folder)
        for path in (folder / "hooks", folder):
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        if found is not None:
            _config("--global", "--unset", TEMPLATE_KEY)
            what = "unset in your global git config"
        else:
            what = "not set by agent-tracker: nothing to undo"
        if folder.exists():
            what += f"; {folder} kept: it holds files that are not ours"
    notes = [
        "repositories made meanwhile keep their hooks: "
        "`agent-tracker hooks uninstall --all DIR` removes them"
    ]
    return GlobalResult(what, done, notes)


def global_status() -> tuple[str, list[hookscripts.HookState]]:
    """Which template folder git uses for new repositories, and our hooks' state in it."""
    hooks_path = _setting("--global", "core.hooksPath")
    if hooks_path:
        return f"core.hooksPath is set globally ({hooks_path}): templates are not used", []
    found = configured_template()
    if found is None:
        return "not set: new repositories get no hooks of ours", []
    scope, folder = found
    return f"{folder} (from your {scope[2:]} git config)", hookscripts.status_of(folder / "hooks")


# -- every repository under a folder ---------------------------------------------------------


@dataclass(frozen=True)
class RepoResult:
    repo: Path
    what: str  # one line: what happened, or why it was skipped
    skipped: bool


def repositories(top: Path, depth: int = DEFAULT_DEPTH) -> list[Path]:
    """The git work trees at or under `top`, at most `depth` folders down, in name order,
    as absolute paths (`--all .` names each one where it is)."""
    if not top.is_dir():
        raise TrackerError(f"{top} is not a folder")
    found: list[Path] = []
    level = [top.absolute()]
    for down in range(depth + 1):
        below: list[Path] = []
        for folder in level:
            if (folder / ".git").exists():
                found.append(folder)
                continue  # its own folders are its business (submodules have their hooks)
            if down == depth:
                continue
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue  # unreadable: nothing of ours to do there
            below += [
                Path(e.path)
                for e in entries
                if e.is_dir(follow_symlinks=False)
                and not e.name.startswith(".")
                and e.name not in SKIPPED_NAMES
            ]
        level = below
    return sorted(found)


def _summary(done: list[tuple[str, str]]) -> str:
    whats = {what for _, what in done}
    if len(whats) == 1:
        return whats.pop()
    return "; ".join(f"{name} {what}" for name, what in done)


def install_all(top: Path, depth: int = DEFAULT_DEPTH) -> list[RepoResult]:
    """Install in every repository under `top`; skip (with the reason) those refused."""
    return [_each(repo, hookscripts.install) for repo in repositories(top, depth)]


def uninstall_all(top: Path, depth: int = DEFAULT_DEPTH) -> list[RepoResult]:
    return [_each(repo, hookscripts.uninstall) for repo in repositories(top, depth)]


def _each(repo: Path, act: Callable[[Path], list[tuple[str, str]]]) -> RepoResult:
    try:
        return RepoResult(repo, _summary(act(repo)), skipped=False)
    except TrackerError as exc:
        return RepoResult(repo, f"skipped: {exc}", skipped=True)
    except OSError as exc:
        return RepoResult(repo, f"skipped: {exc.strerror or exc}", skipped=True)
