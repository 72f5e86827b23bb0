"""The real coding clients, installed once from the npm registry and reused.

`python3 tests/e2e/clients.py` (what .ci/run does) installs Claude Code, Codex and OpenCode
at the versions below into one folder: `$AGENT_TRACKER_E2E_CLIENTS` when set, else
`.ci/clients` in the checkout. The tests call `find()`, which installs them the first time
when nobody did, and otherwise reuses what is there. Every outcome is written to
`status.json` in that folder, so a failed install (no Node.js, no registry, a platform the
clients do not ship for) is tried once and then gives each test the same visible reason to
skip, until that file is deleted.

Only the standard library: .ci/run runs this before the project's virtual environment exists.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# name -> (npm package, exact version, the command it puts in node_modules/.bin)
PACKAGES = {
    "claude": ("@anthropic-ai/claude-code", "2.1.332", "claude"),
    "codex": ("@openai/codex", "0.171.0", "codex"),
    "opencode": ("opencode-ai", "1.18.33", "opencode"),
}
INSTALL_TIMEOUT = 600  # seconds for the whole `npm install` (35 s seen with a warm registry)
VERSION_TIMEOUT = 60

# Read when this module is imported, before the tests' autouse fixture replaces HOME and
# drops AGENT_TRACKER_* variables: npm must run with the machine's own configuration.
_ORIGINAL_ENV = dict(os.environ)
ROOT = Path(
    _ORIGINAL_ENV.get("AGENT_TRACKER_E2E_CLIENTS")
    or Path(__file__).resolve().parents[2] / ".ci" / "clients"
)
STATUS = ROOT / "status.json"


@dataclass(frozen=True)
class Clients:
    """Where the installed clients are: `bin("claude")` is the command to run."""

    root: Path

    def bin(self, name: str) -> Path:
        return self.root / "node_modules" / ".bin" / PACKAGES[name][2]


def _installed_versions() -> dict[str, str]:
    found = {}
    for name, (package, _, _) in PACKAGES.items():
        manifest = ROOT / "node_modules" / package / "package.json"
        try:
            found[name] = json.loads(manifest.read_text(encoding="utf-8")).get("version", "")
        except (OSError, ValueError):
            found[name] = ""
    return found


def _problem_with_installed() -> str | None:
    """None when every client is there at its pinned version and answers `--version`."""
    versions = _installed_versions()
    clients = Clients(ROOT)
    for name, (package, version, _) in PACKAGES.items():
        if versions[name] != version:
            return f"{package}@{version} is not installed in {ROOT}"
        try:
            done = subprocess.run(
                [str(clients.bin(name)), "--version"],
                capture_output=True,
                text=True,
                timeout=VERSION_TIMEOUT,
                env=_ORIGINAL_ENV,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"{package}@{version} does not run here: {error}"
        if done.returncode != 0 or version not in done.stdout:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
            return f"{package}@{version} does not run here: {' '.join(tail) or done.returncode}"
    return None


def _write_status(ok: bool, reason: str) -> None:
    ROOT.mkdir(parents=True, exist_ok=True)
    STATUS.write_text(json.dumps({"ok": ok, "reason": reason, "time": time.time()}) + "\n")


def install() -> str | None:
    """Install the clients (bounded in time); None on success, else why not."""
    ROOT.mkdir(parents=True, exist_ok=True)
    # Never committed by accident: git ignores a folder whose .gitignore says "*".
    (ROOT / ".gitignore").write_text("*\n")
    _write_status(False, "the install started but did not finish (interrupted or timed out)")
    npm = shutil.which("npm", path=_ORIGINAL_ENV.get("PATH"))
    node = shutil.which("node", path=_ORIGINAL_ENV.get("PATH"))
    if npm is None or node is None:
        reason = "Node.js and npm are not on PATH"
        _write_status(False, reason)
        return reason
    manifest = {
        "name": "agent-tracker-e2e-clients",
        "private": True,
        "dependencies": {package: version for package, version, _ in PACKAGES.values()},
    }
    (ROOT / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    started = time.monotonic()
    try:
        done = subprocess.run(
            [npm, "install", "--prefix", str(ROOT), "--no-audit", "--no-fund", "--loglevel=error"],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            env=_ORIGINAL_ENV,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        reason = f"npm install did not finish within {INSTALL_TIMEOUT} s (registry unreachable?)"
        _write_status(False, reason)
        return reason
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = f"npm install failed ({done.returncode}): {' | '.join(lines[-3:])}"
        _write_status(False, reason)
        return reason
    problem = _problem_with_installed()
    took = time.monotonic() - started
    _write_status(problem is None, problem or f"installed in {took:.0f} s")
    return problem


def find() -> Clients | str:
    """The installed clients, installing them if nobody tried yet; else why they are missing."""
    if _problem_with_installed() is None:
        return Clients(ROOT)
    try:
        status = json.loads(STATUS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        status = None
    if status is not None and not status.get("ok"):
        return f"{status.get('reason')} (delete {STATUS} to try again)"
    problem = install()
    return Clients(ROOT) if problem is None else problem


def main() -> int:
    """Install for .ci/run: one line of outcome, exit 0 either way (the tests then skip)."""
    problem = _problem_with_installed()
    if problem is None:
        _write_status(True, "already installed")
    else:
        problem = install()
    if problem is None:
        print(f"e2e clients: ready in {ROOT}")
    else:
        print(f"e2e clients: not installed, tests/e2e will be skipped: {problem}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
