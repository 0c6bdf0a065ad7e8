"""Joining the Ray cluster, and warming its nodes while the head is still starting.

Light on purpose (Ray and prereview's node side, no Inspect): `prereview assess --executor ray`
checks the caller's access, then calls `start_early` before it imports the assessment code
(Inspect, ~1.8-2.4 s on a 2-core host), so each node starts its worker process, imports and
warms what a unit needs and runs its readiness checks for the review's families (~4 s: a run is
a Ray job of its own, with fresh worker processes) while the head imports. The preflight then
takes those reports instead of probing again; it still refuses in one line before anything is
written. An early start that fails says nothing: the preflight reports it (without a second
wait on an address that does not answer).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from typing import Any

from prereview.executors.dispatch import cpu_nodes, first_line, probe
from prereview.executors.interface import ExecutorError
from prereview.executors.node import NAMESPACE

_joined: str | None = None
"""The address this process joined (None: not joined, or left)."""
_warming: dict[str, list[Any]] = {}
"""Warm-up probes started early, by address, not yet awaited by a preflight."""
_refused: dict[str, str] = {}
"""Why an early start could not join, by address: the preflight says it without a second wait
on an address that does not answer."""


def parse_address(address: str) -> tuple[str, int]:
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ExecutorError(f"--address must be HOST:PORT of the Ray head (got {address!r})")
    return host.strip("[]"), int(port)


def join(address: str, timeout_s: float) -> None:
    """Join the cluster at `address` (kept if this process already joined it): refused in one
    line when it does not answer, is not Ray, or runs another Ray version."""
    global _joined
    import ray

    if (reason := _refused.pop(address, None)) is not None:
        raise ExecutorError(reason)
    if _joined == address and ray.is_initialized():
        return
    host, port = parse_address(address)
    try:
        with socket.create_connection((host, port), timeout_s) as conn:
            wants_tls = not _tls_configured() and _closes_on_plaintext(conn, timeout_s)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ExecutorError(f"cannot reach the Ray cluster at {address}: {reason}") from None
    if wants_tls:  # Ray itself would retry the GCS for minutes before giving up
        raise ExecutorError(
            f"cannot join the Ray cluster at {address}: it requires TLS (set RAY_USE_TLS=1 and "
            "RAY_TLS_SERVER_CERT, RAY_TLS_SERVER_KEY, RAY_TLS_CA_CERT as on its nodes)"
        )
    leave()
    try:
        ray.init(
            address=f"{host}:{port}",
            namespace=NAMESPACE,
            _node_ip_address=host if host in ("127.0.0.1", "localhost") else None,
            log_to_driver=False,
            logging_level=logging.WARNING,
            configure_logging=False,
        )
    except Exception as exc:  # Ray's own version check, a GCS that is not Ray, ...
        if "version mismatch" in str(exc).lower():
            raise ExecutorError(
                f"version mismatch between this head and the Ray cluster at {address}: "
                f"{first_line(exc)}"
            ) from None
        raise ExecutorError(
            f"cannot join the Ray cluster at {address}: {first_line(exc)}"
        ) from None
    _joined = address


_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000")
"""A gRPC client's first bytes (the connection preface and an empty SETTINGS frame)."""


def _tls_configured() -> bool:
    return os.environ.get("RAY_USE_TLS", "0").strip().lower() in ("1", "true")


def _closes_on_plaintext(conn: socket.socket, timeout_s: float) -> bool:
    """Whether the GCS at `conn` hangs up on a plaintext gRPC client, as a Ray GCS with TLS
    does at once (a plaintext one answers with its SETTINGS frame). Silence is no proof: then
    `ray.init` decides."""
    conn.settimeout(min(timeout_s, 2.0))
    try:
        conn.sendall(_HTTP2_PREFACE)
        return conn.recv(16) == b""
    except TimeoutError:
        return False
    except OSError:  # reset: hung up as well
        return True


def leave() -> None:
    """Leave the cluster (what this process started there ends with its job)."""
    global _joined
    import ray

    _joined = None
    _warming.clear()
    if ray.is_initialized():
        with contextlib.suppress(Exception):
            ray.shutdown()


def start_early(address: str, families: list[str] | None, check: bool) -> None:
    """Join `address` and start every node's readiness probe (with `check`, the checks for
    `families`) without waiting for it: the node's worker process imports and loads what a
    unit needs meanwhile. Called once the caller's access to the review was checked."""
    try:
        join(address, timeout_s=5.0)
        _warming[address] = [probe(node_id, families, check=check) for node_id in cpu_nodes()]
    except Exception as exc:  # the preflight says why, in one line
        with contextlib.suppress(Exception):
            leave()
        if isinstance(exc, ExecutorError):
            _refused[address] = str(exc)


def plan_families(plan_tasks: list[str]) -> list[str] | None:
    """The families a stored plan's task references (`family/task`) name, without importing
    any family; None when a reference has the older `module:function` form."""
    if not plan_tasks or any("/" not in ref or ":" in ref for ref in plan_tasks):
        return None
    return sorted({ref.partition("/")[0] for ref in plan_tasks})


def take_warming(address: str) -> list[Any]:
    """The early warm-up probes for `address` (once), for the preflight to wait on."""
    return _warming.pop(address, [])
