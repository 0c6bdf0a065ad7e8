"""The two-command setup: system packages and idempotent installs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_without_apt_get_make_lists_the_packages_and_stops(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("bash", "grep", "id"):  # a machine with a shell but no dpkg/apt-get
        found = shutil.which(tool)
        assert found is not None
        (bindir / tool).symlink_to(found)
    proc = subprocess.run(
        [str(bindir / "bash"), str(ROOT / "scripts" / "install-system.sh")],
        env={"PATH": str(bindir)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "bubblewrap" in proc.stderr
    assert "gcc" in proc.stderr
    assert "apt-get is not available" in proc.stderr


def test_system_packages_check_is_a_no_op_when_all_are_installed() -> None:
    proc = subprocess.run(
        [str(ROOT / "scripts" / "install-system.sh")],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ},
    )
    assert proc.returncode == 0
    assert proc.stdout == ""  # nothing to install, nothing printed


def test_second_make_run_rebuilds_nothing() -> None:
    proc = subprocess.run(
        ["make", "-n", "install"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "pip wheel" not in proc.stdout
    assert "pip install" not in proc.stdout
    assert "venv" not in proc.stdout
