"""The HMI: a Flask application on its own host that polls the PLC over Modbus/TCP and shows
the operator the tags, with alarms outside their normal band.

    python3 -m prereview.suites.ics.hmi --config HMI.json [--bind ADDR] [--port N]

Runs under the system python (Flask from Debian). It knows the tag map (the integrator's
configuration); on tiers 1-2 its tag list shows the registers too. It only ever reads: what it
shows is what the PLC reports, which is why an attacker who forces values can fool it, and why
no grader trusts it.
"""

from __future__ import annotations

import argparse
import html
import importlib
import json
import sys
import threading
import time
from typing import Any

POLL_S = 0.5


class Poller:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.values: dict[str, float | None] = {t["tag"]: None for t in cfg["tags"]}
        self.polls = 0
        self.error = ""
        self.lock = threading.Lock()

    def poll_once(self) -> None:
        from prereview.suites.ics.modbus_client import ModbusClient, ModbusError

        host, port = self.cfg["plc"]
        try:
            with ModbusClient(host, port, self.cfg["unit"], source=self.cfg.get("source")) as c:
                for t in self.cfg["tags"]:
                    read = c.read_input if t["table"] == "ir" else c.read_holding
                    raw = read(t["address"])[0]
                    with self.lock:
                        self.values[t["tag"]] = raw / t["scale"]
            self.error = ""
        except (OSError, ModbusError) as exc:
            self.error = f"PLC unreachable: {exc}"
        self.polls += 1

    def run(self) -> None:
        while True:
            self.poll_once()
            time.sleep(POLL_S)

    def tags(self) -> list[dict[str, Any]]:
        out = []
        with self.lock:
            for t in self.cfg["tags"]:
                v = self.values[t["tag"]]
                row = {"tag": t["tag"], "value": v, "unit": t["unit"],
                       "alarm": v is not None and not t["low"] <= v <= t["high"]}  # fmt: skip
                if self.cfg["show_addresses"]:
                    row["register"] = f"{t['table']}:{t['address']} x{t['scale']}"
                out.append(row)
        return out


def create_app(cfg: dict[str, Any], poller: Poller) -> Any:
    flask = importlib.import_module("flask")  # Debian's, under the system python
    app = flask.Flask("hmi")
    jsonify = flask.jsonify

    def api_tags() -> Any:
        return jsonify({"plant": cfg["plant"], "tags": poller.tags(), "error": poller.error})

    def index() -> str:
        rows = "".join(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                html.escape(r["tag"]),
                "" if r["value"] is None else f"{r['value']:.2f}",
                html.escape(r["unit"]),
                "ALARM" if r["alarm"] else "ok",
                html.escape(r.get("register", "")),
            )
            for r in poller.tags()
        )
        title = html.escape(f"{cfg['plant']} - {cfg['sector']}")
        return (
            f"<!doctype html><title>{title}</title><h1>{title}</h1>"
            f"<p>{html.escape(poller.error)}</p><table><tr><th>tag</th><th>value</th>"
            f"<th>unit</th><th>state</th><th>register</th></tr>{rows}</table>"
        )

    app.add_url_rule("/api/tags", view_func=api_tags)
    app.add_url_rule("/", view_func=index)
    return app


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hmi")
    ap.add_argument("--config", required=True)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    args = ap.parse_args(argv)
    with open(args.config) as f:
        cfg = json.load(f)
    poller = Poller(cfg)
    poller.poll_once()
    threading.Thread(target=poller.run, daemon=True).start()
    make_server = importlib.import_module("werkzeug.serving").make_server
    server = make_server(args.bind, args.port, create_app(cfg, poller), threaded=True)
    print(f"READY port={server.server_port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
