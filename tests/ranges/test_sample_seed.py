"""The sample's range seed: held in memory for one grading, never in the logged store."""

from __future__ import annotations

import pytest
from inspect_ai.model import ModelName
from inspect_ai.solver import TaskState

from prereview.ranges import RangeUnavailable, take_range_seed
from prereview.ranges import sample as range_sample


def _state() -> TaskState:
    return TaskState(ModelName("mockllm/model"), "s1", 1, "go", [])


def test_a_seed_this_process_does_not_hold_is_unavailable() -> None:
    with pytest.raises(RangeUnavailable, match="not held by this process"):
        take_range_seed(_state())


def test_a_seed_is_taken_once_and_never_stored_in_the_sample() -> None:
    state = _state()
    range_sample._LIVE[state.uuid] = 1234
    assert take_range_seed(state) == 1234
    assert "1234" not in repr(dict(state.store.items()))
    with pytest.raises(RangeUnavailable):
        take_range_seed(state)


def test_a_recorded_start_failure_wins_over_a_held_seed() -> None:
    state = _state()
    range_sample._LIVE[state.uuid] = 99
    state.store.set(range_sample.RANGE_ERROR, "service 'web' did not get healthy")
    with pytest.raises(RangeUnavailable, match="did not get healthy"):
        take_range_seed(state)
    assert state.uuid not in range_sample._LIVE
