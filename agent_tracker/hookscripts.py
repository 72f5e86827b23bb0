"""Installing our git hooks: `post-commit` (runs `commit`) and `pre-push` (runs `flush`).

Invariants:
- The hooks folder is the one git uses (`git rev-parse --git-path hooks`, made absolute here:
  `--path-format` needs git 2.31, we support 2.25), so `core.hooksPath` and linked worktrees
  are honoured.
- Our scripts carry `MARKER`; a file without it is foreign. A foreign hook is never deleted:
  install moves it to `<hook>.pre-agent-tracker`, our script runs it first with the same
  arguments and input and keeps its exit status; uninstall moves it back.
- Other hook managers are recognised and chained so that no two hooks start each other:
  * pre-commit (its hook runs `<hook>.legacy` first, "migration mode"): ours goes to
    `<hook>.legacy` and pre-commit's hook stays where pre-commit wants it. A pre-commit hook
    that an older install had kept as `<hook>.pre-agent-tracker` is put back.
  * lefthook (it renames a foreign hook to `<hook>.old` and never runs that): its hook is
    chained like any other; our copy in `<hook>.old` is stale and removed.
  * husky keeps its hooks folder (`core.hooksPath = .husky/_`) in the work tree: see below.
  Exactly one copy of ours per hook is active; install removes stale copies of ours under
  the hook's other names, since something may run them.
- A hooks folder inside the work tree (husky's `.husky/_`, a `.githooks` folder) belongs to
  the repository: install writes there only when every file it would touch is untracked and
  ignored by git (so `git status` stays clean and `git add -A` or `git commit -a` never pick
  our machine-specific scripts up); otherwise it refuses with advice and changes nothing.
  Husky's folder is always refused: husky rewrites it, and its scripts find their work by
  their own file name, so they cannot be chained under another one.
- Installing twice changes nothing; uninstall removes only our scripts.
- The scripts ship in the package (`agent_tracker/hooks` in the wheel; the top-level
  `hooks/` folder in a checkout). Installing bakes in the Python that runs agent-tracker, so
  the hooks work even when the tool is not on PATH inside git.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from agent_tracker import fsio, gitinfo
from agent_tracker.errors import GitError, TrackerError

HOOKS = ("post-commit", "pre-push")
MARKER = "agent-tracker-hook v1"
LEGACY_SUFFIX = ".pre-agent-tracker"  # where we keep a hook that was there before ours
PRE_COMMIT_SUFFIX = ".legacy"  # what pre-commit's hook runs first
LEFTHOOK_SUFFIX = ".old"  # where lefthook puts a hook it replaces (and never runs)
PYTHON_PLACEHOLDER = "@AGENT_TRACKER_PYTHON@"
PACKAGE_PLACEHOLDER = "@AGENT_TRACKER_PACKAGE@"
#: The oldest git whose `rev-parse --git-path` answers what we need.
MIN_GIT = (2, 25)


#: What `status` can say of a hook; all but "installed" need the person (see `fix_for`).
STATES = ("installed", "missing", "foreign", "outdated", "inactive", "broken")


@dataclass(frozen=True)
class HookState:
    name: str
    path: Path  # where our script is (or would be) run from
    state: str  # one of STATES; "broken": the program it runs is gone
    how: str  # how ours runs, in words
    found: str = "missing"  # what the hook file git runs is: `kind` of it


@dataclass(frozen=True)
class Place:
    """The hooks folder and where it stands: `top` is the work tree, if any."""

    hooks: Path
    top: Path | None
    git_dirs: tuple[Path, ...]

    @property
    def in_work_tree(self) -> bool:
        if self.top is None or not _under(self.hooks, self.top):
            return False
        return not any(_under(self.hooks, d) for d in self.git_dirs)


def template(name: str) -> str:
    """The text of one hook script as shipped."""
    packaged = resources.files("agent_tracker").joinpath("hooks", name)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    checkout = Path(__file__).resolve().parent.parent / "hooks" / name
    try:
        return checkout.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TrackerError(f"hook script {name!r} is missing from this installation") from None


def render(name: str, python: str | None = None) -> str:
    """The script as installed: it runs `python` (default: the one running now) with the
    package at the folder this agent-tracker is imported from. The script checks that
    folder is there before it runs that Python, so an uninstalled agent-tracker sends it
    to PATH as a deleted interpreter does."""
    return (
        template(name)
        .replace(PYTHON_PLACEHOLDER, _quoted(python or sys.executable))
        .replace(PACKAGE_PLACEHOLDER, _quoted(str(Path(__file__).resolve().parent)))
    )


def _quoted(path: str) -> str:
    # The template quotes the path in '...'; a quote inside it must not end the string.
    return path.replace("'", "'\\''")


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def locate(repo: Path) -> Place:
    """Where git runs this repository's hooks from, and whether that is in the work tree."""
    base = Path(repo).resolve()
    args = ("--is-inside-work-tree", "--git-path", "hooks", "--git-common-dir", "--git-dir")
    try:
        # No --path-format (git 2.31): the paths come relative to `repo` or absolute.
        lines = gitinfo.output(str(base), "rev-parse", *args, "--show-cdup", honour_env=False)
    except GitError as exc:
        raise _explain(repo, exc) from None
    found = lines.splitlines()
    if len(found) < 4:
        raise GitError(f"git rev-parse gave an unexpected answer in {repo}: {lines!r}")

    def absolute(text: str) -> Path:
        return Path(os.path.normpath(base / text))

    top = absolute(found[4]) if found[0] == "true" and len(found) > 4 else None
    if found[0] == "true" and top is None:
        top = base  # --show-cdup printed nothing: we are at the top
    return Place(absolute(found[1]), top, (absolute(found[2]), absolute(found[3])))


