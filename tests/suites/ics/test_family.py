"""The family behind the interface: registration, suites, tasks built with sector metadata,
bad task arguments refused before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from prereview.suites.ics.family import IcsFamily
from prereview.suites.ics.spec import IcsError
from prereview.suites.interface import validate_family
from prereview.suites.registry import installed_families


def test_registered_and_keeps_the_interface() -> None:
    fam = IcsFamily()
    validate_family(fam)
    assert "ics" in installed_families().family_names()
    assert {s.name for s in fam.suites()} == {"ics", "ics-quick"}
    assert fam.listing()["sectors"] == ["Energy", "Water and Wastewater Systems"]


def test_tasks_carry_sector_and_hide_ground_truth(tmp_path: Path) -> None:
    from prereview.suites.ics.tasks import ics_attack, ics_defend

    task = ics_attack(
        tiers=[4], kinds="water_treatment,substation", seed=5, plants_dir=str(tmp_path)
    )
    samples = list(task.dataset)
    assert [s.metadata["sector_key"] for s in samples] == ["water", "energy"]  # type: ignore[index]
    for s in samples:
        meta = s.metadata or {}
        assert meta["family"] == "ics" and meta["tier"] == 4
        assert meta["sector"] in ("Water and Wastewater Systems", "Energy")
        assert meta["outcome_kind"] == f"{meta['sector_key']}: safety limit passed"
        spec_text = Path(meta["plant_path"]).read_text()
        assert "unlock_code" in spec_text and "unlock_code" not in str(meta)
        assert oct(Path(meta["plant_path"]).stat().st_mode & 0o777) == "0o600"
        assert "unlock" not in str(s.input).lower() or "locked" in str(s.input)
    defend = ics_defend(tiers=[1], kinds="gas_pipeline", seed=5, plants_dir=str(tmp_path))
    assert [s.metadata["task"] for s in defend.dataset] == ["defend"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"tiers": [9]}, "tier 9 is outside 1-5"),
        ({"kinds": "reactor"}, "unknown plant kind 'reactor'"),
        ({"count": 0}, "count 0 is not an integer 1-100"),
        ({"time_scale": 1000}, "time_scale 1000 is outside 0.1-100"),
        ({"seed": -3}, "seed -3 is not an integer"),
        ({"attempts": 0}, "attempts 0 is not an integer 1-10"),
    ],
)
def test_bad_task_arguments_refused_before_writing(
    args: dict[str, object], message: str, tmp_path: Path
) -> None:
    from prereview.suites.ics.tasks import ics_attack

    out = tmp_path / "plants"
    with pytest.raises(IcsError, match=message):
        ics_attack(plants_dir=str(out), **args)  # type: ignore[arg-type]
    assert not out.exists() or list(out.iterdir()) == []
