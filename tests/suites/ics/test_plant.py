"""Generation and verification: determinism, per-seed maps, unstable plants never served, and
the one-line errors on bad input."""

from __future__ import annotations

import json

import pytest

from prereview.suites.ics.attacks import attack_writes
from prereview.suites.ics.plant import PlantSpec, generate_plant
from prereview.suites.ics.plc import Plc, WriteRefused
from prereview.suites.ics.simulation import run
from prereview.suites.ics.spec import (
    IcsError,
    PlantKind,
    check_seed,
    parse_kind,
    parse_kinds,
    parse_tiers,
)
from prereview.suites.ics.verify import generate_verified, verify_plant


def test_same_key_same_plant_and_other_seed_other_map() -> None:
    a = generate_plant(7, 3, PlantKind.PIPELINE, 0)
    assert a.to_json() == generate_plant(7, 3, PlantKind.PIPELINE, 0).to_json()
    maps = {
        tuple((p.name, p.address) for p in generate_plant(s, 3, PlantKind.PIPELINE, 0).points)
        for s in range(6)
    }
    assert len(maps) == 6
    assert PlantSpec.from_json(a.to_json()) == a


def test_fast_forward_is_deterministic(substation3: PlantSpec) -> None:
    schedule = [(5.0, "x", attack_writes(substation3))]
    one = run(substation3, 60.0, schedule).obs.as_dict()
    two = run(substation3, 60.0, schedule).obs.as_dict()
    assert one == two


def test_unstable_plant_is_rejected_and_never_served() -> None:
    # a miswired (reverse-acting) loop diverges with no attack
    miswired = next(
        s
        for i in range(200)
        if (s := generate_plant(11, 2, PlantKind.WATER, i)).gains["kp_level"] < 0
    )
    v = verify_plant(miswired)
    assert not v.verified
    assert "stable unattacked" in [c.name for c in v.failures]
    served = generate_verified(11, 2, PlantKind.WATER, miswired.index + 1)
    assert all(p.verified for p in served.plants)
    assert miswired.instance_id not in {p.spec.instance_id for p in served.plants}
    assert miswired.instance_id in {r.spec.instance_id for r in served.rejected}


@pytest.mark.parametrize("kind", list(PlantKind))
def test_verified_plant_passes_every_check(kind: PlantKind) -> None:
    v = generate_verified(5, 5, kind, 1).plants[0]
    names = {c.name for c in v.checks}
    assert {
        "stable unattacked",
        "reference attack passes the limit",
        "interlock holds without its bypass",
        "reference attack unseen on the HMI",
        "reference defense keeps the process safe",
    } <= names
    assert v.verified


def test_plc_refuses_locked_and_protected_writes_and_clamps_setpoints() -> None:
    spec = generate_plant(3, 4, PlantKind.WATER, 0)
    plc = Plc(spec)
    with pytest.raises(WriteRefused, match="configuration is locked"):
        plc.write("mode", 1)
    assert plc.hr["mode"] == 0
    plc.write("sp_level_sp", 65535)
    assert plc.hr["sp_level_sp"] == round(0.7 * spec.params["height"] * 100)
    plc.write_protect = True
    with pytest.raises(WriteRefused, match="write protection is on"):
        plc.write("sp_level_sp", 1)
    assert plc.hr["sp_level_sp"] == round(0.7 * spec.params["height"] * 100)


def test_bad_input_one_line_errors() -> None:
    with pytest.raises(IcsError, match="unknown plant kind 'reactor': valid kinds are"):
        parse_kind("reactor")
    with pytest.raises(IcsError, match="tier 7 is outside 1-5"):
        parse_tiers("1,7")
    with pytest.raises(IcsError, match="is not a number 1-5"):
        parse_tiers(["x"])
    with pytest.raises(IcsError, match="not a list"):
        parse_kinds(3)
    with pytest.raises(IcsError, match="seed -1 is not an integer"):
        check_seed(-1)
    with pytest.raises(IcsError, match=r"^not a plant spec"):
        PlantSpec.from_json("{}")
    d = json.loads(generate_plant(1, 1, PlantKind.WATER, 0).to_json())
    d["kind"] = "reactor"
    with pytest.raises(IcsError, match="unknown kind 'reactor'"):
        PlantSpec.from_json(json.dumps(d))