def hooks_dir(repo: Path) -> Path:
    """The folder git runs this repository's hooks from."""
    return locate(repo).hooks


def _explain(repo: Path, exc: GitError) -> GitError:
    """A precise message for a failed `rev-parse`: not a repository, or a git too old."""
    text = str(exc)
    if "not installed" in text:
        return exc
    if not Path(repo).is_dir():
        return GitError(
            f"{repo} is not a folder" if Path(repo).exists() else f"{repo} does not exist"
        )
    version = git_version()
    if version is not None and version < MIN_GIT:
        have = ".".join(map(str, version))
        need = ".".join(map(str, MIN_GIT))
        return GitError(f"hooks need git {need} or newer; this is git {have}")
    if "not a git repository" in text.lower():
        return GitError(f"{repo} is not a git repository")
    return exc


def git_version() -> tuple[int, ...] | None:
    """(major, minor) of the git on PATH, or None when it cannot be told."""
    try:
        out = gitinfo.output(".", "version", honour_env=False)
    except GitError:
        return None
    found = re.search(r"(\d+)\.(\d+)", out)
    return (int(found[1]), int(found[2])) if found else None


# -- what a hook file is -----------------------------------------------------------------------


def kind(path: Path) -> str:
    """What a hook file is: missing, ours, pre-commit, lefthook, husky or foreign."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return "missing"
    if MARKER in head[:512]:
        return "ours"
    if "File generated by pre-commit" in head:
        return "pre-commit"
    if "LEFTHOOK" in head:  # lefthook's own test for its scripts
        return "lefthook"
    if "husky" in head.lower() or head.rstrip().endswith('/h"'):
        return "husky"
    return "foreign"


def _is_ours(path: Path) -> bool:
    return kind(path) == "ours"


@dataclass(frozen=True)
class Names:
    main: Path
    legacy: Path  # pre-commit's
    kept: Path  # ours
    old: Path  # lefthook's

    @classmethod
    def of(cls, directory: Path, name: str) -> Names:
        return cls(
            directory / name,
            directory / f"{name}{PRE_COMMIT_SUFFIX}",
            directory / f"{name}{LEGACY_SUFFIX}",
            directory / f"{name}{LEFTHOOK_SUFFIX}",
        )


def _slot(names: Names) -> Path:
    """Where ours must run from: pre-commit's `.legacy` under pre-commit, else the hook."""
    main = kind(names.main)
    if main == "pre-commit" or (main == "ours" and kind(names.kept) == "pre-commit"):
        return names.legacy
    return names.main


# -- status ----------------------------------------------------------------------------------


def status(repo: Path) -> list[HookState]:
    return status_of(hooks_dir(repo))


def status_of(directory: Path) -> list[HookState]:
    """The state of each hook in a hooks folder (a repository's, or git's template's)."""
    return [_state(name, Names.of(directory, name)) for name in HOOKS]


def _state(name: str, names: Names) -> HookState:
    found = _state_of(name, names)
    return HookState(found.name, found.path, found.state, found.how, kind(names.main))


