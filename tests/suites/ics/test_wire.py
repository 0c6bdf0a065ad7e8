"""The plant on the wire (loopback only): Modbus/TCP through pymodbus, the DNP3-style
outstation, the capture, the firewall, write protection, the HMI, and refusals at start."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from prereview.suites.ics import dnp3
from prereview.suites.ics.launch import (
    ADVERSARY_ADDR,
    AGENT_ADDR,
    HMI_ADDR,
    PlantStartError,
    running_plant,
    start_plant,
)
from prereview.suites.ics.modbus_client import ModbusClient, ModbusError
from prereview.suites.ics.plant import PlantSpec
from prereview.suites.ics.state import read_state


def test_modbus_dnp3_capture_firewall_and_hmi(water1: PlantSpec, tmp_path: Path) -> None:
    spec = water1
    sp = spec.point("sp_level_sp")
    with running_plant(spec, tmp_path / "p", time_scale=5.0, with_hmi=True) as plant:
        assert plant.modbus[0] == "127.0.0.2" and plant.hmi is not None
        with ModbusClient(*plant.modbus, spec.unit_id, source=AGENT_ADDR) as c:
            level = c.read_input(spec.point("pv_level").address)[0]
            assert 0 < level < 65535
            c.write_register(sp.address, 250)
            assert c.read_holding(sp.address)[0] == 250
            with pytest.raises(ModbusError):  # read-only: no holding register there
                c.write_register(spec.point("pv_level").address, 1)
        m = dnp3.Dnp3Master(*plant.dnp3, spec.dnp3_outstation, spec.dnp3_master, source=AGENT_ADDR)
        assert len(m.read_analog_inputs()) == len(spec.dnp3_analog_inputs)
        index = spec.dnp3_analog_outputs.index("sp_level_sp")
        assert m.operate(index, 260) == dnp3.STATUS_OK
        assert m.read_analog_outputs()[index] == 260
        # a frame with a broken CRC is dropped; the next good one is answered
        bad = bytearray(
            dnp3.encode_frame(spec.dnp3_outstation, 1, dnp3.read_request(1, 30, 2), master=True)
        )
        bad[-1] ^= 0xFF
        m.sock.sendall(bytes(bad))
        assert len(m.read_analog_inputs()) == len(spec.dnp3_analog_inputs)
        m.close()
        # write protection refuses every protocol write
        assert plant.control(op="write_protect", on=True)["ok"]
        with ModbusClient(*plant.modbus, spec.unit_id, source=AGENT_ADDR) as c:
            with pytest.raises(ModbusError):
                c.write_register(sp.address, 300)
            assert c.read_holding(sp.address)[0] == 260
        assert plant.control(op="write_protect", on=False)["ok"]
        # the firewall drops a blocked source, others still pass
        assert plant.control(op="block", source=ADVERSARY_ADDR)["ok"]
        with (
            pytest.raises((ModbusError, OSError)),
            ModbusClient(*plant.modbus, spec.unit_id, source=ADVERSARY_ADDR) as c,
        ):
            c.read_holding(sp.address)
        with urllib.request.urlopen(f"http://{plant.hmi[0]}:{plant.hmi[1]}/api/tags") as r:
            tags = json.load(r)["tags"]
        assert {t["tag"] for t in tags} >= {"level", "chlorine", "level_sp"}
        assert all("register" in t for t in tags)  # tier 1-2 HMIs show registers
        st = read_state(plant.state_dir, plant.key, spec.instance_id)
        assert st.blocked == (ADVERSARY_ADDR,)
    events = [json.loads(x) for x in plant.capture.read_text().splitlines()]
    sources = {e["src"] for e in events}
    assert {AGENT_ADDR, HMI_ADDR, ADVERSARY_ADDR} <= sources
    assert any(e.get("fc") == 6 and e.get("address") == sp.address for e in events)
    assert any(e.get("func") == "direct_operate" for e in events)
    assert any(e.get("event") == "dropped by firewall" for e in events)


def test_plantd_refuses_without_key_and_writes_nothing(water1: PlantSpec, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(water1.to_json())
    src = str(Path(__file__).resolve().parents[3] / "src")
    got = subprocess.run(
        [
            sys.executable,
            "-m",
            "prereview.suites.ics.plantd",
            "--spec",
            str(spec_file),
            "--state-dir",
            str(state),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": src},
    )
    assert got.returncode == 2
    assert got.stderr.strip() == "plantd: ICS_STATE_KEY (hex, 16+ bytes) is required"
    assert list(state.iterdir()) == []


def test_plant_that_cannot_start_is_a_start_error(water1: PlantSpec, tmp_path: Path) -> None:
    with pytest.raises(PlantStartError, match=r"^plant exited with"):
        start_plant(water1, tmp_path / "p", python="/bin/false")
    assert not (tmp_path / "p" / "state" / "state.json").exists()


def test_nothing_listens_on_a_real_interface(water1: PlantSpec, tmp_path: Path) -> None:
    with running_plant(water1, tmp_path / "p") as plant:
        for host, port in (plant.modbus, plant.dnp3):
            assert host.startswith("127.")
            with socket.create_connection((host, port), timeout=2):
                pass
