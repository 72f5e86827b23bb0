"""The fingerprint of the instruction files an agent worked with.

Two agents with the same model can behave very differently under other instructions, so
every session records a short fingerprint of its instruction files and the report can tell
"same model, other instructions" apart (`report --by instructions`).

The files: those the harness says it loaded (Claude Code's `InstructionsLoaded` hook), else
the usual ones in the project's top folder: `AGENTS.md`, `CLAUDE.md`, `CLAUDE.local.md`,
`.claude/CLAUDE.md`, and OpenCode's agent definitions `.opencode/agent/*.md` (and `agents/`).
The fingerprint covers each file's name (relative to the project, or `~/...` for the person's
own files, so it is the same on every machine and checkout) and its bytes, so renaming or
editing any of them changes it; no file at all gives no fingerprint. The files Claude Code
reports loading join the session's set as they arrive, early in a session.

It is computed with zlib's CRC-32 and Adler-32 (16 hex digits): this runs in hook calls, where
`hashlib` would load OpenSSL for a value that only has to tell versions of a few files apart.
"""

from __future__ import annotations

import os
import zlib

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from collections.abc import Iterable

PROJECT_FILES = ("AGENTS.md", "CLAUDE.md", "CLAUDE.local.md", os.path.join(".claude", "CLAUDE.md"))
AGENT_FOLDERS = (os.path.join(".opencode", "agent"), os.path.join(".opencode", "agents"))
#: A larger instruction file is fingerprinted by its first this many bytes and its size.
MAX_BYTES = 1 << 20
MAX_FILES = 64


def project_files(top: str) -> list[str]:
    """The instruction files present in the project folder `top`."""
    found = [os.path.join(top, name) for name in PROJECT_FILES]
    for folder in AGENT_FOLDERS:
        path = os.path.join(top, folder)
        try:
            names = sorted(n for n in os.listdir(path) if n.endswith(".md"))
        except OSError:
            continue
        found.extend(os.path.join(path, name) for name in names[:MAX_FILES])
    return [path for path in found if os.path.isfile(path)]


def fingerprint(paths: Iterable[str], top: str | None = None) -> str | None:
    """16 hex digits over the names (relative to `top`) and bytes of `paths`; None if no
    file could be read."""
    crc, adler, read = 0, 1, 0
    for path in sorted(set(paths)):
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_BYTES)
                size = os.fstat(handle.fileno()).st_size
        except OSError:
            continue
        name = _portable_name(path, top)
        header = f"{name}\x00{size}\x00".encode("utf-8", "replace")
        crc = zlib.crc32(data, zlib.crc32(header, crc))
        adler = zlib.adler32(data, zlib.adler32(header, adler))
        read += 1
    if not read:
        return None
    return f"{crc:08x}{adler:08x}"


def _portable_name(path: str, top: str | None) -> str:
    """The file's name as the same on every machine and checkout: relative to the project,
    else to the home folder (`~/.claude/CLAUDE.md`), else just its name."""
    absolute = os.path.abspath(path)
    for base, prefix in ((top, ""), (os.path.expanduser("~"), "~/")):
        if base and absolute.startswith(os.path.abspath(base) + os.sep):
            return prefix + os.path.relpath(absolute, base)
    return os.path.basename(absolute)


def of_project(top: str) -> str | None:
    """The fingerprint of the instruction files in the project folder `top`."""
    return fingerprint(project_files(top), top)
