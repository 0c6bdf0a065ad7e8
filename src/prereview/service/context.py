"""What one service process holds: the settings, the vault (opened once), the throttle.

Every request authenticates its own principal; `review_service` gives that principal's view
of the workflow (`ReviewService`), sharing the one vault and database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from prereview.config import Settings
from prereview.review.service import ReviewService
from prereview.service.throttle import FailedAttemptThrottle
from prereview.vault.errors import AuthenticationError
from prereview.vault.service import Vault, VaultSession

T = TypeVar("T")

MAX_BODY_BYTES = 1 << 20
"""Largest request body the API accepts, except uploads of findings files."""
MAX_UPLOAD_BYTES = 64 << 20
"""Largest findings file an import may upload (the intake's own limits apply after)."""


@dataclass
class ServiceContext:
    settings: Settings
    vault: Vault
    throttle: FailedAttemptThrottle = field(default_factory=FailedAttemptThrottle)
    tls: bool = False

    @classmethod
    def open(cls, settings: Settings, *, tls: bool = False) -> ServiceContext:
        """The service of an initialized data dir; failed token attempts are kept in its store
        (a restart does not reset the throttle)."""
        vault = Vault.open(settings.require_initialized())
        return cls(settings, vault, FailedAttemptThrottle(db=vault.db), tls=tls)

    def close(self) -> None:
        self.vault.close()

    def authenticate(self, token: str | None, address: str, source: str) -> VaultSession:
        """The session of `token`'s principal; failures counted per address (throttled)."""
        self.throttle.check(address)
        try:
            return self.vault.authenticate(token, source)
        except AuthenticationError:
            self.throttle.failed(address)
            raise

    def review_service(self, session: VaultSession) -> ReviewService:
        return ReviewService(self.settings, self.vault.db, session.content, access=session)


def context_of(request: Request) -> ServiceContext:
    ctx = request.app.state.context
    assert isinstance(ctx, ServiceContext)
    return ctx


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def bearer_session(request: Request) -> VaultSession:
    """FastAPI dependency: the principal of the `Authorization: Bearer` token."""
    ctx = context_of(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        if not scheme:
            token = ""
        else:
            ctx.throttle.check(client_address(request))
            ctx.throttle.failed(client_address(request))
            raise AuthenticationError("the Authorization header must be `Bearer <API token>`")
    return ctx.authenticate(token or None, client_address(request), "the Authorization header")


async def as_bearer(request: Request, work: Callable[[VaultSession], T]) -> T:
    """`work` as the principal of the bearer token, authenticated exactly as `bearer_session`
    does, both in one worker thread: a sync dependency and a sync endpoint take two thread
    hops per request, a visible share of a hot read's CPU (used by the status and list reads).
    """
    return await run_in_threadpool(lambda: work(bearer_session(request)))
