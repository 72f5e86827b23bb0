"""What agent-tracker reads from git: the project a folder belongs to, and commits.

`find_project` reads the repository's files directly (no `git` process): it runs in every
agent tool call, where starting git would cost more than the rest of the work together.
Only the commands that run git anyway (`commit`, `grade`, `hooks install`) start it.

A project's identity is worked out once and then pinned in the repository's own config
(`agent-tracker.project`, by `pin`, at the first `commit`, `grade` or `hooks install`), so
that adding, changing or removing `origin` later changes nothing: tool calls and commits keep
the identity the project's history has. Before a pin, and for folders never pinned, it is
worked out as it always was: the `origin` remote, normalised so that the SSH and HTTPS forms
of one repository match and credentials are never stored (`github.com/me/app`; a relative
remote such as `../app.git` resolved against the repository, so unrelated repositories never
share it); a repository without `origin` by the path of its main working tree, so that linked
worktrees count as the same project; a folder outside any repository by its own path.

The repository's root commit (the smallest hash of the commits without parents; none for a
shallow clone) is pinned too (`agent-tracker.root`) and carried by every commit event: clones
of one repository whose pins differ (a path on one machine, a URL on another) share it, and
the report counts projects with a common root commit as one.

`git config agent-tracker.enabled false` (or `no`, `off`, `0`) opts a repository out:
`Project.enabled` is then False and nothing is recorded there.

The config file is read by git's rules (`gitconfig`). Every git call that takes a revision
from the user refuses one that starts with `-`, which git would read as an option.
"""

from __future__ import annotations

import os
import time

from agent_tracker import gitconfig
from agent_tracker.errors import GitError

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from collections.abc import Mapping

#: The variables agent-tracker keeps in a repository's local git config.
PIN_PROJECT = "agent-tracker.project"
PIN_ROOT = "agent-tracker.root"
ENABLED = "agent-tracker.enabled"
_KEYS = frozenset({PIN_PROJECT, PIN_ROOT, ENABLED, "remote.origin.url"})
#: How long `commit` waits for `git rev-list` to find the root commit of an unpinned
#: repository (a huge history without a commit-graph); past it the commit goes without.
ROOT_TIMEOUT = 2.0
#: How much of the end of the HEAD reflog `last_head_move` reads: room for the entries of a
#: long rebase made while the hook of its first commit was still starting.
REFLOG_TAIL = 64 * 1024
#: How far back it reads when the commit is not in that tail (bounded: a reflog can be huge).
REFLOG_MAX = 16 * 1024 * 1024


class Project:
    __slots__ = ("common_dir", "enabled", "git_dir", "identity", "pinned", "root", "toplevel")

    def __init__(
        self,
        identity: str,
        toplevel: str | None = None,
        git_dir: str | None = None,
        *,
        common_dir: str | None = None,
        pinned: bool = False,
        root: str | None = None,
        enabled: bool = True,
    ) -> None:
        self.identity = identity
        self.toplevel = toplevel
        self.git_dir = git_dir
        self.common_dir = common_dir
        #: whether `identity` comes from the repository's pin (`agent-tracker.project`)
        self.pinned = pinned
        #: the pinned root commit, if any
        self.root = root
        #: False when the repository opted out (`agent-tracker.enabled false`)
        self.enabled = enabled

    def last_head_move(self, commit_hash: str | None = None) -> tuple[str, str, str] | None:
        """(old hash, new hash, message) of the newest HEAD reflog entry, if there is one;
        with `commit_hash`, of the entry that made HEAD that commit (the oldest one to it
        in the reflog's tail: later ones are resets or checkouts back to it).

        Read from the file rather than by running git: it tells the post-commit hook
        whether the commit came from `commit --amend`, a rebase or a cherry-pick. The hook
        records commits in the background, so in a rebase HEAD may have moved on already.
        """
        if self.git_dir is None:
            return None
        path = os.path.join(self.git_dir, "logs", "HEAD")
        found, size = _head_move(path, REFLOG_TAIL, commit_hash)
        if found is None and commit_hash is not None and size > REFLOG_TAIL:
            # Not in the tail: a recorder that ran late, after a very long rebase. Further
            # back, or the rebased commit would count as new.
            found, _ = _head_move(path, REFLOG_MAX, commit_hash)
        return found


