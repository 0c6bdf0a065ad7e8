"""Start a plant (daemon) and its HMI as local processes on loopback addresses.

Until a sample's plant runs on a range host, tests, benchmarks and verification over the wire
use this: every role gets its own 127.0.0.x address (plant, HMI, adversary, agent), so a
capture names sources as a range would; nothing binds a real interface. The spec and the state
directory live in an evaluator-only directory (0700); the state key never leaves this process
except in the daemon's environment (the daemon removes it from its environment on start).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from prereview.suites.ics.plant import PlantSpec
from prereview.suites.ics.plantd import CONTROL_SOCKET
from prereview.suites.ics.spec import IcsError

PLANT_ADDR = "127.0.0.2"
HMI_ADDR = "127.0.0.20"
AGENT_ADDR = "127.0.0.10"
ADVERSARY_ADDR = "127.0.0.66"
START_TIMEOUT_S = 20.0
_SRC = str(Path(__file__).resolve().parents[3])


class PlantStartError(IcsError):
    """The plant (or its HMI) did not come up; carries the process's log tail."""


@dataclass
class RunningPlant:
    spec: PlantSpec
    home: Path
    state_dir: Path
    key: bytes
    modbus: tuple[str, int]
    dnp3: tuple[str, int]
    capture: Path
    proc: subprocess.Popen[bytes]
    started_s: float
    hmi: tuple[str, int] | None = None
    hmi_proc: subprocess.Popen[bytes] | None = None

    @property
    def control_socket(self) -> Path:
        return self.state_dir / CONTROL_SOCKET

    def control(self, **request: object) -> dict[str, object]:
        """One request on the daemon's control socket (the evaluator's side)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5.0)
            s.connect(str(self.control_socket))
            s.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        reply: dict[str, object] = json.loads(data)
        return reply


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME")}
    env["PYTHONPATH"] = _SRC
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-2000:]
    except OSError:
        return ""


def _wait_ready(proc: subprocess.Popen[bytes], log: Path, what: str) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    os.set_blocking(proc.stdout.fileno(), False)
    buf = b""
    while time.monotonic() < deadline:
        chunk = proc.stdout.read()
        if chunk:
            buf += chunk
            for line in buf.decode(errors="replace").splitlines():
                if line.startswith("READY"):
                    return line
        if proc.poll() is not None:
            raise PlantStartError(f"{what} exited with {proc.returncode}: {_tail(log)[-400:]}")
        time.sleep(0.02)
    proc.kill()
    raise PlantStartError(f"{what} not ready within {START_TIMEOUT_S:.0f}s: {_tail(log)[-400:]}")


def start_plant(
    spec: PlantSpec,
    home: Path,
    *,
    time_scale: float = 1.0,
    with_hmi: bool = False,
    python: str | None = None,
) -> RunningPlant:
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    state_dir = home / "state"
    state_dir.mkdir(mode=0o700, exist_ok=True)
    spec_path = state_dir / "spec.json"
    spec_path.write_text(spec.to_json())
    capture = home / "capture.jsonl"
    capture.touch()
    key = secrets.token_bytes(32)
    log = home / "plantd.log"
    t0 = time.monotonic()
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [
                python or sys.executable, "-m", "prereview.suites.ics.plantd",
                "--spec", str(spec_path), "--state-dir", str(state_dir),
                "--bind", PLANT_ADDR, "--modbus-port", "0", "--dnp3-port", "0",
                "--time-scale", str(time_scale), "--capture", str(capture),
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            env={**_env(), "ICS_STATE_KEY": key.hex()},
        )  # fmt: skip
    try:
        ready = _wait_ready(proc, log, "plant")
        ports = dict(kv.split("=") for kv in ready.split()[1:])
        plant = RunningPlant(
            spec, home, state_dir, key, (PLANT_ADDR, int(ports["modbus"])),
            (PLANT_ADDR, int(ports["dnp3"])), capture, proc, time.monotonic() - t0,
        )  # fmt: skip
        if with_hmi:
            start_hmi(plant, python=python)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return plant


def hmi_config(spec: PlantSpec, modbus: tuple[str, int], show_addresses: bool) -> dict[str, object]:
    """What the HMI is configured with: the tags it polls (the integrator's map)."""
    proc = spec.process()
    tags = []
    for s in proc.sensors:
        p = spec.point(f"pv_{s.name}")
        tags.append({"tag": s.name, "unit": s.unit, "table": p.table, "address": p.address,
                     "scale": p.scale, "low": s.normal[0], "high": s.normal[1]})  # fmt: skip
    for sp in proc.setpoints:
        p = spec.point(f"sp_{sp.name}")
        tags.append({"tag": sp.name, "unit": "", "table": p.table, "address": p.address,
                     "scale": p.scale, "low": sp.low, "high": sp.high})  # fmt: skip
    return {
        "plant": spec.kind,
        "sector": spec.sector,
        "plc": list(modbus),
        "unit": spec.unit_id,
        "show_addresses": show_addresses,
        "tags": tags,
        "source": HMI_ADDR,
    }


def start_hmi(plant: RunningPlant, *, python: str | None = None) -> None:
    cfg = plant.home / "hmi.json"
    cfg.write_text(json.dumps(hmi_config(plant.spec, plant.modbus, plant.spec.tier <= 2)))
    log = plant.home / "hmi.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [python or "/usr/bin/python3", "-m", "prereview.suites.ics.hmi",
             "--config", str(cfg), "--bind", HMI_ADDR, "--port", "0"],
            stdout=subprocess.PIPE, stderr=err, env=_env(),
        )  # fmt: skip
    try:
        ready = _wait_ready(proc, log, "hmi")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    plant.hmi = (HMI_ADDR, int(ready.split("port=")[1]))
    plant.hmi_proc = proc


def stop_plant(plant: RunningPlant) -> None:
    for p in (plant.hmi_proc, plant.proc):
        if p is not None and p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@contextlib.contextmanager
def running_plant(spec: PlantSpec, home: Path, **kwargs: object) -> Iterator[RunningPlant]:
    plant = start_plant(spec, home, **kwargs)  # type: ignore[arg-type]
    try:
        yield plant
    finally:
        stop_plant(plant)
