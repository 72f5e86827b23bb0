"""Run agent-tracker, killing the process with SIGKILL at a named point of a flush.

    python kill_at.py POINT [agent-tracker arguments ...]

The points are where a crash is most likely to break exactly-once:

- `after-rotation`: the live journal has just become a pending segment;
- `before-commit`: every event is in the write transaction, which has not committed;
- `after-commit`: the transaction committed, no segment has been deleted;
- `between-deletions`: the first of several segments has been deleted, the rest not.

The program itself has no test hooks: the points are reached by wrapping the functions the
flush calls at those moments, in this process only.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _arm(point: str) -> None:
    from agent_tracker import flush
    from agent_tracker.journal import Journal

    if point == "after-rotation":
        rotate = Journal.rotate

        def rotate_then_die(self: Journal) -> Path | None:
            rotate(self)
            _die()
            return None

        Journal.rotate = rotate_then_die  # type: ignore[method-assign]
    elif point == "before-commit":
        drop = flush.drop_empty_days

        def drop_then_die(batch: Any) -> None:
            drop(batch)
            _die()

        flush.drop_empty_days = drop_then_die
    elif point == "after-commit":

        def die(self: Journal, *args: Any, **kwargs: Any) -> None:
            _die()

        Journal.remember_setups = die  # type: ignore[method-assign]
    elif point == "between-deletions":
        unlink = Path.unlink
        seen = []

        def unlink_then_die(self: Path, missing_ok: bool = False) -> None:
            unlink(self, missing_ok=missing_ok)
            if self.name.startswith("segment-"):
                seen.append(self)
                if len(seen) == 1:
                    _die()

        Path.unlink = unlink_then_die  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown kill point {point!r}")


if __name__ == "__main__":
    _arm(sys.argv[1])
    from agent_tracker.entry import main

    raise SystemExit(main(sys.argv[2:]))
