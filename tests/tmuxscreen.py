"""A real terminal for tests: a command run in a detached tmux session of a given width,
and the screen it left (bounded: every tmux call has a timeout, the server is ended)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def tmux_screen(
    tmp_path: Path,
    command: str,
    *,
    width: int = 120,
    height: int = 100,
    env: dict[str, str] | None = None,
    escapes: bool = False,
) -> str:
    """The screen after `command` ran in a `width`-column tmux terminal; wrapped lines come
    back joined (longer than `width`); with `escapes`, its colour escape sequences too."""
    socket = tmp_path / "tmux.sock"
    full = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
    full.update(env or {})
    tmux = ["tmux", "-S", str(socket), "-f", os.devnull]
    script = tmp_path / "run.sh"
    script.write_text(f"{command}\ntmux -S {socket} wait-for -S done\nsleep 60\n")
    size = ["-x", str(width), "-y", str(height)]
    subprocess.run(
        [*tmux, "new-session", "-d", *size, "sh", str(script)], env=full, check=True, timeout=20
    )
    try:
        subprocess.run([*tmux, "wait-for", "done"], env=full, check=True, timeout=60)
        time.sleep(0.2)  # the last output reaches the pane
        capture = [*tmux, "capture-pane", "-p", *(["-e"] if escapes else []), "-J", "-t", "0"]
        return subprocess.run(
            capture, env=full, check=True, capture_output=True, text=True, timeout=20
        ).stdout
    finally:
        subprocess.run([*tmux, "kill-server"], env=full, check=False, timeout=20)
