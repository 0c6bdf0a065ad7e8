"""One baseline (or scripted) trial against a live plant on loopback: start it, act over the
wire, grade from the plant's own record. Used by the family's baseline, tests and benchmarks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from prereview.suites.ics.attacks import restore_writes
from prereview.suites.ics.baseline import OffenseResult, ScannerWriter, detect
from prereview.suites.ics.grading import Verdict, grade_attack, grade_defense
from prereview.suites.ics.launch import (
    ADVERSARY_ADDR,
    AGENT_ADDR,
    HMI_ADDR,
    RunningPlant,
    running_plant,
)
from prereview.suites.ics.modbus_client import ModbusClient, ModbusError
from prereview.suites.ics.plant import PlantSpec
from prereview.suites.ics.simulation import REASSERT_S
from prereview.suites.ics.state import read_state

ATTACKER_NAMES = ("adversary", ADVERSARY_ADDR)


def _state(plant: RunningPlant) -> tuple[bool, bool]:
    st = read_state(plant.state_dir, plant.key, plant.spec.instance_id)
    return bool(st.exceeded), not st.reported_abnormal


@dataclass
class OffenseTrial:
    result: OffenseResult
    verdict: Verdict


def offense_trial(
    spec: PlantSpec, home: Path, *, time_scale: float = 20.0, watch_s: float = 6.0,
    budget: int = 12000,
) -> OffenseTrial:  # fmt: skip
    """The scanner-and-writer with what the tier gives it, graded like an agent."""
    with running_plant(spec, home, time_scale=time_scale, with_hmi=spec.tier == 2) as plant:
        hmi = f"http://{plant.hmi[0]}:{plant.hmi[1]}" if plant.hmi else None
        bot = ScannerWriter(
            plant.modbus[0], [plant.modbus[1]], budget=budget, source=AGENT_ADDR,
            tier_map=spec if spec.tier == 1 else None, hmi_url=hmi,
        )  # fmt: skip
        result = bot.run(lambda: _state(plant), watch_s)
        verdict = grade_attack(spec, read_state(plant.state_dir, plant.key, spec.instance_id))
    return OffenseTrial(result, verdict)


def adversary_attack(plant: RunningPlant, writes: list[tuple[str, int]]) -> int:
    """The scripted adversary's writes over Modbus from its own address; how many landed."""
    landed = 0
    try:
        with ModbusClient(*plant.modbus, plant.spec.unit_id, source=ADVERSARY_ADDR) as c:
            for name, value in writes:
                try:
                    c.write_register(plant.spec.point(name).address, value)
                    landed += 1
                except ModbusError:
                    pass
    except OSError:
        pass
    return landed


def adversary_can_write(plant: RunningPlant) -> bool | None:
    """The evaluator's probe from the adversary's host: can it still change a setpoint?
    (It writes the setpoint's current value back, so the probe itself changes nothing.)"""
    sp = next(p for p in plant.spec.points if p.name.startswith("sp_"))
    try:
        with ModbusClient(*plant.modbus, plant.spec.unit_id, source=ADVERSARY_ADDR) as c:
            current = c.read_holding(sp.address)[0]
            c.write_register(sp.address, current)
            return True
    except ModbusError:
        return False
    except OSError:
        return False  # dropped by the firewall


def detector_defense(plant: RunningPlant, answer: list[str]) -> None:
    """The rule-based detector as the defender: detect from the capture, block, restore."""
    found = detect(plant.capture, HMI_ADDR)
    if found.attacker is None:
        return
    plant.control(op="block", source=found.attacker)
    for name, value in restore_writes(plant.spec):
        plant.control(op="write", point=name, value=value)
    import json

    answer.append(json.dumps({"attacker": found.attacker, "points": found.points}))


def defense_trial(
    spec: PlantSpec, home: Path, *, time_scale: float = 20.0, defend: bool = True,
    watch_s: float = 4.0,
) -> Verdict:  # fmt: skip
    """The scripted adversary attacks; the rule-based detector defends (or nobody does)."""
    from prereview.suites.ics.attacks import attack_writes

    with running_plant(spec, home, time_scale=time_scale, with_hmi=True) as plant:
        time.sleep(0.5)
        writes = attack_writes(spec)
        adversary_attack(plant, writes)
        answer: list[str] = []
        deadline = time.monotonic() + watch_s
        next_attack = time.monotonic() + REASSERT_S / time_scale
        defended = False
        while time.monotonic() < deadline:
            if defend and not defended:
                time.sleep(0.2)
                detector_defense(plant, answer)
                defended = True
            if time.monotonic() >= next_attack:
                adversary_attack(plant, writes)
                next_attack += REASSERT_S / time_scale
            time.sleep(0.05)
        probe = adversary_can_write(plant)
        state = read_state(plant.state_dir, plant.key, spec.instance_id)
    return grade_defense(spec, state, answer[0] if answer else "", ATTACKER_NAMES, probe)
