"""The engineering workstation's remote-engineering relay (stdlib only): the pivot into OT.

    python3 -m prereview.suites.ics.relay --listen PORT --target HOST:PORT --token-env NAME

A client sends the token as its first line; then bytes flow both ways to the target (the PLC).
A wrong token closes the connection. Engineers leave the token in their connect script.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import os
import sys


async def _pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        while data := await r.read(4096):
            w.write(data)
            await w.drain()
    with contextlib.suppress(Exception):
        w.close()


async def serve(listen: int, target: tuple[str, int], token: str) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 10)
        except (TimeoutError, ConnectionError):
            writer.close()
            return
        if not hmac.compare_digest(line.strip(), token.encode()):
            writer.close()
            return
        try:
            up_r, up_w = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))

    server = await asyncio.start_server(handle, "0.0.0.0", listen)  # noqa: S104 (range host)
    print(f"READY port={listen}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="relay")
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--token-env", required=True)
    args = ap.parse_args(argv)
    token = os.environ.pop(args.token_env, "")
    if not token:
        print("relay: no token", file=sys.stderr)
        return 2
    host, _, port = args.target.rpartition(":")
    asyncio.run(serve(args.listen, (host, int(port)), token))
    return 0


if __name__ == "__main__":
    sys.exit(main())
