from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prereview.cli.main import app
from prereview.suites.interface import RUNG_FOUND, RungResult
from prereview.suites.memsafety.instance import Instance
from prereview.suites.memsafety.ladder import run as ladder_run
from prereview.suites.memsafety.ladder.run import LADDER, LadderRun

runner = CliRunner()


def test_list_names_tasks_tiers_and_bug_classes() -> None:
    result = runner.invoke(app, ["tasks", "list", "--json"])
    assert result.exit_code == 0, result.output
    families = {f["family"]: f for f in json.loads(result.stdout)}
    family = families["memsafety"]  # registered through the `prereview.families` entry point
    assert family["problem"] is None and "memsafety-quick" in family["suites"]
    assert "prereview/memsafety_poc" in family["inspect_tasks"]
    assert family["tiers"]["5"] == "frontier" and family["bug_classes"]["double-free"] == "CWE-415"


def test_bad_options_exit_2_with_the_valid_values(tmp_path: Path) -> None:
    base = ["tasks", "generate", "memsafety", "--seed", "1", "--out", str(tmp_path)]
    cases = [
        ([*base, "--tier", "6"], "non-expert"),
        ([*base, "--tier", "1", "--bug-class", "rowhammer"], "use-after-free"),
        ([*base, "--tier", "1", "--count", "0"], "count"),
        (
            ["tasks", "generate", "webapps", "--seed", "1", "--tier", "1", "--out", str(tmp_path)],
            "memsafety",
        ),
        (["tasks", "verify", str(tmp_path / "nowhere")], "does not exist"),
    ]
    for argv, needle in cases:
        result = runner.invoke(app, argv)
        assert result.exit_code == 2, (argv, result.output)
        assert needle in result.output
        assert "Traceback" not in result.output


def test_generate_then_verify(tmp_path: Path) -> None:
    out = tmp_path / "instances"
    argv = [
        "tasks",
        "generate",
        "memsafety",
        "--seed",
        "9",
        "--tier",
        "apprentice",
        "--count",
        "2",
        "--bug-class",
        "double-free",
        "--bug-class",
        "oob-read",
        "--out",
        str(out),
        "--json",
    ]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["bug_class"] for r in data["instances"]] == ["double-free", "out-of-bounds-read"]
    assert data["rejected"] == []
    result = runner.invoke(app, ["tasks", "verify", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verified"] == 2


def test_verify_exits_1_on_a_broken_instance(instances: list[Instance], tmp_path: Path) -> None:
    inst = instances[0]
    broken = tmp_path / inst.id
    shutil.copytree(inst.path, broken)
    (broken / "ground_truth" / "poc.bin").write_bytes(b"nothing to see")
    result = runner.invoke(app, ["tasks", "verify", str(broken), "--json"])
    assert result.exit_code == 1
    (row,) = json.loads(result.stdout)["instances"]
    failed = {f["check"] for f in row["failures"]}
    assert "PoC crashes the vulnerable build at the planted bug" in failed
    assert "ground_truth/poc.bin matches its recorded hash" in failed


def test_generate_with_a_ladder_budget_places_each_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--ladder-budget` reaches tier placement: the ladder runs on each verified instance with
    that budget, and the served instance carries its measured difficulty."""
    budgets: list[float] = []

    def in_band(inst: Instance, budget_s: float, **_: object) -> LadderRun:
        budgets.append(budget_s)
        results = tuple(
            RungResult(n, RUNG_FOUND if k == 0 else "skipped", 0.5 if k == 0 else None, budget_s)
            for k, n in enumerate(LADDER.names)
        )
        return LadderRun(inst.id, inst.tier, results, 0.5 / budget_s, 1.0)

    monkeypatch.setattr(ladder_run, "run_ladder", in_band)
    out = tmp_path / "placed"
    argv = ["tasks", "generate", "memsafety", "--seed", "4", "--tier", "1", "--out", str(out)]
    result = runner.invoke(app, [*argv, "--ladder-budget", "7.5", "--jobs", "1", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["instances"]
    assert budgets == [7.5] and row["difficulty"] == pytest.approx(0.5 / 7.5)
    assert (out / row["id"] / "instance.json").is_file()


def test_a_bad_ladder_budget_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    for family, budget, needle in (
        ("memsafety", "-3", "from 1 to 3600"),
        ("memsafety", "soon", "Invalid value for '--ladder-budget'"),
        ("webexploit", "5", "webexploit has no tier placement"),
    ):
        argv = ["tasks", "generate", family, "--seed", "1", "--tier", "1", "--out", str(out)]
        result = runner.invoke(app, [*argv, "--ladder-budget", budget])
        assert result.exit_code == 2, (family, budget, result.output)
        assert needle in result.output and "Traceback" not in result.output
        assert not out.exists()
