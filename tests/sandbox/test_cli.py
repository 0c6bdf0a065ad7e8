"""`prereview sandbox check | cleanup` through the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from prereview.cli.main import app
from tests.sandbox.conftest import needs_bwrap


@needs_bwrap
@pytest.mark.slow
def test_check_reports_every_property_passing() -> None:
    result = CliRunner().invoke(app, ["sandbox", "check", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    names = [p["name"] for p in report["properties"]]
    assert len(names) >= 10
    assert "no network but loopback" in names


def test_cleanup_runs_and_says_what_it_removed() -> None:
    result = CliRunner().invoke(app, ["sandbox", "cleanup", "--json"])
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads(result.output)["removed"], list)