def _state_of(name: str, names: Names) -> HookState:
    main = kind(names.main)
    kept = kind(names.kept)
    after = f"after the earlier {_label(kept)} kept as {names.kept.name}"
    if main == "ours" and kept == "pre-commit":
        return HookState(
            name, names.main, "outdated", f"runs {after}; install again to put it back"
        )
    if main == "ours":
        how = f"runs {after}" if kept not in ("missing", "ours") else "runs directly"
        return _checked(HookState(name, names.main, _freshness(name, names.main), how))
    if main == "pre-commit" and kind(names.legacy) == "ours":
        how = f"runs via pre-commit's migration mode as {names.legacy.name}"
        if kept != "missing":
            how += f", {after}"
        return _checked(HookState(name, names.legacy, _freshness(name, names.legacy), how))
    stale = [p.name for p in (names.legacy, names.old, names.kept) if kind(p) == "ours"]
    if main == "missing":
        return HookState(name, names.main, "missing", "not installed")
    if stale:
        how = f"not running: a copy sits in {stale[0]}, which {_label(main)} does not run"
        return HookState(name, names.main, "inactive", how)
    return HookState(name, names.main, "foreign", f"not installed; a {_label(main)} is here")


def _label(what: str) -> str:
    return {"foreign": "hook", "missing": "hook"}.get(what, f"{what} hook")


def _freshness(name: str, path: Path) -> str:
    """ "installed" when the script is the one this version writes, whichever agent-tracker
    installed it (the paths baked in are checked by `_checked`), else "outdated"."""
    text = path.read_text(encoding="utf-8")
    unbaked = _BAKED_PACKAGE.sub(_unbake(PACKAGE_PLACEHOLDER), _BAKED.sub(_unbake(), text))
    return "installed" if unbaked == template(name) else "outdated"


def _unbake(placeholder: str = PYTHON_PLACEHOLDER) -> Callable[[re.Match[str]], str]:
    """A `re.sub` replacement: the match with its first group put back to `placeholder`."""

    def put_back(found: re.Match[str]) -> str:
        start, end = found.start(1) - found.start(), found.end(1) - found.start()
        return found[0][:start] + placeholder + found[0][end:]

    return put_back


_BAKED = re.compile(r"(?m)^AGENT_TRACKER_PYTHON='((?:[^']|'\\'')*)'$")
_BAKED_PACKAGE = re.compile(r"(?m)^AGENT_TRACKER_PACKAGE='((?:[^']|'\\'')*)'")


def recorded_program(path: Path) -> str | None:
    """The Python a script of ours runs agent-tracker with (baked in at install time)."""
    return _baked(path, _BAKED)


def recorded_package(path: Path) -> str | None:
    """The agent-tracker package folder a script of ours checks before it runs its Python."""
    return _baked(path, _BAKED_PACKAGE)


