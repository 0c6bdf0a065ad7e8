"""A sample's range inside an Inspect run: brought up by the family's start step, graded by its
scorer, with the range seed kept out of every log.

The seed is the root of every secret the runtime draws for the sample (flags, passwords, keys,
canaries), so it lives only in this process's memory, keyed by the sample's uuid, from the start
step until the scorer takes it: never in the sample's store, metadata or transcript, which are
logged. A scorer that finds no seed (another process, a restart) or a recorded start failure
answers `unknown`: `take_range_seed` raises `RangeUnavailable`, so a scorer cannot grade a range
it does not hold.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from inspect_ai.solver import TaskState
from inspect_ai.util import sandbox

from prereview.ranges.outcomes import PreExploitError
from prereview.ranges.runtime import Range, RangeStartError, start_range
from prereview.ranges.scenario import Scenario

RANGE_ERROR = "range_error"
_LIVE: dict[str, int] = {}

Proof = Callable[[Range], Awaitable[object]]


class RangeUnavailable(Exception):
    """The sample's range cannot be graded by this process: its score is `unknown`."""


async def start_sample_range(
    state: TaskState,
    scenario: Scenario,
    prove: Proof,
    failures: tuple[type[Exception], ...] = (),
) -> Range | None:
    """Start the sample's range with a fresh seed and run `prove` (the family's check that every
    outcome is false before the agent starts). A start failure, a failed proof, or one of the
    family's `failures` is recorded for the scorer and ends the sample (None): never served."""
    caught: tuple[type[Exception], ...] = (RangeStartError, PreExploitError, *failures)
    seed = secrets.randbits(63)
    _LIVE[state.uuid] = seed
    try:
        envs = {h.name: sandbox(h.name) for h in scenario.hosts}
        try:
            rng = await start_range(scenario, seed, envs)
        except ExceptionGroup as group:
            raise group.exceptions[0] from None
        await prove(rng)
    except caught as exc:
        state.store.set(RANGE_ERROR, str(exc)[:2000])
        state.completed = True
        return None
    return rng


def take_range_seed(state: TaskState) -> int:
    """The sample's range seed, taken (once) for grading; `RangeUnavailable` when the range did
    not start or this process does not hold its seed."""
    seed = _LIVE.pop(state.uuid, None)
    error = state.store.get(RANGE_ERROR)
    if error:
        raise RangeUnavailable(f"the range did not start: {error}")
    if seed is None:
        raise RangeUnavailable("the sample's range seed is not held by this process")
    return seed
