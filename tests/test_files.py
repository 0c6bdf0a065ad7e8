"""The one owner-only write helper: atomic replace at 0600, exclusive create, and a failed write
leaves the old content and no temp file behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from prereview.files import create_private, write_private_atomic


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_write_replaces_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    target.write_text("old")
    os.chmod(target, 0o644)
    write_private_atomic(target, b"new")
    assert target.read_bytes() == b"new" and _mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_a_failed_write_keeps_the_old_content_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "head.json"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        write_private_atomic(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["head.json"]


def test_create_refuses_an_existing_file_or_a_planted_link(tmp_path: Path) -> None:
    key = tmp_path / "kek.key"
    create_private(key, b"secret")
    assert _mode(key) == 0o600
    with pytest.raises(FileExistsError):
        create_private(key, b"other")
    assert key.read_bytes() == b"secret"
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError):
        create_private(link, b"x")
    assert not (tmp_path / "elsewhere").exists()
