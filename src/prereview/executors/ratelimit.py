"""The submitter's declared limits (requests per minute, concurrent connections), for a cluster.

One `ClusterRateLimit` per run lives in one place (on Ray: a named actor the head creates), and
every worker asks it before each model request, so the limits hold across all nodes together,
not per node. Request starts are spaced evenly (60/rpm seconds apart, no burst), as a server's
limiter would queue them. A connection is a lease held by a node for one attempt of a unit:
released when its request ends, dropped when the head reports the node lost (`retain`) or the
attempt over (`end_attempt`: a worker process that crashed on a live node cannot hand its slot
back, the head sees its unit fail), and expired after `lease_s` in any case.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Grant:
    """`wait_s` > 0: nothing granted, ask again after that long; else `lease` is held."""

    wait_s: float
    lease: int | None = None


class ClusterRateLimit:
    """Even spacing of request starts plus a connection count, decided in one place."""

    def __init__(
        self,
        requests_per_minute: float | None,
        max_connections: int | None,
        lease_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if requests_per_minute is not None and requests_per_minute <= 0:
            raise ValueError("requests_per_minute must be positive")
        if max_connections is not None and max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self.max_connections = max_connections
        self.lease_s = lease_s
        self.clock = clock
        self._next_start = 0.0
        self._leases: dict[int, tuple[float, str, str]] = {}  # lease -> (expiry, node, attempt)
        self._ids = itertools.count(1)
        self.stopped = False
        self.granted = 0

    def acquire(self, holder: str = "", attempt: str = "") -> Grant:
        """A request slot for node `holder` (unit `attempt`) now, or how long to wait before
        asking again."""
        if self.stopped:
            raise RuntimeError("the run was stopped")
        now = self.clock()
        for lease, (expiry, _, _) in list(self._leases.items()):
            if expiry <= now:
                del self._leases[lease]
        if self.max_connections is not None and len(self._leases) >= self.max_connections:
            return Grant(wait_s=min(0.05, self.interval or 0.05))
        if now < self._next_start:
            return Grant(wait_s=self._next_start - now)
        self._next_start = now + self.interval
        lease = next(self._ids)
        self._leases[lease] = (now + self.lease_s, holder, attempt)
        self.granted += 1
        return Grant(wait_s=0.0, lease=lease)

    def release(self, lease: int) -> None:
        self._leases.pop(lease, None)

    def retain(self, alive: list[str]) -> int:
        """Drop the leases of nodes not in `alive` (lost with their node); returns how many."""
        lost = [lease for lease, (_, holder, _) in self._leases.items() if holder not in alive]
        for lease in lost:
            del self._leases[lease]
        return len(lost)

    def end_attempt(self, attempt: str) -> int:
        """Drop the leases unit `attempt` still holds (it ended, or its worker crashed);
        returns how many."""
        held = [lease for lease, (_, _, a) in self._leases.items() if attempt and a == attempt]
        for lease in held:
            del self._leases[lease]
        return len(held)

    def stop(self) -> None:
        """Every later `acquire` fails: a withdrawn or interrupted run makes no more requests."""
        self.stopped = True

    def in_use(self) -> int:
        return len(self._leases)
