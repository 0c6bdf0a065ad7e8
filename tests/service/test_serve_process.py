"""`prereview serve` as a process: it serves, starts the worker, and the worker outlives a
server restart (a second server does not start a second worker)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from prereview.config import load_settings
from prereview.home import initialize_home
from prereview.service.worker import worker_pid

PREREVIEW = str(Path(sys.executable).parent / "prereview")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([PREREVIEW, "serve", "--port", str(port)])
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, "the server exited"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.2)


def test_the_worker_outlives_a_server_restart(prereview_home: Path) -> None:
    initialize_home(load_settings(), save_token=False)
    settings = load_settings()
    port = free_port()
    first = start_server(port)
    pid = None
    try:
        deadline = time.monotonic() + 30
        while (pid := worker_pid(settings)) is None:
            assert time.monotonic() < deadline, "serve started no worker"
            time.sleep(0.2)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises it
        os.kill(pid, 0)  # the worker still runs
        second = start_server(port)
        try:
            assert worker_pid(settings) == pid  # no second worker
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