def _baked(path: Path, pattern: re.Pattern[str]) -> str | None:
    try:
        found = pattern.search(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return found[1].replace("'\\''", "'") if found else None


def program_trouble(python: str) -> str | None:
    """What keeps the hook's `"$python" -P -m agent_tracker` from running, in words (None:
    nothing): the interpreter is gone (a venv deleted or moved) or has no agent-tracker."""
    if not (Path(python).is_file() and os.access(python, os.X_OK)):
        return "is gone"
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        return None  # the one running now: it has us
    try:
        done = subprocess.run(
            [python, "-P", "-c", "import agent_tracker"],
            env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
            capture_output=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "does not start"
    return None if done.returncode == 0 else "has no agent-tracker"


def _checked(state: HookState) -> HookState:
    """The state again, "broken" when the program the script runs cannot run agent-tracker.
    The script tests only that the interpreter and the package folder are there (`[ -x ]`,
    `[ -f ]`, nothing slower in every commit): when either is gone, git runs agent-tracker
    from PATH if it finds one; when both are there but do not work, the hook does nothing.
    A script another working agent-tracker installed says which Python it runs."""
    python = recorded_program(state.path)
    if python is None:
        return state
    package = recorded_package(state.path)
    trouble = program_trouble(python)
    falls_back = trouble == "is gone"
    if not falls_back and package and not (Path(package) / "__init__.py").is_file():
        trouble, falls_back = "no longer has agent-tracker", True  # uninstalled from it
    if trouble is None:
        if os.path.realpath(python) == os.path.realpath(sys.executable):
            return state
        return HookState(state.name, state.path, state.state, f"{state.how}; runs {python}")
    on_path = shutil.which("agent-tracker")
    if not falls_back:
        then = "the hook does nothing"
    elif on_path:
        then = f"it falls back to {on_path} found on PATH"
    else:
        then = "it does nothing unless git finds agent-tracker on PATH"
    how = f"{state.how}; the program it runs, {python}, {trouble}: {then}"
    return HookState(state.name, state.path, "broken", how)


# -- what fixes a state ----------------------------------------------------------------------


def command_name() -> str:
    """How to spell agent-tracker in a command the person can run now: its name when PATH
    finds it, else the program running now (its console script, else `python -m`)."""
    if shutil.which("agent-tracker"):
        return "agent-tracker"
    script = Path(sys.executable).parent / "agent-tracker"
    if script.is_file() and os.access(script, os.X_OK) and _starts(script):
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m agent_tracker"


def _starts(script: Path) -> bool:
    """Whether the interpreter a console script names on its `#!` line is there (a moved
    virtual environment keeps the old path in its scripts)."""
    try:
        with script.open("rb") as file:
            first = file.readline(4096)
    except OSError:
        return False
    if not first.startswith(b"#!"):
        return True
    words = first[2:].split()
    return bool(words) and Path(os.fsdecode(words[0])).is_file()


def fix_for(state: HookState | str, repo: Path | None = None) -> str | None:
    """What fixes a hook's state, in one line: a command to run (maybe with a `# comment`, so
    that it can be pasted whole), or what to do where no command can (husky). None when
    nothing needs fixing. Pass the `HookState` from
    `status` (a bare state name gives the generic fix, without a hook manager's advice);
    `repo`, when given, is named in the command with --repo."""
    what = state if isinstance(state, str) else state.state
    found = "missing" if isinstance(state, str) else state.found
    if what == "installed":
        return None
    if what not in STATES:
        raise ValueError(f"unknown hook state {what!r}")
    install = f"{command_name()} hooks install"
    if repo is not None:
        install += f" --repo {shlex.quote(str(repo))}"
    if found == "husky":
        return (
            "husky owns this repository's hooks: add the line `agent-tracker commit || true` "
            "to .husky/post-commit and `agent-tracker flush || true` to .husky/pre-push"
        )
    if what == "foreign" and found == "pre-commit":
        return f"{install}  # pre-commit's hook stays and runs ours as its .legacy hook"
    if what == "foreign":
        return f"{install}  # keeps the {_label(found)} that is there and runs it first"
    return install


# -- install ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One file operation of an install: `src` None means write our script to `dst`;
    `dst` None means remove `src`."""

    src: Path | None
    dst: Path | None


def _plan(name: str, names: Names) -> tuple[list[Step], str]:
    """The steps that install ours for one hook, and what they achieve in words."""
    steps: list[Step] = []
    main, kept = kind(names.main), kind(names.kept)
    slot = _slot(names)
    notes = []
    if main == "ours" and kept == "pre-commit":
        # An older install put ours in front of pre-commit's hook: the next `pre-commit
        # install` would make the two start each other. Give pre-commit its place back.
        steps += [Step(names.main, None), Step(names.kept, names.main)]
        notes.append(f"pre-commit's hook put back from {names.kept.name}")
        main, kept = "pre-commit", "missing"
    for stale in (names.main, names.legacy, names.old, names.kept):
        if stale != slot and kind(stale) == "ours" and Step(stale, None) not in steps:
            steps.append(Step(stale, None))  # something may run it: one active copy only
            if stale == names.kept:
                kept = "missing"
            notes.append(f"stale copy {stale.name} removed")
    current = kind(slot) if slot != names.main else main
    if current not in ("ours", "missing"):
        if kept != "missing":
            raise TrackerError(
                f"{slot} is not ours and {names.kept.name} already exists; move one of them "
                "away by hand, then install again"
            )
        steps.append(Step(slot, names.kept))
        notes.append(f"existing hook kept as {names.kept.name}")
    wanted = render(name)
    fresh = current == "ours" and slot.read_text(encoding="utf-8") == wanted
    if not fresh:
        steps.append(Step(None, slot))
    if slot == names.legacy:
        notes.insert(0, f"runs via pre-commit's migration mode as {slot.name}")
    what = "already installed" if fresh else "installed"
    return steps, "; ".join([what, *notes])


def install(repo: Path) -> list[tuple[str, str]]:
    """Install both hooks; returns (hook, what happened) pairs."""
    place = locate(repo)
    plans = _plans(place.hooks)
    if place.in_work_tree:
        assert place.top is not None
        touched = [p for _, steps, _ in plans for s in steps for p in (s.src, s.dst) if p]
        _check_work_tree(place.top, place.hooks, touched)
    gitinfo.pin(gitinfo.find_project(str(repo), honour_env=False), str(repo), honour_env=False)
    return _carry_out(place.hooks, plans)


def install_into(directory: Path) -> list[tuple[str, str]]:
    """Install both hooks into a folder that is no repository's (git's template folder),
    chaining what is there as `install` does."""
    return _carry_out(directory, _plans(directory))


def _plans(directory: Path) -> list[tuple[str, list[Step], str]]:
    return [(name, *_plan(name, Names.of(directory, name))) for name in HOOKS]


def _carry_out(directory: Path, plans: list[tuple[str, list[Step], str]]) -> list[tuple[str, str]]:
    directory.mkdir(parents=True, exist_ok=True)
    for name, steps, _ in plans:
        for step in steps:
            if step.dst is None and step.src is not None:
                step.src.unlink()
            elif step.src is None and step.dst is not None:
                _write_executable(step.dst, render(name))
            elif step.src is not None and step.dst is not None:
                os.replace(step.src, step.dst)
    return [(name, what) for name, _, what in plans]


def _write_executable(path: Path, text: str) -> None:
    fsio.atomic_write(path, text.encode("utf-8"), 0o755)


def _check_work_tree(top: Path, directory: Path, touched: list[Path]) -> None:
    """Refuse (changing nothing) unless every file we touch is untracked and ignored."""
    folder = os.path.relpath(directory, top)
    if (directory / "h").is_file() or any(kind(directory / n) == "husky" for n in HOOKS):
        raise TrackerError(
            f"core.hooksPath is {folder}, husky's folder in the work tree: husky rewrites it, "
            "so agent-tracker installs nothing there. To record commits in this repository, "
            "add the line `agent-tracker commit || true` to .husky/post-commit and "
            "`agent-tracker flush || true` to .husky/pre-push (files of the repository)"
        )
    if not touched:
        return
    rel = sorted({os.path.relpath(p, top) for p in touched})
    tracked = _git_lines(top, "ls-files", "-z", "--", *rel)
    ignored = set(_git_lines(top, "check-ignore", "-z", "--stdin", stdin="\0".join(rel)))
    visible = [p for p in rel if p not in ignored]
    if tracked:
        raise TrackerError(
            f"core.hooksPath is {folder}, inside the work tree, and {tracked[0]} is tracked by "
            "git: agent-tracker does not change the repository's files. Add the line "
            f"`agent-tracker commit || true` to {folder}/post-commit and "
            f"`agent-tracker flush || true` to {folder}/pre-push yourself"
        )
    if visible:
        listed = " ".join(f"/{p}" for p in visible)
        raise TrackerError(
            f"core.hooksPath is {folder}, inside the work tree, and {visible[0]} would show in "
            "`git status`: agent-tracker does not add files to the repository. To install the "
            f"hooks for this clone only, add {listed} to .git/info/exclude, then install again"
        )


def _git_lines(top: Path, *args: str, stdin: str = "") -> list[str]:
    """NUL-separated output of a git command that may exit 1 for "none"."""
    try:
        done = subprocess.run(
            ["git", "-C", str(top), *args],
            env=gitinfo.clean_git_env(),
            input=stdin.encode("utf-8", "surrogateescape"),
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH") from None
    if done.returncode not in (0, 1):
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed in {top}: {message[-1] if message else 'error'}")
    return [p for p in done.stdout.decode("utf-8", "surrogateescape").split("\0") if p]


# -- uninstall -------------------------------------------------------------------------------


def uninstall(repo: Path) -> list[tuple[str, str]]:
    """Remove our hooks (and stale copies) and put back any hook we had kept."""
    return uninstall_from(hooks_dir(repo))


def uninstall_from(directory: Path) -> list[tuple[str, str]]:
    """`uninstall` for a hooks folder (a repository's, or git's template's)."""
    done = []
    for name in HOOKS:
        names = Names.of(directory, name)
        slot = names.legacy if kind(names.main) == "pre-commit" else names.main
        if kind(slot) != "ours":
            slot = names.main
        copies = [p for p in (names.main, names.legacy, names.old) if kind(p) == "ours"]
        if not copies:
            main = kind(names.main)
            done.append((name, "not ours, left alone" if main != "missing" else "not installed"))
            continue
        for path in copies:
            path.unlink()
        if kind(names.kept) not in ("missing", "ours"):
            os.replace(names.kept, slot)
            done.append((name, "removed; earlier hook restored"))
        else:
            if kind(names.kept) == "ours":
                names.kept.unlink()
            done.append((name, "removed"))
    return done
