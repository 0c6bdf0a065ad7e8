"""Portal sessions: a token is exchanged once for a random session id in an HttpOnly,
SameSite=Strict cookie (Secure under TLS); the token itself is never stored or sent again.

Sessions expire after `idle_s` without a request and `max_s` after sign-in, and carry their
own CSRF token (derived from the cookie value, so it needs no storage), which every form posts
back. Each request re-reads the principal, so a revoked principal's session ends at its next
request.

Bound to the store (`bind`), sessions survive a restart of the server: the store keeps the
SHA-256 of each cookie value, never the value, with the session's principal and clock (wall
time); expired rows are removed as they are met and when the store is bound. Lookups are
served from memory; every change is written through before it is answered.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, select

from prereview.store.database import Database
from prereview.store.tables.service import PortalSessionRow

COOKIE = "prereview_session"
PRE_COOKIE = "prereview_signin"
"""Before sign-in: a random value the sign-in form posts back (login CSRF)."""
SEEN_WRITE_S = 60.0
"""How stale the stored idle clock may get (a request within it does not rewrite the row), at
most a tenth of the idle limit: after a restart a session may end that much early, never late."""


def key_hash(session_id: str) -> str:
    return hashlib.sha256(b"prereview-portal-session\x00" + session_id.encode()).hexdigest()


def _csrf_of(session_id: str) -> str:
    return hashlib.sha256(b"prereview-portal-csrf\x00" + session_id.encode()).hexdigest()


@dataclass
class PortalSession:
    id: str
    principal_id: str
    csrf: str
    created: float
    seen: float


@dataclass
class _Held:
    principal_id: str
    created: float
    seen: float
    stored_seen: float


class SessionStore:
    def __init__(
        self,
        idle_s: float = 30 * 60,
        max_s: float = 8 * 3600,
        clock: Callable[[], float] = time.time,
        db: Database | None = None,
    ) -> None:
        self.idle_s = idle_s
        self.max_s = max_s
        self.clock = clock
        self._held: dict[str, _Held] = {}  # by key hash
        self._lock = threading.Lock()
        self.db: Database | None = None
        if db is not None:
            self.bind(db)

    def bind(self, db: Database) -> None:
        """Keep sessions in `db` and take up the live ones it holds (a restart)."""
        now = self.clock()
        with self._lock, db.session() as s:
            s.execute(delete(PortalSessionRow).where(self._expired_clause(now)))
            for row in s.scalars(select(PortalSessionRow)):
                self._held[row.key_hash] = _Held(row.principal_id, row.created, row.seen, row.seen)
            for key, held in self._held.items():  # sessions made before binding
                if s.get(PortalSessionRow, key) is None:
                    s.add(PortalSessionRow(key_hash=key, principal_id=held.principal_id,
                                           created=held.created, seen=held.seen))  # fmt: skip
            self.db = db

    def _expired_clause(self, now: float) -> ColumnElement[bool]:
        return (PortalSessionRow.seen < now - self.idle_s) | (
            PortalSessionRow.created < now - self.max_s
        )

    def create(self, principal_id: str) -> PortalSession:
        now = self.clock()
        session_id = secrets.token_urlsafe(32)
        key = key_hash(session_id)
        with self._lock:
            if self.db is not None:
                with self.db.session() as s:
                    s.add(PortalSessionRow(key_hash=key, principal_id=principal_id,
                                           created=now, seen=now))  # fmt: skip
            self._held[key] = _Held(principal_id, now, now, now)
        return PortalSession(session_id, principal_id, _csrf_of(session_id), now, now)

    def get(self, session_id: str | None) -> PortalSession | None:
        """The live session of a cookie value (its idle clock restarted), else None."""
        if not session_id:
            return None
        now = self.clock()
        key = key_hash(session_id)
        with self._lock:
            held = self._held.get(key)
            if held is None:
                return None
            if now - held.seen > self.idle_s or now - held.created > self.max_s:
                self._forget(key)
                return None
            held.seen = now
            stale = min(SEEN_WRITE_S, self.idle_s / 10)
            if self.db is not None and now - held.stored_seen >= stale:
                with self.db.session() as s:
                    row = s.get(PortalSessionRow, key)
                    if row is not None:
                        row.seen = now
                held.stored_seen = now
            return PortalSession(session_id, held.principal_id, _csrf_of(session_id),
                                 held.created, now)  # fmt: skip

    def _forget(self, key: str) -> None:
        self._held.pop(key, None)
        if self.db is not None:
            with self.db.session() as s:
                s.execute(delete(PortalSessionRow).where(PortalSessionRow.key_hash == key))

    def end(self, session_id: str | None) -> None:
        with self._lock:
            self._forget(key_hash(session_id or ""))

    def expire_all(self) -> None:
        """End every session (as an administrator clearing them would)."""
        with self._lock:
            self._held.clear()
            if self.db is not None:
                with self.db.session() as s:
                    s.execute(delete(PortalSessionRow))


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
