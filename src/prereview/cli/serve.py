"""`prereview serve`: the agency service (REST API v1 and portal) on Uvicorn.

Binding to anything but loopback needs TLS (`--tls-cert` and `--tls-key`): tokens and API
keys cross that connection. Assessments run in the worker (`prereview worker`), which `serve`
starts unless `--no-worker`; the worker outlives the server and resumes what was running.
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

import typer

from prereview.cli.common import err_console, new_app, settings
from prereview.errors import PrereviewError

app = new_app("Serve the REST API and the web portal.")


class ServeError(PrereviewError):
    """The service cannot start as asked."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, tls_cert: Path | None, tls_key: Path | None) -> None:
    """Refuse a non-loopback bind without TLS, and half a TLS configuration."""
    if (tls_cert is None) != (tls_key is None):
        raise ServeError("--tls-cert and --tls-key go together: give both or neither")
    if tls_cert is None and not is_loopback(host):
        raise ServeError(
            f"refusing to serve on {host} without TLS: tokens and API keys would cross the "
            "network in the clear; give --tls-cert and --tls-key, or bind to 127.0.0.1"
        )
    for what, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path is not None and not path.is_file():
            raise ServeError(f"{what} {path}: no such file")
    if tls_cert is not None and tls_key is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(tls_cert, tls_key)
        except (ssl.SSLError, OSError) as exc:
            raise ServeError(
                f"--tls-cert/--tls-key: not a usable certificate and key ({exc})"
            ) from None


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    port: int = typer.Option(8400, "--port", help="TCP port."),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="PEM certificate (chain)."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="PEM private key."),
    worker: bool = typer.Option(
        True, "--worker/--no-worker", help="Also start the assessment worker (if none runs)."
    ),
) -> None:
    """Serve the REST API (/api/v1, OpenAPI at /api/v1/openapi.json) and the portal."""
    import uvicorn

    from prereview.service.app import create_app

    check_bind(host, tls_cert, tls_key)
    conf = settings().require_initialized()
    if worker:
        from prereview.service.worker import spawn_worker

        spawn_worker(conf)
    tls = tls_cert is not None
    err_console.print(
        f"serving on {'https' if tls else 'http'}://{host}:{port} (data dir {conf.home})"
    )
    uvicorn.run(
        create_app(conf, tls=tls),
        host=host,
        port=port,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
    )
