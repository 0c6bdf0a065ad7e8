"""Errors as RFC 9457 problem details (`application/problem+json`), one line each.

The `detail` is the same line the CLI prints after `error:`, and `exit_code` the CLI's exit
status, so the remote CLI reproduces both exactly.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from prereview.errors import PrereviewError
from prereview.vault.errors import AccessDeniedError, AuthenticationError, ShreddedError

PROBLEM = "application/problem+json"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class ServiceProblem(PrereviewError):
    """A refusal of the service itself (throttling, size, media type) with its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def one_line(text: str, limit: int = 500) -> str:
    return " ".join(text.split())[:limit]


def problem(status: int, detail: str, exit_code: int = 2, **extra: Any) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": one_line(detail),
        "exit_code": exit_code,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def status_of(exc: PrereviewError) -> int:
    if isinstance(exc, ServiceProblem):
        return exc.status
    if isinstance(exc, AuthenticationError):
        return 401
    if isinstance(exc, AccessDeniedError):
        return 403  # an unknown id too: the same refusal, so existence is not revealed
    if isinstance(exc, ShreddedError):
        return 410
    return 400


async def prereview_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PrereviewError)
    return problem(status_of(exc), str(exc), exc.exit_code)


def validation_message(errors: Any) -> str:
    """The first invalid field, named the way the request spelled it."""
    for err in errors:
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body", "query", "path")]
        field = ".".join(loc) or "request body"
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        return f"invalid {field}: {msg}"
    return "invalid request"


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem(422, validation_message(exc.errors()))


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(exc.status_code, str(exc.detail))
