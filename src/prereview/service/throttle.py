"""Throttling of failed token attempts, per client address, in memory.

After `limit` failures within `window_s` seconds an address is refused (429) without its
token being looked at, until the window has passed: guessing tokens costs a window per
`limit` guesses. A success does not reset the count (a valid token cannot launder guesses).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from prereview.service.problems import ServiceProblem


class FailedAttemptThrottle:
    def __init__(
        self,
        limit: int = 10,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(address, deque())
        while failures and now - failures[0] > self.window_s:
            failures.popleft()
        return failures

    def check(self, address: str) -> None:
        """Refuse an address with too many recent failures."""
        with self._lock:
            now = self.clock()
            failures = self._recent(address, now)
            if len(failures) >= self.limit:
                wait = int(self.window_s - (now - failures[0])) + 1
                raise ServiceProblem(
                    429, f"too many failed sign-in attempts from {address}: try again in {wait} s"
                )
            if not failures:
                self._failures.pop(address, None)

    def failed(self, address: str) -> None:
        with self._lock:
            self._recent(address, self.clock()).append(self.clock())
