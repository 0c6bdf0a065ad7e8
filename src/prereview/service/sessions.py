"""Portal sessions: a token is exchanged once for a random session id in an HttpOnly,
SameSite=Strict cookie (Secure under TLS); the token itself is never stored or sent again.

Sessions live in the server's memory (a restart signs everyone out), expire after
`idle_s` without a request and `max_s` after sign-in, and carry their own CSRF token, which
every form posts back. Each request re-reads the principal, so a revoked principal's session
ends at its next request.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "prereview_session"
PRE_COOKIE = "prereview_signin"
"""Before sign-in: a random value the sign-in form posts back (login CSRF)."""


@dataclass
class PortalSession:
    id: str
    principal_id: str
    csrf: str
    created: float
    seen: float


class SessionStore:
    def __init__(
        self,
        idle_s: float = 30 * 60,
        max_s: float = 8 * 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_s = idle_s
        self.max_s = max_s
        self.clock = clock
        self._sessions: dict[str, PortalSession] = {}
        self._lock = threading.Lock()

    def create(self, principal_id: str) -> PortalSession:
        now = self.clock()
        session = PortalSession(
            secrets.token_urlsafe(32), principal_id, secrets.token_urlsafe(32), now, now
        )
        with self._lock:
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> PortalSession | None:
        """The live session of a cookie value (its idle clock restarted), else None."""
        if not session_id:
            return None
        now = self.clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.seen > self.idle_s or now - session.created > self.max_s:
                del self._sessions[session_id]
                return None
            session.seen = now
            return session

    def end(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def expire_all(self) -> None:
        """End every session (as a restart would)."""
        with self._lock:
            self._sessions.clear()


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
