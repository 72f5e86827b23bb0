from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_the_hook_scripts_and_the_console_script(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("agent_tracker-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for hook in ("post-commit", "pre-push"):
            shipped = archive.read(f"agent_tracker/hooks/{hook}")
            assert shipped == (ROOT / "hooks" / hook).read_bytes()
        shipped = archive.read("agent_tracker/export-legacy.mjs")
        assert shipped == (ROOT / "examples" / "export-legacy.mjs").read_bytes()
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "agent-tracker = agent_tracker.entry:main" in archive.read(entry_points).decode()


def test_typer_stays_below_the_release_that_needs_pydantic() -> None:
    """Typer 0.29 coerces every option through a pydantic TypeAdapter: ~0.1 s more for each
    command a person types (issue 10). The pin must hold, and so must the installed copy."""
    import tomllib
    from importlib import metadata

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    typer_pins = [dep for dep in project["project"]["dependencies"] if dep.startswith("typer")]
    assert typer_pins == ["typer>=0.12,<0.29"]
    major, minor = (int(part) for part in metadata.version("typer").split(".")[:2])
    assert (major, minor) < (0, 29)
    assert not [req for req in metadata.requires("typer") or [] if req.startswith("pydantic")]
