"""Throttling of failed token attempts, per client address.

After `limit` failures within `window_s` seconds an address is refused (429) without its
token being looked at, until the window has passed: guessing tokens costs a window per
`limit` guesses. A success does not reset the count (a valid token cannot launder guesses).

Bound to the store (`bind`), failures survive a restart of the server (a restart must not
hand a guesser a fresh window): each is written through before the refusal is answered, and
the recent ones are taken up again when a server binds the store. Checks are served from
memory (wall-clock times).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from sqlalchemy import delete, select

from prereview.service.problems import ServiceProblem
from prereview.store.database import Database
from prereview.store.tables.service import FailedTokenAttemptRow


class FailedAttemptThrottle:
    def __init__(
        self,
        limit: int = 10,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.time,
        db: Database | None = None,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.db: Database | None = None
        if db is not None:
            self.bind(db)

    def bind(self, db: Database) -> None:
        """Record failures in `db`; take up the recent ones it holds."""
        cutoff = self.clock() - self.window_s
        with self._lock, db.session() as s:
            s.execute(delete(FailedTokenAttemptRow).where(FailedTokenAttemptRow.at < cutoff))
            rows = s.execute(
                select(FailedTokenAttemptRow.address, FailedTokenAttemptRow.at).order_by(
                    FailedTokenAttemptRow.at
                )
            ).all()
            for address, at in rows:
                self._failures.setdefault(address, deque()).append(at)
            self.db = db

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
            now = self.clock()
            if self.db is not None:
                with self.db.session() as s:
                    s.execute(
                        delete(FailedTokenAttemptRow).where(
                            FailedTokenAttemptRow.address == address,
                            FailedTokenAttemptRow.at < now - self.window_s,
                        )
                    )
                    s.add(FailedTokenAttemptRow(address=address[:100], at=now))
            self._recent(address, now).append(now)
