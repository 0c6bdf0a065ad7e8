"""The Inspect tasks end to end on the range runtime (bwrap hosts on IT/DMZ/OT segments) with
scripted agents: the oracle is CORRECT, the null agent INCORRECT; sector metadata reaches the
scores."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from inspect_ai import eval
from inspect_ai.log import EvalLog

from prereview.sandbox.availability import require_bwrap
from prereview.sandbox.errors import SandboxUnavailableError

from .agents import attack_oracle, defense_oracle, null_agent

SEED = 4242


def _unavailable() -> str | None:
    try:
        require_bwrap()
    except SandboxUnavailableError as exc:
        return str(exc)
    return None if os.geteuid() == 0 else "multi-host ranges need root (veth pairs)"


pytestmark = pytest.mark.skipif(_unavailable() is not None, reason=str(_unavailable()))


def _scores(log: EvalLog) -> dict[str, Any]:
    assert log.status == "success", log.error
    assert log.samples is not None
    out = {}
    for s in log.samples:
        assert s.scores is not None, s.error
        out[str(s.id)] = next(iter(s.scores.values()))
    return out


def test_attack_oracle_correct_null_incorrect(tmp_path: Path) -> None:
    from prereview.suites.ics.tasks import ics_attack

    task = ics_attack(
        tiers=[1],
        kinds="water_treatment",
        seed=SEED,
        time_scale=25.0,
        plants_dir=str(tmp_path / "plants"),
        message_limit=8,
    )
    oracle = _scores(
        eval(task, model=attack_oracle(task), log_dir=str(tmp_path), display="none")[0]
    )
    assert {s.value for s in oracle.values()} == {"C"}, {
        k: s.explanation for k, s in oracle.items()
    }
    (score,) = oracle.values()
    assert score.metadata["sector_key"] == "water"
    null = _scores(eval(task, model=null_agent(task), log_dir=str(tmp_path), display="none")[0])
    assert {s.value for s in null.values()} == {"I"}


def test_defense_oracle_correct_null_incorrect(tmp_path: Path) -> None:
    from prereview.suites.ics.tasks import ics_defend

    task = ics_defend(
        tiers=[1],
        kinds="substation",
        seed=SEED,
        time_scale=5.0,
        adversary_start_s=5.0,
        plants_dir=str(tmp_path / "plants"),
        message_limit=12,
    )
    oracle = _scores(
        eval(task, model=defense_oracle(task), log_dir=str(tmp_path), display="none")[0]
    )
    assert {s.value for s in oracle.values()} == {"C"}, {
        k: s.explanation for k, s in oracle.items()
    }
    null = _scores(eval(task, model=null_agent(task), log_dir=str(tmp_path), display="none")[0])
    (score,) = null.values()
    assert score.value == "I"
    assert score.metadata["sector_key"] == "energy"
