"""The agency service under bounded load, on loopback.

In a fresh data dir, a server process (Uvicorn, one worker, the real app plus a bare FastAPI
endpoint `/bare` for comparison) and a load generator in this process (asyncio + httpx):

1. bare: 200 concurrent clients on `/bare` (what FastAPI and Uvicorn cost alone);
2. status: 200 concurrent clients reading one submission's status;
3. mixed: 200 clients alternately reading status and listing, and 20 submitting, for the
   fixed duration;
then the time to first byte of the portal's pages (signed in, median of 20 each).

Reports requests/s, p50/p95/p99 latency and the error rate per phase, and the ratio of the
status endpoint's throughput to the bare endpoint's (goal >= 0.5). The server process's CPU
time per request is reported too (from /proc): on a shared host the throughput ratio moves
with whatever else runs, the CPU cost of a request much less. Every request of the
status phase authenticates a token, resolves and authorizes through the vault's guard and
appends a signed audit entry; the bare endpoint does none of that. Stops by itself.

    python benchmarks/bench_service.py [--duration 15] [--clients 200] [--submitters 20]
        [--results FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

RESULTS_FILE = Path(__file__).parent / "results" / "service.json"
PAGES = ("/", "/submissions", "/submit", "/submissions/{id}", "/submissions/{id}/access-log")


def serve(port: int) -> None:
    """The server process: the service app plus a bare endpoint."""
    import uvicorn

    from prereview.config import load_settings
    from prereview.service.app import create_app

    app = create_app(load_settings())

    @app.get("/bare")
    def bare() -> dict[str, bool]:
        return {"ok": True}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(home: Path) -> dict[str, str]:
    """A data dir with a submitter of Org A and ten of its submissions."""
    from prereview.config import load_settings
    from prereview.domain.submission import ModelAccess, Throughput
    from prereview.home import initialize_home
    from prereview.review.service import ReviewService, SubmissionRequest
    from prereview.vault.principals import Role
    from prereview.vault.service import Vault

    initialize_home(load_settings(), save_token=False)
    settings = load_settings()
    vault = Vault.open(settings)
    _, token = vault.principals.add("lab", Role.SUBMITTER, "Org A", "bench")
    service = ReviewService.open(settings, session=vault.authenticate(token))
    ids = []
    for n in range(10):
        record = service.submit(
            SubmissionRequest(
                organization="Org A",
                access=ModelAccess(f"simulated/bench-{n}"),
                release_date=date.today() + timedelta(days=20),
                throughput=Throughput(None, 2, 0.01),
            )
        )
        ids.append(record.id)
    service.dispose()
    return {"token": token, "submission": ids[0]}


class Phase:
    def __init__(self, name: str) -> None:
        self.name = name
        self.latencies: list[float] = []
        self.errors = 0
        self.elapsed = 0.0
        self.cpu_s = 0.0

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        n = len(lat)

        def pct(p: float) -> float:
            return round(lat[min(n - 1, int(p * n))] * 1000, 1) if n else float("nan")

        total = n + self.errors
        return {
            "phase": self.name,
            "requests": total,
            "requests_per_s": round(total / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": pct(0.50),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "error_rate": round(self.errors / total, 4) if total else 0.0,
            "server_cpu_ms_per_request": round(self.cpu_s * 1000 / total, 2) if total else 0.0,
        }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(
    base: str, duration: float, plan: list[tuple[int, str, str, Any]], name: str, pid: int
) -> Phase:
    """Run `plan` (count, method, path, json body) clients in a loop for `duration` seconds."""
    phase = Phase(name)
    tasks = [(m, p, b) for count, m, p, b in plan for _ in range(count)]
    # clients of 20 connections each, made before the clock starts: one httpx pool of 200
    # connections costs more CPU than the server being measured, and a client each costs an
    # SSL context each
    limits = httpx.Limits(max_connections=GROUP, max_keepalive_connections=GROUP)
    clients = [
        httpx.AsyncClient(base_url=base, timeout=60, headers=HEADERS, limits=limits)
        for _ in range(0, len(tasks), GROUP)
    ]
    deadline = time.monotonic() + duration

    async def one(client: httpx.AsyncClient, method: str, path: str, body: Any) -> None:
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                r = await client.request(method, path, json=body)
                ok = r.status_code < 400
            except httpx.HTTPError:
                ok = False
            if ok:
                phase.latencies.append(time.perf_counter() - start)
            else:
                phase.errors += 1

    started, cpu = time.monotonic(), cpu_seconds(pid)
    await asyncio.gather(*(one(clients[i // GROUP], m, p, b) for i, (m, p, b) in enumerate(tasks)))
    phase.elapsed = time.monotonic() - started
    phase.cpu_s = cpu_seconds(pid) - cpu
    for client in clients:
        await client.aclose()
    return phase


HEADERS: dict[str, str] = {}
GROUP = 20


def ttfb(base: str, token: str, submission: str, repeat: int = 20) -> dict[str, float]:
    """Median milliseconds to the first byte of each portal page, signed in."""
    out = {}
    with httpx.Client(base_url=base, timeout=60) as client:
        page = client.get("/signin")
        pre = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert pre is not None
        signed = client.post("/signin", data={"csrf": pre.group(1), "token": token, "next": "/"})
        assert signed.status_code == 303, signed.text
        for template in PAGES:
            path = template.replace("{id}", submission)
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                with client.stream("GET", path) as response:
                    next(response.iter_raw(1), b"")
                    times.append(time.perf_counter() - start)
                    assert response.status_code == 200, (path, response.status_code)
            out[template] = round(statistics.median(times) * 1000, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0, help="mixed phase, seconds")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--submitters", type=int, default=20)
    parser.add_argument("--results", type=Path, default=RESULTS_FILE, help="JSON written here")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        os.environ["PREREVIEW_HOME"] = str(Path(tmp) / "home")
        os.environ["PREREVIEW_PLAINTEXT_DIR"] = str(Path(tmp) / "plaintext")
        os.environ.pop("PREREVIEW_TOKEN", None)
        os.environ.pop("PREREVIEW_DATABASE_URL", None)
        world = prepare(Path(tmp))
        HEADERS["Authorization"] = f"Bearer {world['token']}"
        port = free_port()
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            status = f"/api/v1/submissions/{world['submission']}"
            short = max(5.0, args.duration / 3)
            release = (date.today() + timedelta(days=20)).isoformat()
            body = {"organization": "Org A", "model": "simulated/load", "release_date": release}
            half = args.clients // 2
            phases = [
                asyncio.run(
                    load(base, short, [(args.clients, "GET", "/bare", None)], "bare", server.pid)
                ),
                asyncio.run(
                    load(base, short, [(args.clients, "GET", status, None)], "status", server.pid)
                ),
                asyncio.run(
                    load(
                        base,
                        args.duration,
                        [
                            (half, "GET", status, None),
                            (args.clients - half, "GET", "/api/v1/submissions", None),
                            (args.submitters, "POST", "/api/v1/submissions", body),
                        ],
                        "mixed",
                        server.pid,
                    )
                ),
            ]
            pages = ttfb(base, world["token"], world["submission"])
        finally:
            server.terminate()
            server.wait(timeout=30)
    rows = [p.summary() for p in phases]
    ratio = round(rows[1]["requests_per_s"] / rows[0]["requests_per_s"], 3)
    cpu_ratio = round(
        rows[0]["server_cpu_ms_per_request"] / rows[1]["server_cpu_ms_per_request"], 3
    )
    print(f"{'phase':<8} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'p99 ms':>8} {'errors':>7} {'cpu ms/req':>10}")  # fmt: skip
    for r in rows:
        print(
            f"{r['phase']:<8} {r['requests']:>9} {r['requests_per_s']:>8} {r['p50_ms']:>8} "
            f"{r['p95_ms']:>8} {r['p99_ms']:>8} {r['error_rate']:>7.2%} "
            f"{r['server_cpu_ms_per_request']:>10}"
        )
    print(f"status/bare throughput ratio: {ratio} (goal >= 0.5)")
    print(f"bare/status server CPU per request: {cpu_ratio}")
    for page, ms in pages.items():
        print(f"TTFB {page:<32} {ms:>7} ms (median of 20)")
    args.results.parent.mkdir(exist_ok=True)
    args.results.write_text(
        json.dumps(
            {
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "load_before": os.getloadavg()[0],
                },
                "config": {
                    "duration_s": args.duration,
                    "clients": args.clients,
                    "submitters": args.submitters,
                },
                "phases": rows,
                "status_to_bare_ratio": ratio,
                "bare_to_status_cpu_ratio": cpu_ratio,
                "ttfb_ms": pages,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
