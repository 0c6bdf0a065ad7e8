"""Shared fixtures: a private data dir per test and a guard that keeps tests off the network."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Any

import pytest

_real_connect = socket.socket.connect


def _is_local(address: Any) -> bool:
    if isinstance(address, str | bytes):  # AF_UNIX path
        return True
    host = address[0]
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost",)


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if not _is_local(address):
        raise RuntimeError(f"test tried to reach the network: {address!r}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(autouse=True)
def prereview_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty PREREVIEW_HOME and no token or config from the developer."""
    home = tmp_path / "prereview-home"
    for var in ("PREREVIEW_TOKEN", "PREREVIEW_CONFIG", "PREREVIEW_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PREREVIEW_HOME", str(home))
    monkeypatch.setenv("INSPECT_LOG_DIR", str(tmp_path / "inspect-logs"))
    # the vault's plaintext window (default: a private dir on /dev/shm) stays in the test's tmp
    monkeypatch.setenv("PREREVIEW_PLAINTEXT_DIR", str(tmp_path / "plaintext"))
    return home
