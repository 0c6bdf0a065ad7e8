"""The cluster-wide limit: request starts spaced, connections counted, lost nodes' slots back."""

from __future__ import annotations

import pytest

from prereview.executors.ratelimit import ClusterRateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_request_starts_are_spaced_by_the_declared_rate() -> None:
    clock = Clock()
    limit = ClusterRateLimit(requests_per_minute=120, max_connections=None, clock=clock)
    first = limit.acquire("a")
    assert first.wait_s == 0 and first.lease is not None
    second = limit.acquire("b")  # another node, same limit
    assert second.lease is None and second.wait_s == pytest.approx(0.5)
    clock.now += 0.5
    assert limit.acquire("b").lease is not None


def test_connections_are_counted_across_nodes_and_released() -> None:
    limit = ClusterRateLimit(requests_per_minute=None, max_connections=2, clock=Clock())
    a, b = limit.acquire("node-a"), limit.acquire("node-b")
    assert a.lease is not None and b.lease is not None
    assert limit.acquire("node-a").lease is None and limit.in_use() == 2
    limit.release(a.lease)
    assert limit.acquire("node-b").lease is not None


def test_slots_of_a_lost_node_come_back_and_leases_expire() -> None:
    clock = Clock()
    limit = ClusterRateLimit(None, 1, lease_s=60.0, clock=clock)
    assert limit.acquire("lost").lease is not None
    assert limit.acquire("alive").lease is None
    assert limit.retain(["alive"]) == 1
    assert limit.acquire("alive").lease is not None
    clock.now += 61  # its worker crashed without releasing: expired
    assert limit.acquire("alive").lease is not None


def test_a_stopped_run_gets_no_more_requests() -> None:
    limit = ClusterRateLimit(None, None, clock=Clock())
    limit.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        limit.acquire("a")


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="requests_per_minute"):
        ClusterRateLimit(0, None)
    with pytest.raises(ValueError, match="max_connections"):
        ClusterRateLimit(None, 0)


def test_slots_of_a_crashed_attempt_come_back_when_the_head_sees_it_end() -> None:
    limit = ClusterRateLimit(None, 1, lease_s=600.0, clock=Clock())
    assert limit.acquire("node", "cal#0@1").lease is not None  # its worker then crashed
    assert limit.acquire("node", "cal#1@1").lease is None  # same live node: still held
    assert limit.end_attempt("cal#1@1") == 0  # another attempt's end frees nothing
    assert limit.end_attempt("cal#0@1") == 1
    granted = limit.acquire("node", "cal#1@1")
    assert granted.lease is not None and limit.in_use() == 1
