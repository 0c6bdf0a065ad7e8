"""`prereview demo`, the main job end to end on the embedded model, as `make demo` runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.llm]

PREREVIEW = str(Path(sys.executable).parent / "prereview")


def _run(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREREVIEW_HOME": str(home)}
    return subprocess.run(
        [PREREVIEW, *args], env=env, capture_output=True, text=True, timeout=900, check=False
    )


def test_demo_runs_the_review_and_ends_with_the_report_path(prereview_home: Path) -> None:
    assert _run(["init"], prereview_home).returncode == 0
    demo = _run(["demo"], prereview_home)
    assert demo.returncode == 0, demo.stderr[-2000:]
    last = demo.stdout.strip().splitlines()[-1]
    assert last.startswith("report: ")
    report = Path(last.removeprefix("report: "))
    assert report.is_file()
    assert report.parent == prereview_home / "reports"
    html = report.read_text()
    assert "CUI//SP-PCII" in html
    assert "not a license or preclearance" in html
    # the non-AI baseline ladder ran on the same instances, its first rung found crashes
    ladder = r"Baseline ladder, weakest rung first \(crashed / n\): libfuzzer \d+ / \d+"
    assert re.search(ladder, html)
    for word in ("approved", "denied", "blocked"):
        assert word not in html.lower()

    listing = json.loads(_run(["list", "--json"], prereview_home).stdout)
    (submission,) = listing
    status = json.loads(_run(["status", submission["id"], "--json"], prereview_home).stdout)
    assert status["state"] == "findings_delivered"
    assert _run(["audit", "verify"], prereview_home).returncode == 0