def head_commit(project: Project) -> str | None:
    """The commit HEAD names, read from the repository's files as git would (HEAD, a loose
    ref, `packed-refs`), without starting git; None when git has to say (no commit yet, a
    symbolic ref to a symbolic ref, refs in a reftable, anything unusual)."""
    if project.git_dir is None or project.common_dir is None:
        return None
    text = _read_text(os.path.join(project.git_dir, "HEAD"))
    if text is None:
        return None
    if not text.startswith("ref:"):
        return _full_hash(text)
    ref = text[4:].strip()
    if not ref.startswith("refs/heads/") or ".." in ref:
        return None
    loose = _read_text(os.path.join(project.common_dir, ref))
    if loose is not None:
        return _full_hash(loose)
    packed = _read_text(os.path.join(project.common_dir, "packed-refs"))
    suffix = f" {ref}"
    for line in (packed or "").splitlines():
        if line.endswith(suffix):
            return _full_hash(line[: -len(suffix)])
    return None


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _full_hash(text: str) -> str | None:
    """`text` when it is a whole SHA-1 or SHA-256 object name."""
    found = _commit_hash(text)
    return found if found is not None and len(found) in (40, 64) else None


def normalise_url(url: str, base: str | None = None) -> str:
    """`git@github.com:Me/app.git` and `https://tok@github.com/Me/app` -> `github.com/Me/app`.

    Credentials are never kept: neither `user:password@` nor a URL's query or fragment
    (`?access_token=...`, `#...`). A local path (no `host:` before the first `/`, as git
    decides) is normalised, and a relative one (`../app.git`) resolved against `base`, the
    repository's main working tree, as git resolves it there.

    String operations rather than regular expressions: compiling those at import would cost
    more than the rest of this module in every tool call.
    """
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if sep and scheme[:1].isalpha() and scheme.replace("+", "").replace("-", "").isalnum():
        # `?` and `#` end the path of a URL, and `;` starts parameters (`;jsessionid=`):
        # what follows may hold an access token.
        rest = rest.partition("#")[0].partition("?")[0]
        if scheme.lower() == "file":
            return _local_path(_bare(rest), base)
        authority, slash, path = rest.partition("/")
        host = authority.rpartition("@")[2]  # drop user and password
        return f"{host.lower()}{slash}{_bare(path.partition(';')[0])}".rstrip("/")
    head, colon, path = text.partition(":")  # scp-like: [user@]host:path
    if colon and head and "/" not in head:
        path = path.partition("#")[0].partition("?")[0]  # as in a URL: may hold a token
        return f"{head.rpartition('@')[2].lower()}/{_bare(path).lstrip('/')}"
    return _local_path(_bare(text), base)


def _bare(path: str) -> str:
    """A repository path without trailing slashes and `.git`."""
    return path.rstrip("/").removesuffix(".git").rstrip("/")


def _local_path(path: str, base: str | None) -> str:
    if not path:
        return path
    if not os.path.isabs(path):
        if base is None:
            return path
        path = os.path.join(base, path)
    return os.path.normpath(path)


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


def main_tree(common_dir: str) -> str:
    """The main working tree of a repository (its git dir for a bare one)."""
    return os.path.dirname(common_dir) if os.path.basename(common_dir) == ".git" else common_dir


