"""The Inspect View child process of `prereview logs view`: Inspect's own viewer app, served on
127.0.0.1 only, behind a random token.

Started by `prereview.transcripts.viewer` as `python -m prereview.transcripts.server`; the token
arrives on stdin (never in argv or the environment, which other local users or tools may see).
Inspect's own `INSPECT_VIEW_AUTHORIZATION_TOKEN` checks a header that a browser cannot send and
turns off Inspect's log-dir confinement, so this process keeps Inspect's loopback network policy
and confinement (`OnlyDirAccessPolicy`) and puts its own gate in front:

- `?token=T` on any URL sets an HttpOnly, SameSite=Strict cookie for this port and redirects to
  the same URL without the token; the cookie, or an `Authorization: Bearer T` header, lets later
  requests through; anything else is 401.

The process dies with its parent: PR_SET_PDEATHSIG(SIGKILL), and stdin reaching EOF (the parent
holds the other end) ends it too. It prints `listening <port>` once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import secrets
import signal
import socket
import sys
import threading
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

LOOPBACK = "127.0.0.1"
_PR_SET_PDEATHSIG = 1


def cookie_name(port: int) -> str:
    # cookies are per host, not per port: one viewer's cookie must not open another's
    return f"prereview-view-{port}"


class TokenGate:
    """ASGI middleware: only requests that carry the viewer's token get through."""

    def __init__(self, app: Any, token: str, port: int) -> None:
        self.app = app
        self.token = token.encode()
        self.cookie = cookie_name(port)

    def _matches(self, value: str | None) -> bool:
        return value is not None and secrets.compare_digest(value.encode(), self.token)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        offered = [v for k, v in query if k == "token"]
        if offered and scope["type"] == "http":
            if not self._matches(offered[0]):
                await _plain(send, 401, b"unauthorized")
                return
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            location = scope.get("path", "/") + (f"?{rest}" if rest else "")
            cookie = f"{self.cookie}={offered[0]}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200"
            await _plain(
                send, 303, b"", [(b"location", location.encode()), (b"set-cookie", cookie.encode())]
            )
            return
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header is just no cookie
            jar = SimpleCookie()
        morsel = jar.get(self.cookie)
        auth = headers.get("authorization")
        bearer = auth[7:] if auth is not None and auth.lower().startswith("bearer ") else auth
        if self._matches(morsel.value if morsel is not None else None) or self._matches(bearer):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4401})
            return
        await _plain(send, 401, b"unauthorized")


async def _plain(
    send: Any, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _die_with_parent(parent_pid: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the stdin watch below still ends us
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(3)


def _exit_on_eof() -> None:
    """The parent holds our stdin open; EOF means it is gone: stop serving at once."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def build_app(log_dir: Path, token: str, port: int) -> Any:
    """Inspect's standalone viewer app for `log_dir` (loopback policy, log-dir confinement),
    behind the token gate."""
    from inspect_ai._util.asyncfiles import AsyncFilesystem
    from inspect_ai._view.fastapi_server import AsyncFilesystemMiddleware, standalone_view_app
    from inspect_ai._view.network import resolve_viewer_network_policy

    policy = resolve_viewer_network_policy(bind_host=LOOPBACK, port=port)
    app = standalone_view_app(log_dir=str(log_dir), network_policy=policy, recursive=False)
    app = AsyncFilesystemMiddleware(app, fs=AsyncFilesystem())
    return TokenGate(app, token, port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="prereview.transcripts.server")
    parser.add_argument("--log-dir", required=True, type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args(argv)
    _die_with_parent(args.parent)
    token = sys.stdin.readline().strip()
    if len(token) < 32:
        print("no viewer token on stdin", file=sys.stderr)
        return 2
    threading.Thread(target=_exit_on_eof, daemon=True).start()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LOOPBACK, args.port))
    except OSError as exc:
        print(f"cannot listen on {LOOPBACK}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    sock.listen(64)
    port = sock.getsockname()[1]

    import uvicorn

    app = build_app(args.log_dir.resolve(), token, port)
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False)
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            print(f"listening {port}", flush=True)
        await task

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
