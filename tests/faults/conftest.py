"""The fault-injection suite: every case injects a named fault and checks exact totals.

Each case reports what it did to the session's ledger (`ledger.record(...)`): how many
faults it injected, how many events it checked afterwards, and how many of those were lost
or duplicated, and how many tracebacks any process printed. The terminal summary prints the
ledger, and `AGENT_TRACKER_FAULT_LEDGER=<file>` also writes it as JSON (the README's
"Reliability" figures come from such a run).

Everything here runs in the default `pytest` run (marker `faults`); `pytest -m faults
--no-cov` runs only the suite. The folder is a package (`faults.conftest`), so that its
conftest and the one in `tests/` do not shadow each other: cases import helpers with
`from faults.conftest import tracker` and the shared ones with `from conftest import ...`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
KILL_AT = HERE / "kill_at.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.faults)


@dataclass
class Case:
    fault: str
    expected: str
    injected: int = 0
    checked: int = 0
    lost: int = 0
    duplicated: int = 0
    tracebacks: int = 0


@dataclass
class Ledger:
    cases: list[Case] = field(default_factory=list)

    def record(
        self,
        fault: str,
        expected: str,
        *,
        injected: int = 1,
        checked: int = 0,
        lost: int = 0,
        duplicated: int = 0,
        tracebacks: int = 0,
    ) -> None:
        """Note one case's figures (call it after the case's assertions passed or failed:
        the figures are what was observed, the assertions what was required)."""
        self.cases.append(Case(fault, expected, injected, checked, lost, duplicated, tracebacks))

    def totals(self) -> dict[str, int]:
        keys = ("injected", "checked", "lost", "duplicated", "tracebacks")
        sums = {key: sum(getattr(case, key) for case in self.cases) for key in keys}
        return {"cases": len(self.cases), **sums}


_LEDGER = Ledger()


@pytest.fixture
def ledger() -> Ledger:
    return _LEDGER


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _LEDGER.cases:
        return
    totals = _LEDGER.totals()
    terminalreporter.write_sep("-", "fault-injection ledger")
    terminalreporter.write_line(
        "{cases} cases, {injected} faults injected, {checked} events checked, "
        "{lost} lost, {duplicated} duplicated, {tracebacks} tracebacks".format(**totals)
    )
    target = os.environ.get("AGENT_TRACKER_FAULT_LEDGER")
    if target:
        data = {"totals": totals, "cases": [asdict(case) for case in _LEDGER.cases]}
        Path(target).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def has_traceback(text: str) -> bool:
    return "Traceback (most recent call last)" in text


def tracker(
    *args: str,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    stdin: str | bytes | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """agent-tracker as a separate process (`python -m agent_tracker ARGS`), bounded in time."""
    data = stdin.encode() if isinstance(stdin, str) else stdin
    done = subprocess.run(
        [sys.executable, "-m", "agent_tracker", *args],
        cwd=cwd,
        env=env,
        input=data,
        capture_output=True,
        check=False,
        timeout=timeout,
    )
    return subprocess.CompletedProcess(
        done.args,
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


def killed_at(point: str, args: Sequence[str], timeout: float = 60) -> int:
    """Run `agent-tracker ARGS` in a process that SIGKILLs itself at the named point (see
    kill_at.py); its exit status (-9 when the point was reached)."""
    done = subprocess.run(
        [sys.executable, str(KILL_AT), point, *args],
        capture_output=True,
        check=False,
        timeout=timeout,
    )
    return done.returncode