def _commit_hash(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip().lower()
    return text if 4 <= len(text) <= 64 and not text.strip("0123456789abcdef") else None


def find_project(start: str, honour_env: bool = True) -> Project:
    """The project `start` belongs to (see the module docstring for the rules)."""
    dirs = _git_dirs(start, honour_env)
    if dirs is None:
        return Project(os.path.abspath(start))
    top, git_dir, common = dirs
    config = gitconfig.read(os.path.join(common, "config"), _KEYS)
    identity = (gitconfig.last(config, PIN_PROJECT) or "").strip()
    pinned = bool(identity)
    if not pinned:
        base = main_tree(common)
        urls = config.get("remote.origin.url")
        url = urls[0] if urls else None  # git fetches from the first
        identity = (normalise_url(url, base) if url else "") or base
    return Project(
        identity,
        top,
        git_dir,
        common_dir=common,
        pinned=pinned,
        root=_commit_hash(gitconfig.last(config, PIN_ROOT)),
        enabled=gitconfig.boolean(gitconfig.last(config, ENABLED), default=True),
    )


def pin(project: Project, repo: str, honour_env: bool = True, rev: str = "HEAD") -> None:
    """Pin `project`'s identity and its root commit in the repository's config, where not
    pinned yet (see the module docstring). Only `commit`, `grade` and `hooks install` call
    this: they run git anyway. Best effort: a config git cannot write (read-only, locked)
    leaves the project as it was, to be pinned next time; nothing else fails for it.

    `rev` names a commit whose history holds the root (a hash is cheapest for git).
    """
    if project.common_dir is None or not project.enabled:
        return
    if not project.pinned:
        try:
            _git(repo, "config", "--local", PIN_PROJECT, project.identity, honour_env=honour_env)
            project.pinned = True
        except GitError:
            return
    if project.root is None and not os.path.exists(os.path.join(project.common_dir, "shallow")):
        root = root_commit(repo, rev, honour_env)
        if root is not None:
            project.root = root  # for this commit, even if the pin cannot be written
            try:
                _git(repo, "config", "--local", PIN_ROOT, root, honour_env=honour_env)
            except GitError:
                return


def root_commit(repo: str, rev: str = "HEAD", honour_env: bool = True) -> str | None:
    """The root commit of `rev`'s history (of several, the smallest hash), or None: no
    commit yet, a shallow clone (its oldest commit is not the root), or git too slow."""
    try:
        out = _git(
            repo,
            "rev-list",
            "--max-parents=0",
            "--end-of-options",
            check_revision(rev, repo),
            "--",
            honour_env=honour_env,
            timeout=ROOT_TIMEOUT,
        )
    except GitError:
        return None
    roots = sorted(line.strip() for line in out.splitlines() if line.strip())
    return _commit_hash(roots[0]) if roots else None


def check_revision(rev: str, repo: str) -> str:
    """`rev` if git can only read it as a revision; git would take `--output=...` (or any
    text starting with `-`) as an option, so such a value is refused."""
    if not rev or rev.startswith("-"):
        raise GitError(f"{rev!r} is not a commit in {repo}")
    return rev


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


def _git(repo: str, *args: str, honour_env: bool = True, timeout: float | None = None) -> str:
    argv = ["git", "-C", repo, *args]
    try:
        code, out, err = _spawn(argv, os.environ if honour_env else clean_git_env(), timeout)
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH") from None
    except TimeoutError:
        raise GitError(f"git {args[0]} took more than {timeout} s in {repo}") from None
    if code != 0:
        message = err.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed in {repo}: {message[-1] if message else 'error'}")
    return out.decode("utf-8", "replace")


def _spawn(
    argv: list[str], env: Mapping[str, str], timeout: float | None
) -> tuple[int, bytes, bytes]:
    """(exit status, stdout, stderr) of a command, standard input from /dev/null.

    `os.posix_spawnp` and a poll loop rather than `subprocess`: importing `subprocess`
    (with `threading`, `selectors`, `signal`...) costs `commit` more than the git call it
    makes. TimeoutError (the child killed) after `timeout` seconds.
    """
    import select

    out_r, out_w = os.pipe()  # not inheritable (PEP 446): only the dup2'd ends reach git
    err_r, err_w = os.pipe()
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            pid = os.posix_spawnp(
                argv[0],
                argv,
                env,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, null, 0),
                    (os.POSIX_SPAWN_DUP2, out_w, 1),
                    (os.POSIX_SPAWN_DUP2, err_w, 2),
                ],
            )
        finally:
            os.close(null)
    except BaseException:
        for fd in (out_r, err_r):
            os.close(fd)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    poller = select.poll()
    for fd in chunks:
        poller.register(fd, select.POLLIN)
    open_fds = set(chunks)
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while open_fds:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic()) * 1000
            ready = poller.poll(wait)
            if not ready and deadline is not None and time.monotonic() >= deadline:
                os.kill(pid, 9)  # SIGKILL
                os.waitpid(pid, 0)
                raise TimeoutError
            for fd, _ in ready:
                data = os.read(fd, 65536)
                if data:
                    chunks[fd].append(data)
                else:
                    poller.unregister(fd)
                    open_fds.discard(fd)
        _, status = os.waitpid(pid, 0)
    finally:
        for fd in chunks:
            os.close(fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks[out_r]), b"".join(chunks[err_r])


def output(repo: str, *args: str, honour_env: bool = True) -> str:
    """What `git -C repo ARGS` prints; GitError (with git's message) when it fails."""
    return _git(repo, *args, honour_env=honour_env)


def resolve_commit(repo: str, rev: str, honour_env: bool = True) -> str:
    """The full hash of `rev` (a commit) in `repo`."""
    check_revision(rev, repo)
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
    check_revision(rev, repo)
    out = _git(
        repo,
        "-c",
        "core.quotepath=false",
        "log",
        "-1",
        "--no-renames",
        "--numstat",
        f"--format={_COMMIT_FORMAT}",
        "--end-of-options",
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


def _head_move(
    path: str, window: int, commit_hash: str | None
) -> tuple[tuple[str, str, str] | None, int]:
    """(the entry `Project.last_head_move` looks for in the last `window` bytes of the
    reflog at `path`, or None; the reflog's size)."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - window))
            tail = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return None, 0
    lines = tail.rstrip("\n").split("\n")
    if size > window:
        lines = lines[1:]  # the first may be cut
    found = None
    for line in reversed(lines):
        head, _, message = line.partition("\t")
        parts = head.split(" ", 2)
        if len(parts) < 3:
            continue
        if commit_hash is None:
            return (parts[0], parts[1], message), size
        if parts[1] == commit_hash:
            found = (parts[0], parts[1], message)  # an older one may follow
    return found, size
