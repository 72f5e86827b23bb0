"""Atomic, private writes: the one helper every module uses."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agent_tracker import fsio


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "files"
    path.mkdir()
    return path


def test_atomic_write_creates_a_private_file_even_under_umask_000(folder: Path) -> None:
    old = os.umask(0)
    try:
        fsio.atomic_write(folder / "f", b"data")
    finally:
        os.umask(old)
    assert (folder / "f").read_bytes() == b"data"
    assert stat.S_IMODE((folder / "f").stat().st_mode) == 0o600
    assert [p.name for p in folder.iterdir()] == ["f"]


def test_atomic_write_can_give_a_wider_mode_on_purpose(folder: Path) -> None:
    fsio.atomic_write(folder / "hook", b"#!/bin/sh\n", 0o755)
    assert stat.S_IMODE((folder / "hook").stat().st_mode) == 0o755


def test_atomic_write_replaces_a_symlink_instead_of_writing_through_it(folder: Path) -> None:
    victim = folder / "victim"
    victim.write_bytes(b"keep")
    (folder / "f").symlink_to(victim)
    fsio.atomic_write(folder / "f", b"new")
    assert victim.read_bytes() == b"keep"
    assert not (folder / "f").is_symlink()


def test_a_failed_write_leaves_the_old_file_and_no_temporary(folder: Path) -> None:
    (folder / "f").write_bytes(b"old")
    with pytest.raises(TypeError):
        fsio.atomic_write(folder / "f", "not bytes")  # type: ignore[arg-type]
    assert (folder / "f").read_bytes() == b"old"
    assert [p.name for p in folder.iterdir()] == ["f"]


def test_open_private_refuses_a_symlink(folder: Path) -> None:
    (folder / "target").write_bytes(b"")
    (folder / "link").symlink_to(folder / "target")
    with pytest.raises(OSError):
        fsio.open_private(folder / "link", os.O_WRONLY | os.O_APPEND | os.O_CREAT)


def test_open_private_narrows_a_file_left_world_readable(folder: Path) -> None:
    path = folder / "f"
    path.write_bytes(b"")
    path.chmod(0o666)
    os.close(fsio.open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
