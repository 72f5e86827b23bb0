"""The benchmark suite (bench/suite.py) runs end to end on tiny sizes, so it cannot rot.

No timing is asserted (CI machines are noisy, and --smoke enforces no target): what is checked
is that every row of issue 10's table was measured, with a command figure and a baseline, and
that nothing failed on the way (a failing command, a flush that left events pending, a
missing console script, a changed output format the suite relies on).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SUITE = Path(__file__).resolve().parent.parent / "bench" / "suite.py"
ROWS = {
    "commit-hooks",
    "push-hooks",
    "track",
    "commit",
    "grade",
    "flush-rss",
    "flush-speed",
    "year-size",
    "report",
}


@pytest.mark.slow
def test_the_smoke_run_of_the_suite_measures_every_row_of_the_table(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(SUITE), "--smoke", "--python", sys.executable, "--json", str(results)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads(results.read_text())
    assert {row["key"] for row in rows} == ROWS
    for row in rows:
        assert row["error"] is None, row
        assert row["measured"] > 0, row
        assert row["baseline"] > 0, row
        assert row["value"] is not None, row
        assert f"| {row['figure']} |" in done.stdout
    for what in ("CPU:", "RAM", "OS:", "py-lmdb", "temp folder:", "fdatasync"):
        assert what in done.stdout
