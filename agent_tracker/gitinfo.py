"""What agent-tracker reads from git: the project a folder belongs to, and commits.

`find_project` reads the repository's files directly (no `git` process): it runs in every
agent tool call, where starting git would cost more than the rest of the work together.
Only `read_commit` and `resolve_commit`, used by `commit` and `grade`, start git.

A project is identified by its `origin` remote, normalised so that the SSH and HTTPS forms
of one repository match and credentials are never stored (`github.com/me/app`); a
repository without `origin` by the path of its main working tree, so that linked worktrees
count as the same project; a folder outside any repository by its own path.
"""

from __future__ import annotations

import os

from agent_tracker.errors import GitError


class Project:
    __slots__ = ("git_dir", "identity", "toplevel")

    def __init__(
        self, identity: str, toplevel: str | None = None, git_dir: str | None = None
    ) -> None:
        self.identity = identity
        self.toplevel = toplevel
        self.git_dir = git_dir

    def last_head_move(self) -> tuple[str, str, str] | None:
        """(old hash, new hash, message) of the newest HEAD reflog entry, if there is one.

        Read from the file rather than by running git: it tells the post-commit hook
        whether the commit came from `commit --amend`, a rebase or a cherry-pick.
        """
        if self.git_dir is None:
            return None
        try:
            with open(os.path.join(self.git_dir, "logs", "HEAD"), "rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, size - 8192))
                tail = handle.read().decode("utf-8", errors="replace")
        except OSError:
            return None
        lines = tail.rstrip("\n").rsplit("\n", 1)
        head, _, message = lines[-1].partition("\t")
        parts = head.split(" ", 2)
        if len(parts) < 3:
            return None
        return parts[0], parts[1], message


def normalise_url(url: str) -> str:
    """`git@github.com:Me/app.git` and `https://tok@github.com/Me/app` -> `github.com/Me/app`.

    String operations rather than regular expressions: compiling those at import would cost
    more than the rest of this module in every tool call.
    """
    text = url.strip().rstrip("/").removesuffix(".git").rstrip("/")
    scheme, sep, rest = text.partition("://")
    if sep and scheme[:1].isalpha() and scheme.replace("+", "").replace("-", "").isalnum():
        if scheme.lower() == "file":
            return rest
        authority, slash, path = rest.partition("/")
        host = authority.rpartition("@")[2]  # drop user and password
        return f"{host.lower()}{slash}{path}"
    if os.path.isabs(text) or text.startswith("."):
        return text
    head, colon, path = text.partition(":")  # scp-like: [user@]host:path
    if colon and head and "/" not in head:
        return f"{head.rpartition('@')[2].lower()}/{path.lstrip('/')}"
    return text


def _git_dirs(start: str, honour_env: bool) -> tuple[str, str, str] | None:
    """(worktree top, git dir, common git dir) of the repository containing `start`.

    Inside a git hook, git may set GIT_DIR; that is honoured only for the hook's own
    repository (`honour_env`), never when the user named another folder.
    """
    env_dir = os.environ.get("GIT_DIR") if honour_env else None
    if env_dir:
        git_dir = os.path.abspath(env_dir)
        top = os.path.abspath(os.environ.get("GIT_WORK_TREE") or start)
        return top, git_dir, _common_dir(git_dir)
    current = os.path.abspath(start)
    while True:
        dot_git = os.path.join(current, ".git")
        if os.path.isdir(dot_git):
            return current, dot_git, _common_dir(dot_git)
        if os.path.isfile(dot_git):
            try:
                with open(dot_git, encoding="utf-8") as handle:
                    line = handle.readline().strip()
            except OSError:
                line = ""
            if line.startswith("gitdir:"):
                git_dir = os.path.normpath(os.path.join(current, line[len("gitdir:") :].strip()))
                return current, git_dir, _common_dir(git_dir)
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _common_dir(git_dir: str) -> str:
    try:
        with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as handle:
            return os.path.normpath(os.path.join(git_dir, handle.read().strip()))
    except OSError:
        return git_dir


def _origin_url(common_dir: str) -> str | None:
    try:
        with open(os.path.join(common_dir, "config"), encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    in_origin = False
    for raw in lines:
        line = raw.strip()
        if line.startswith("["):
            in_origin = line.replace(" ", "").lower() in ('[remote"origin"]',)
        elif in_origin and "=" in line:
            key, value = line.split("=", 1)
            if key.strip().lower() == "url":
                return value.strip().strip('"')
    return None


def find_project(start: str, honour_env: bool = True) -> Project:
    """The project `start` belongs to (see the module docstring for the rules)."""
    dirs = _git_dirs(start, honour_env)
    if dirs is None:
        return Project(os.path.abspath(start))
    top, git_dir, common = dirs
    url = _origin_url(common)
    if url:
        return Project(normalise_url(url), top, git_dir)
    main_tree = os.path.dirname(common) if os.path.basename(common) == ".git" else common
    return Project(main_tree, top, git_dir)


#: `git rev-parse --local-env-vars`: what ties git to one repository. Git sets some of these
#: for hooks; they are dropped whenever git runs on a repository named by the user.
REPO_LOCAL_GIT_VARS = frozenset(
    {
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_CONFIG",
        "GIT_CONFIG_PARAMETERS",
        "GIT_CONFIG_COUNT",
        "GIT_OBJECT_DIRECTORY",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_IMPLICIT_WORK_TREE",
        "GIT_GRAFT_FILE",
        "GIT_INDEX_FILE",
        "GIT_NO_REPLACE_OBJECTS",
        "GIT_REPLACE_REF_BASE",
        "GIT_PREFIX",
        "GIT_INTERNAL_SUPER_PREFIX",
        "GIT_SHALLOW_FILE",
        "GIT_COMMON_DIR",
    }
)


def clean_git_env() -> dict[str, str]:
    """The environment without the variables that tie git to one repository."""
    return {k: v for k, v in os.environ.items() if k not in REPO_LOCAL_GIT_VARS}


def _git(repo: str, *args: str, honour_env: bool = True) -> str:
    import subprocess  # not at module level: `track` only reads files and must start fast

    try:
        done = subprocess.run(
            ["git", "-C", repo, *args],
            env=None if honour_env else clean_git_env(),
            capture_output=True,
            text=True,
            check=False,
            encoding="utf-8",
            errors="replace",
        )
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH") from None
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()
        raise GitError(f"git {args[0]} failed in {repo}: {message[-1] if message else 'error'}")
    return done.stdout


def output(repo: str, *args: str, honour_env: bool = True) -> str:
    """What `git -C repo ARGS` prints; GitError (with git's message) when it fails."""
    return _git(repo, *args, honour_env=honour_env)


def resolve_commit(repo: str, rev: str, honour_env: bool = True) -> str:
    """The full hash of `rev` (a commit) in `repo`."""
    try:
        return _git(
            repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", honour_env=honour_env
        ).strip()
    except GitError:
        raise GitError(f"{rev!r} is not a commit in {repo}") from None


_COMMIT_FORMAT = (
    "%x00".join(
        [
            "%H",
            "%at",
            "%an <%ae>",
            "%(trailers:key=Agent,valueonly,separator=%x1f)",
            "%(trailers:key=Model,valueonly,separator=%x1f)",
            "%(trailers:key=Harness,valueonly,separator=%x1f)",
            "%(trailers:key=Co-authored-by,valueonly,separator=%x1f)",
            "%s",
            "%b",
        ]
    )
    + "%x00"
)


def read_commit(repo: str, rev: str = "HEAD", honour_env: bool = True) -> dict[str, object]:
    """Hash, subject, author time, trailers and change counts of one commit, and the commit
    it reverts (`reverts`) when its message says `This reverts commit <hash>.`"""
    out = _git(
        repo,
        "-c",
        "core.quotepath=false",
        "log",
        "-1",
        "--no-renames",
        "--numstat",
        f"--format={_COMMIT_FORMAT}",
        rev,
        "--",
        honour_env=honour_env,
    )
    fields = out.split("\x00")
    if len(fields) < 10:
        raise GitError(f"cannot read commit {rev!r} in {repo}")
    commit_hash, author_time, author, agent, model, harness, coauthors, subject, body = fields[:9]
    files = insertions = deletions = 0
    exts: dict[str, int] = {}
    for line in fields[9].splitlines():
        parts = line.split("\t", 2)
        if len(parts) != 3:
            continue
        added, removed, path = parts
        files += 1
        insertions += int(added) if added.isdigit() else 0
        deletions += int(removed) if removed.isdigit() else 0
        ext = extension(path)
        exts[ext] = exts.get(ext, 0) + 1
    found: dict[str, object] = {}
    reverted = reverted_commit(body)
    if reverted is not None:
        found["reverts"] = reverted
    return {
        **found,
        "hash": commit_hash,
        "author_time": int(author_time or 0),
        "subject": subject,
        "files": files,
        "insertions": insertions,
        "deletions": deletions,
        "exts": exts,
        "trailers": {
            "agent": _first(agent),
            "model": _first(model),
            "harness": _first(harness),
            "co_authors": [c for c in coauthors.split("\x1f") if c.strip()],
            "author": author,
        },
    }


_REVERT_LINE = "This reverts commit "


def reverted_commit(body: str) -> str | None:
    """The hash in the `This reverts commit <hash>.` line `git revert` writes into the
    message body (also `..., reversing` for a merge), or None. A plain scan: no regular
    expression is compiled on the capture path."""
    at = body.find(_REVERT_LINE)
    while at != -1:
        if at == 0 or body[at - 1] == "\n":
            words = body[at + len(_REVERT_LINE) :].split(None, 1)
            candidate = words[0].rstrip(".,").lower() if words else ""
            if 4 <= len(candidate) <= 64 and not candidate.strip("0123456789abcdef"):
                return candidate
        at = body.find(_REVERT_LINE, at + 1)
    return None


def _first(value: str) -> str | None:
    for part in value.split("\x1f"):
        if part.strip():
            return part.strip()
    return None


def extension(path: str) -> str:
    """`src/app.PY` -> `.py`; a file without one keeps its name (`Makefile`)."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    _, ext = os.path.splitext(name)
    return ext.lower() if ext else name


def tracked_extensions(path: str, limit: int = 50000) -> dict[str, int]:
    """Files per extension in the repository at `path` (`git ls-files`), or, outside git,
    in the folder itself (hidden folders skipped); at most `limit` files are looked at."""
    counts: dict[str, int] = {}
    try:
        names = _git(path, "ls-files", "-z", honour_env=False).split("\x00")
    except GitError:
        names = []
        for root, folders, files in os.walk(path):
            folders[:] = [f for f in folders if not f.startswith(".")]
            names.extend(os.path.join(root, f) for f in files)
            if len(names) >= limit:
                break
    for name in names[:limit]:
        if name:
            ext = extension(name)
            counts[ext] = counts.get(ext, 0) + 1
    return counts
