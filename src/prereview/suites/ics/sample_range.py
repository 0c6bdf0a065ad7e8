"""Bringing a sample's range up and reading its plant from the evaluator's side.

The range seed (from which the state key and relay token derive) is kept out of every log by
`prereview.ranges.sample`, which holds it for the scorer."""

from __future__ import annotations

import json
from pathlib import Path

from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.util import sandbox

from prereview.ranges import (
    PreExploitError,
    Range,
    Scenario,
    start_sample_range,
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


async def read_plant_state(rng: Range, spec: PlantSpec) -> PlantState:
    """The plant's signed record, read on the PLC host by the evaluator."""
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
        spec = sample_plant(state)

        async def prove(rng: Range) -> None:
            plant = await read_plant_state(rng, spec)
            why = pre_exploit(plant)
            if why:
                raise PreExploitError(why, ())

        await start_sample_range(state, sample_scenario(state), prove, failures=(StateError,))
        return state

    return solve
