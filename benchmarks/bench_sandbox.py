"""The bwrap sandbox against Inspect's `local` sandbox (no isolation) and a bare subprocess.

Side by side in one run, interleaved round by round so that load from anything else on the
machine hits every contender alike; the verdicts are ratios, not absolute times:
- exec round-trip of `true` and of `python3 -c pass`, through the SandboxEnvironment API
  (bare: asyncio's create_subprocess_exec + communicate);
- sample create + cleanup (sample_init + sample_cleanup);
- 16 concurrent samples, each created, running 10 commands, and cleaned up.
Targets: bwrap exec p50 <= 2x the bare subprocess; bwrap create+cleanup p50 <= 100 ms.

    python benchmarks/bench_sandbox.py [--rounds 200] [--samples 40]

Prints a table and writes benchmarks/results/sandbox.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from inspect_ai.util import SandboxEnvironment
from inspect_ai.util._sandbox.local import LocalSandboxEnvironment

from prereview.sandbox import BwrapConfig, BwrapSandboxEnvironment
from prereview.sandbox.cgroups import detect

RESULTS_FILE = Path(__file__).parent / "results" / "sandbox.json"
EXEC_RATIO_TARGET = 2.0
CREATE_P50_TARGET_MS = 100.0
CONCURRENT = 16
COMMANDS = {
    "true": ["/usr/bin/true"],
    "python3 -c pass": ["/usr/bin/python3", "-c", "pass"],
}

Exec = Callable[[list[str]], Awaitable[Any]]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {
        "p50_ms": round(statistics.median(ms), 3),
        "p95_ms": round(pct(ms, 0.95), 3),
        "n": len(ms),
    }


async def bare(cmd: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    await proc.communicate()


async def new_env(kind: str) -> tuple[dict[str, SandboxEnvironment], type[SandboxEnvironment]]:
    cls: type[SandboxEnvironment] = (
        BwrapSandboxEnvironment if kind == "bwrap" else LocalSandboxEnvironment
    )
    config = BwrapConfig() if kind == "bwrap" else None
    return await cls.sample_init("bench", config, {}), cls


async def close_env(kind: str, envs: dict[str, SandboxEnvironment]) -> None:
    cls = BwrapSandboxEnvironment if kind == "bwrap" else LocalSandboxEnvironment
    await cls.sample_cleanup("bench", BwrapConfig() if kind == "bwrap" else None, envs, False)


async def exec_round_trips(rounds: int) -> dict[str, Any]:
    bwrap_envs, _ = await new_env("bwrap")
    local_envs, _ = await new_env("local")
    contenders: dict[str, Exec] = {
        "bare subprocess": bare,
        "inspect local": lambda c: local_envs["default"].exec(c, concurrency=False),
        "bwrap": lambda c: bwrap_envs["default"].exec(c, concurrency=False),
    }
    out: dict[str, Any] = {}
    try:
        for label, cmd in COMMANDS.items():
            times: dict[str, list[float]] = {name: [] for name in contenders}
            for run in contenders.values():  # warm up
                await run(cmd)
            for _ in range(rounds):
                for name, run in contenders.items():
                    start = time.perf_counter()
                    await run(cmd)
                    times[name].append(time.perf_counter() - start)
            out[label] = {name: summary(values) for name, values in times.items()}
    finally:
        await close_env("bwrap", bwrap_envs)
        await close_env("local", local_envs)
    return out


async def create_cleanup(samples: int) -> dict[str, Any]:
    times: dict[str, list[float]] = {"inspect local": [], "bwrap": []}
    for _ in range(samples):
        for kind, name in (("local", "inspect local"), ("bwrap", "bwrap")):
            start = time.perf_counter()
            envs, _ = await new_env(kind)
            await close_env(kind, envs)
            times[name].append(time.perf_counter() - start)
    return {name: summary(values) for name, values in times.items()}


async def concurrent_samples(count: int, commands: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind, name in (("local", "inspect local"), ("bwrap", "bwrap")):
        exec_times: list[float] = []
        lifecycle: list[float] = []

        async def one(kind: str = kind, exec_times: list[float] = exec_times,
                      lifecycle: list[float] = lifecycle) -> None:  # fmt: skip
            start = time.perf_counter()
            envs, _ = await new_env(kind)
            for i in range(commands):
                t = time.perf_counter()
                result = await envs["default"].exec(
                    ["sh", "-c", f"echo {i} > f{i}; cat f{i}"], concurrency=False
                )
                exec_times.append(time.perf_counter() - t)
                assert result.stdout == f"{i}\n"
            await close_env(kind, envs)
            lifecycle.append(time.perf_counter() - start)

        start = time.perf_counter()
        async with anyio.create_task_group() as group:
            for _ in range(count):
                group.start_soon(one)
        out[name] = {
            "wall_ms": round((time.perf_counter() - start) * 1000, 1),
            "exec": summary(exec_times),
            "sample_lifecycle": summary(lifecycle),
        }
    return out


def environment() -> dict[str, Any]:
    bwrap = subprocess.run(["bwrap", "--version"], capture_output=True, text=True, check=False)
    support = detect()
    return {
        "python": sys.version.split()[0],
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "bwrap": bwrap.stdout.strip(),
        "cgroups": "yes" if support.available else "no (rlimits)",
        "root": os.geteuid() == 0,
    }


async def main(rounds: int, samples: int) -> dict[str, Any]:
    env = environment()
    exec_results = await exec_round_trips(rounds)
    create_results = await create_cleanup(samples)
    concurrent = await concurrent_samples(CONCURRENT, 10)
    env["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    ratios = {
        label: round(r["bwrap"]["p50_ms"] / r["bare subprocess"]["p50_ms"], 2)
        for label, r in exec_results.items()
    }
    create_p50 = create_results["bwrap"]["p50_ms"]
    return {
        "environment": env,
        "exec_round_trip": exec_results,
        "exec_p50_ratio_bwrap_to_bare": ratios,
        "create_cleanup": create_results,
        "concurrent_samples": {"samples": CONCURRENT, "commands_each": 10, **concurrent},
        "targets": {
            "exec_p50_ratio_max": EXEC_RATIO_TARGET,
            "exec_p50_ratio_met": all(r <= EXEC_RATIO_TARGET for r in ratios.values()),
            "create_cleanup_p50_ms_max": CREATE_P50_TARGET_MS,
            "create_cleanup_p50_met": create_p50 <= CREATE_P50_TARGET_MS,
        },
    }


def print_table(report: dict[str, Any]) -> None:
    print(f"environment: {json.dumps(report['environment'])}")
    print(f"\n{'exec round-trip':<20}{'contender':<18}{'p50 ms':>9}{'p95 ms':>9}")
    for label, rows in report["exec_round_trip"].items():
        for name, s in rows.items():
            print(f"{label:<20}{name:<18}{s['p50_ms']:>9.2f}{s['p95_ms']:>9.2f}")
    for label, ratio in report["exec_p50_ratio_bwrap_to_bare"].items():
        print(f"bwrap/bare p50 ({label}): {ratio:.2f}x  (target <= {EXEC_RATIO_TARGET}x)")
    print(f"\n{'create+cleanup':<20}{'contender':<18}{'p50 ms':>9}{'p95 ms':>9}")
    for name, s in report["create_cleanup"].items():
        print(f"{'':<20}{name:<18}{s['p50_ms']:>9.2f}{s['p95_ms']:>9.2f}")
    print(f"target: bwrap p50 <= {CREATE_P50_TARGET_MS:.0f} ms")
    conc = report["concurrent_samples"]
    print(f"\n{conc['samples']} concurrent samples x {conc['commands_each']} commands")
    print(f"{'contender':<18}{'wall ms':>9}{'exec p50':>10}{'exec p95':>10}{'life p50':>10}")
    for name in ("inspect local", "bwrap"):
        r = conc[name]
        print(
            f"{name:<18}{r['wall_ms']:>9.0f}{r['exec']['p50_ms']:>10.2f}"
            f"{r['exec']['p95_ms']:>10.2f}{r['sample_lifecycle']['p50_ms']:>10.1f}"
        )
    print(f"\ntargets met: {json.dumps(report['targets'])}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args()
    report = anyio.run(main, args.rounds, args.samples)
    print_table(report)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS_FILE}")
