"""Memory-safety baseline ladder: does measured difficulty separate every tier?

Prints a table and writes benchmarks/results/ladder.json.

For each of `--seeds` seeds and each tier, `--per-tier` verified instances (bug classes in turn)
get the ladder (libFuzzer, AFL++ CmpLog, structure-aware AFL++, KLEE where present; `--budget`
seconds a rung, stopping at the first rung that crashes the program). Measured difficulty is
`k + t/B` for the lowest rung k that found a crash after t of B seconds, the ladder's length when
none did (`prereview.suites.interface.measured_difficulty`). Reported side by side:

- Spearman(tier, libFuzzer's censored time): the single baseline the project had;
- Spearman(tier, measured difficulty) over every generated instance ("raw") and over the ones
  served after tier placement ("placed": a misplaced instance is regenerated from the slot's next
  index, at most `--attempts` tries), with the median difficulty per tier (the targets: rho >=
  0.9 and medians strictly increasing from tier 1 to 5);
- the ladder's cost per instance (wall seconds, builds included) and how many instances were
  regenerated for misplacement.

    python benchmarks/bench_ladder.py [--seeds 3] [--per-tier 6] [--budget 60] [--jobs 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from scipy.stats import spearmanr

from prereview.suites.memsafety.ladder.format import describe
from prereview.suites.memsafety.ladder.run import LADDER, LadderRun, placement, run_ladder
from prereview.suites.memsafety.spec import GENERATOR_VERSION, TIERS, BugClass, rotate
from prereview.suites.memsafety.verify import generate_slot

RESULTS_FILE = Path(__file__).parent / "results" / "ladder.json"
SPEARMAN_TARGET = 0.9


def _rho(xs: list[float], ys: list[float]) -> float | None:
    if len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    return round(float(spearmanr(xs, ys).statistic), 3)


def _medians(runs: list[LadderRun]) -> dict[int, float]:
    out: dict[int, float] = {}
    for tier in sorted(TIERS):
        values = [r.difficulty for r in runs if r.tier == tier]
        if values:
            out[tier] = round(statistics.median(values), 3)
    return out


def _increasing(medians: dict[int, float]) -> bool:
    values = [medians[t] for t in sorted(medians)]
    return len(values) == len(TIERS) and all(a < b for a, b in itertools.pairwise(values))


def _slot(
    out: Path, seed: int, tier: int, slot: int, per_tier: int, budget: float, attempts: int
) -> dict[str, Any]:
    """The first instance of the slot (raw), then replacements until one is placed."""
    bug = rotate(list(BugClass), slot)
    tries: list[LadderRun] = []
    placed: LadderRun | None = None
    for attempt in range(attempts):
        inst, _ = generate_slot(out, seed, tier, bug, slot + attempt * per_tier, per_tier * 10)
        if inst is None:
            continue
        run = run_ladder(inst, budget, seed=1, stop_early=True, store=False)
        tries.append(run)
        shutil.rmtree(inst.path, ignore_errors=True)
        if placement(run) is None:
            placed = run
            break
    return {"tries": tries, "placed": placed}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--per-tier", type=int, default=6)
    ap.add_argument("--budget", type=float, default=60.0)
    ap.add_argument("--attempts", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    ap.add_argument("--first-seed", type=int, default=1000)
    args = ap.parse_args()
    availability = LADDER.availability()
    start = time.monotonic()
    jobs = [
        (args.first_seed + s, tier, k)
        for s in range(args.seeds)
        for tier in sorted(TIERS, reverse=True)
        for k in range(args.per_tier)
    ]
    with (
        tempfile.TemporaryDirectory(prefix="bench-ladder-") as tmp,
        ThreadPoolExecutor(args.jobs) as pool,
    ):
        futures = [
            pool.submit(_slot, Path(tmp), seed, tier, k, args.per_tier, args.budget, args.attempts)
            for seed, tier, k in jobs
        ]
        slots = [f.result() for f in futures]
    raw = [s["tries"][0] for s in slots if s["tries"]]
    placed = [s["placed"] for s in slots if s["placed"] is not None]
    every = [r for s in slots for r in s["tries"]]
    misplaced = sum(1 for r in every if placement(r) is not None)
    lib = [r.results[0] for r in raw]
    lib_time = [x.seconds if x.found and x.seconds is not None else x.budget_seconds for x in lib]
    summary: dict[str, Any] = {
        "generator_version": GENERATOR_VERSION,
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "seeds": args.seeds,
        "per_tier": args.per_tier,
        "budget_s_per_rung": args.budget,
        "attempts": args.attempts,
        "rungs": {name: why or "available" for name, why in availability.items()},
        "bands": {b.tier: [b.low, b.high] for b in LADDER.bands},
        "spearman_libfuzzer_time": _rho([float(r.tier) for r in raw], lib_time),
        "spearman_raw": _rho([float(r.tier) for r in raw], [r.difficulty for r in raw]),
        "spearman_placed": _rho([float(r.tier) for r in placed], [r.difficulty for r in placed]),
        "medians_raw": _medians(raw),
        "medians_placed": _medians(placed),
        "instances_raw": len(raw),
        "instances_served": len(placed),
        "regenerated_for_misplacement": misplaced,
        "slots_never_placed": sum(1 for s in slots if s["placed"] is None),
        "ladder_seconds_per_instance_median": round(
            statistics.median([r.seconds for r in every]), 2
        )
        if every
        else None,
        "ladder_seconds_per_instance_mean": round(statistics.mean([r.seconds for r in every]), 2)
        if every
        else None,
        "lowest_finding_rung_by_tier": {
            t: _lowest(raw, t) for t in sorted(TIERS) if any(r.tier == t for r in raw)
        },
        "structure_codec": _codec_cost(),
        "wall_s": round(time.monotonic() - start, 1),
        "runs": [r.as_dict() for r in every],
    }
    summary["medians_strictly_increasing_placed"] = _increasing(summary["medians_placed"])
    summary["medians_strictly_increasing_raw"] = _increasing(summary["medians_raw"])
    summary["target_met"] = bool(
        (summary["spearman_placed"] or 0) >= SPEARMAN_TARGET
        and summary["medians_strictly_increasing_placed"]
    )
    _print(summary)
    RESULTS_FILE.parent.mkdir(exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def _codec_cost(mutants: int = 2000) -> dict[str, float]:
    """Microseconds the structure rung's Python codec spends serializing one mutant (the cost
    every AFL++ execution of that rung pays), with its memos and with them cleared each time."""
    warm: list[float] = []
    cold: list[float] = []
    for tier in sorted(TIERS):
        desc = describe(2024, tier, BugClass.HEAP_OVERFLOW.value, 0)
        rng = random.Random(tier)
        seeds = desc.seeds()
        genotype, mutated = seeds[-1], []
        for _ in range(mutants):
            genotype = desc.mutate(genotype, rng.choice(seeds), rng)
            mutated.append(genotype)
        start = time.perf_counter()
        for g in mutated:
            desc.serialize(g)
        warm.append((time.perf_counter() - start) / mutants * 1e6)
        start = time.perf_counter()
        for g in mutated:
            desc._decoded.clear()
            desc._messages.clear()
            desc.serialize(g)
        cold.append((time.perf_counter() - start) / mutants * 1e6)
    return {
        "serialize_us_per_mutant": round(statistics.median(warm), 1),
        "serialize_us_per_mutant_memos_cleared": round(statistics.median(cold), 1),
    }


def _lowest(runs: list[LadderRun], tier: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in runs:
        if r.tier != tier:
            continue
        name = next((x.rung for x in r.results if x.found), "none")
        out[name] = out.get(name, 0) + 1
    return out


def _print(s: dict[str, Any]) -> None:
    print(f"rungs: {s['rungs']}")
    print(f"{'tier':>4} {'median raw':>10} {'median placed':>13}  lowest finding rung (raw)")
    for t in sorted(TIERS):
        print(
            f"{t:>4} {s['medians_raw'].get(t, '-')!s:>10} {s['medians_placed'].get(t, '-')!s:>13}"
            f"  {s['lowest_finding_rung_by_tier'].get(t, {})}"
        )
    print(
        f"Spearman(tier, libFuzzer time) = {s['spearman_libfuzzer_time']}; "
        f"Spearman(tier, difficulty) raw = {s['spearman_raw']}, placed = {s['spearman_placed']} "
        f"(target >= {SPEARMAN_TARGET}, medians strictly increasing: "
        f"{s['medians_strictly_increasing_placed']})"
    )
    print(
        f"instances: {s['instances_raw']} raw, {s['instances_served']} served, "
        f"{s['regenerated_for_misplacement']} regenerated for misplacement, "
        f"{s['slots_never_placed']} slots never placed; ladder cost per instance: median "
        f"{s['ladder_seconds_per_instance_median']} s, "
        f"mean {s['ladder_seconds_per_instance_mean']} s"
        f"; wall {s['wall_s']} s"
    )
    codec = s["structure_codec"]
    print(
        f"structure codec: {codec['serialize_us_per_mutant']} us a mutant "
        f"({codec['serialize_us_per_mutant_memos_cleared']} us with its memos cleared)"
    )


if __name__ == "__main__":
    sys.exit(main())
