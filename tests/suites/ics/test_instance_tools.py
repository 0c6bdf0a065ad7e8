"""`prereview tasks generate|verify|baseline --family ics`: verified plant files, re-checked from
their seed, attacked and defended by the non-AI baselines; bad input refused before writing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.suites.ics.plant import PlantSpec

SEED = 20261203


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def _generate(cli: CliRunner, out: Path, *extra: str) -> dict[str, list[dict[str, object]]]:
    args = ["tasks", "generate", "ics", "--seed", str(SEED), "--tier", "1", "--out", str(out)]
    result = cli.invoke(app, [*args, *extra, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, list[dict[str, object]]] = json.loads(result.stdout)
    return data


def test_generate_writes_verified_owner_only_plants(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "plants"
    data = _generate(cli, out, "--bug-class", "water_treatment", "--count", "2")
    ids = [row["id"] for row in data["instances"]]
    assert len(set(ids)) == 2
    assert {row["sector"] for row in data["instances"]} == {"Water and Wastewater Systems"}
    files = sorted(out.glob("*.json"))
    assert [f.stem for f in files] == sorted(str(i) for i in ids)
    for f in files:
        assert f.stat().st_mode & 0o077 == 0  # ground truth: owner only
        spec = PlantSpec.from_json(f.read_text())
        assert (spec.tier, spec.kind, spec.seed) == (1, "water_treatment", SEED)
    again = _generate(cli, tmp_path / "again", "--bug-class", "water_treatment", "--count", "2")
    assert [row["id"] for row in again["instances"]] == ids  # same seed, same plants


def test_verify_passes_generated_plants_and_fails_an_edited_one(
    cli: CliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "plants"
    _generate(cli, out, "--bug-class", "substation")
    ok = cli.invoke(app, ["tasks", "verify", str(out), "--family", "ics", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["verified"] == 1
    (path,) = out.glob("*.json")
    d = json.loads(path.read_text())
    d["bypass_value"] = d.get("bypass_value", 0) + 1  # an edited ground truth
    path.write_text(json.dumps(d))
    bad = cli.invoke(app, ["tasks", "verify", str(out), "--family", "ics", "--json"])
    assert bad.exit_code == 1
    (row,) = json.loads(bad.stdout)["instances"]
    assert row["status"] == "FAILED" and row["failed"]


def test_baseline_attacks_and_defends_a_tier1_plant(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "plants"
    _generate(cli, out, "--bug-class", "water_treatment")
    result = cli.invoke(
        app, ["tasks", "baseline", str(out), "--family", "ics", "--budget", "8", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["results"]
    assert {r["solver"] for r in rows} == {"Modbus scanner-and-writer", "rule-based detector"}
    assert all(r["family"] == "ics" and r["tier"] == 1 for r in rows)
    # tier 1 gives the scanner the point map, and the detector sees a lone unknown master
    assert all(r["found"] for r in rows), rows


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tier", "9"], "unknown tier '9': valid tiers are 1-5"),
        (["--tier", "1", "--bug-class", "reactor"], "unknown plant kind 'reactor'"),
    ],
)
def test_generate_refuses_bad_input_before_writing(
    cli: CliRunner, tmp_path: Path, extra: list[str], message: str
) -> None:
    out = tmp_path / "plants"
    args = ["tasks", "generate", "ics", "--seed", "1", "--out", str(out), *extra, "--json"]
    result = cli.invoke(app, args)  # --json: no progress bar, only the error on stderr
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"error: {result.output.strip()[7:]}"]
    assert message in result.output
    assert not out.exists()


def test_verify_and_baseline_refuse_a_directory_without_plants(
    cli: CliRunner, tmp_path: Path
) -> None:
    for command in ("verify", "baseline"):
        result = cli.invoke(app, ["tasks", command, str(tmp_path), "--family", "ics"])
        assert result.exit_code != 0
        assert "no ICS plant files" in result.output
