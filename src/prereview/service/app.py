"""The FastAPI application: API v1, the portal, and what every response carries.

- Request bodies are bounded (`MAX_BODY_BYTES`; findings uploads `MAX_UPLOAD_BYTES`) before a
  handler reads them: by Content-Length up front, and by counting a body sent without one.
- Every response is `no-store` and carries a strict Content-Security-Policy (scripts and
  styles from this origin only, no inline script, no framing), nosniff and no referrer; HSTS
  under TLS.
- No interactive docs (they load assets from CDNs); the OpenAPI document is at
  /api/v1/openapi.json.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from prereview import __version__
from prereview.config import Settings
from prereview.errors import PrereviewError
from prereview.service import problems
from prereview.service.context import MAX_BODY_BYTES, MAX_UPLOAD_BYTES, ServiceContext

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
UPLOAD_PATHS = ("/api/v1/findings/import",)
HANDLER_THREADS = 4
"""Concurrent request handlers (SQLite serializes writes anyway; see `lifespan`)."""


class BodyLimit:
    """Refuse request bodies above the limit with 413 problem+json, before the handler."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = MAX_UPLOAD_BYTES if scope["path"] in UPLOAD_PATHS else MAX_BODY_BYTES
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        too_large = problems.problem(413, f"request body over {limit} bytes")
        if declared is not None:
            try:
                if int(declared) > limit:
                    await too_large(scope, receive, send)
                    return
            except ValueError:
                await problems.problem(400, "invalid Content-Length")(scope, receive, send)
                return
        if declared is not None or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)  # the server stops at Content-Length
            return
        # no length declared (chunked): read it all, counting, before the handler sees it
        chunks, seen = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                await too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


class SecurityHeaders:
    def __init__(self, app: ASGIApp, tls: bool) -> None:
        self.app = app
        self.tls = tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                names = {k.lower() for k, _ in headers}
                extra = {
                    b"x-content-type-options": b"nosniff",
                    b"referrer-policy": b"no-referrer",
                    b"x-frame-options": b"DENY",
                    b"cross-origin-opener-policy": b"same-origin",
                    b"cache-control": b"no-store",
                    b"content-security-policy": CSP.encode(),
                }
                if self.tls:
                    extra[b"strict-transport-security"] = b"max-age=31536000"
                headers += [(k, v) for k, v in extra.items() if k not in names]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(
    settings: Settings, *, tls: bool = False, context: ServiceContext | None = None
) -> FastAPI:
    """The service for the data dir of `settings` (its vault is opened at start-up)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # handlers run in worker threads; each holds up to three database connections at once
        # (its session, the guard's resolve, the audit append; a submission more while it
        # seals): bound the threads so that the connection pool (5 + 10 overflow) is never
        # exhausted under load. Concurrent audit appends share one commit (group commit).
        anyio.to_thread.current_default_thread_limiter().total_tokens = HANDLER_THREADS
        own = context is None
        app.state.context = context or ServiceContext.open(settings, tls=tls)
        if app.state.portal_sessions.db is None:  # sessions outlive this process
            app.state.portal_sessions.bind(app.state.context.vault.db)
        try:
            yield
        finally:
            if own:
                app.state.context.close()

    app = FastAPI(
        title="prereview",
        version=__version__,
        summary="Voluntary pre-release reviews: the agency service (advisory, never a verdict).",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    if context is not None:
        app.state.context = context
    app.add_exception_handler(PrereviewError, problems.prereview_error)
    app.add_exception_handler(RequestValidationError, problems.validation_error)
    app.add_exception_handler(StarletteHTTPException, problems.http_error)

    @app.get("/healthz", include_in_schema=True, summary="Liveness")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    from prereview.service.api import router
    from prereview.service.portal import mount_portal

    app.include_router(router)
    mount_portal(app)
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders, tls=tls)
    return app
