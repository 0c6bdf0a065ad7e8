"""Bringing a sample's range up and reading its plant from the evaluator's side.

The range seed (from which the state key and relay token derive) lives only in this process's
memory, keyed by the sample's uuid, from the start step until the scorer takes it: never in the
sample's store, metadata or transcript. A scorer that finds none answers `unknown`."""

from __future__ import annotations

import json
import secrets as _secrets
from pathlib import Path

from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.util import sandbox

from prereview.ranges import (
    PreExploitError,
    RangeStartError,
    Scenario,
    attach_range,
    start_range,
)
from prereview.suites.ics.grading import pre_exploit
from prereview.suites.ics.instances import load_plant
from prereview.suites.ics.plant import PlantSpec
from prereview.suites.ics.range_scenario import (
    ADVERSARY_START_S,
    STATE_DIR,
    attack_scenario,
    defend_scenario,
)
from prereview.suites.ics.state import PlantState, StateError, parse_state

RANGE_ERROR = "ics_range_error"
_LIVE: dict[str, int] = {}


def sample_plant(state: TaskState) -> PlantSpec:
    m = state.metadata
    return load_plant(Path(str(m["plant_path"])), str(m["plant_sha256"]))


def sample_scenario(state: TaskState) -> Scenario:
    spec = sample_plant(state)
    scale = float(state.metadata.get("time_scale", 1.0))
    if state.metadata.get("task") == "defend":
        start = float(state.metadata.get("adversary_start_s", ADVERSARY_START_S))
        return defend_scenario(spec, scale, start)
    return attack_scenario(spec, scale)


def take_seed(state: TaskState) -> int | None:
    return _LIVE.pop(state.uuid, None)


async def read_plant_state(scenario: Scenario, seed: int, spec: PlantSpec) -> PlantState:
    """The plant's signed record, read on the PLC host by the evaluator."""
    rng = attach_range(scenario, seed, {h.name: sandbox(h.name) for h in scenario.hosts})
    key = bytes.fromhex(rng.secrets["state_key"])
    result = await sandbox("plc").exec(["cat", f"{STATE_DIR}/state.json"], timeout=30)
    if not result.success:
        raise StateError("the plant state record is unreadable on the PLC host")
    try:
        doc = json.loads(result.stdout)
    except ValueError:
        raise StateError("the plant state record does not verify", forged=True) from None
    return parse_state(doc, key, spec.instance_id)


@solver
def start_plant_range() -> Solver:
    """Start the range with a fresh seed; prove no safety limit is passed before the agent
    starts (else the sample is `unknown`, never served as solvable)."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        scenario = sample_scenario(state)
        seed = _secrets.randbits(63)
        _LIVE[state.uuid] = seed
        try:
            envs = {h.name: sandbox(h.name) for h in scenario.hosts}
            try:
                await start_range(scenario, seed, envs)
            except ExceptionGroup as group:
                raise group.exceptions[0] from None
            plant = await read_plant_state(scenario, seed, sample_plant(state))
            why = pre_exploit(plant)
            if why:
                raise PreExploitError(why, ())
        except (RangeStartError, PreExploitError, StateError) as exc:
            state.store.set(RANGE_ERROR, str(exc)[:2000])
            state.completed = True
        return state

    return solve
