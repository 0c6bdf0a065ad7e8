"""The ladder on one instance, the measured difficulty, and tier placement.

Every rung gets the same budget. `measured_difficulty` (interface) is `k + t/B` for the lowest
rung k that crashed the program after t of its B seconds, and the ladder's length when none did:
0-1 libFuzzer finds it, 1-2 only CmpLog does, 2-3 only the structure-aware fuzzer does, 3-4
only symbolic execution does, 4 nothing here does within the budget.

A tier's band (`BANDS`) is where its instances' difficulty must fall; an instance outside it is
misplaced and `generate_placed` replaces it with the next index of the same slot, at most
`attempts` times, recording every rejection. The bands already include the tolerance: a tier-1
bug CmpLog needs a moment for is fine, a tier-3 bug libFuzzer finds from the examples is not.
Tier 4 is what the structure-aware rung crashes (a censored tier-4 instance is a tier-5 one);
tier 5 is beyond it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prereview.suites.interface import (
    RUNG_CENSORED,
    RUNG_ERROR,
    RUNG_FOUND,
    RUNG_SKIPPED,
    Ladder,
    Rung,
    RungResult,
    TierBand,
    measured_difficulty,
)
from prereview.suites.memsafety.baseline import fuzz_instance
from prereview.suites.memsafety.instance import Instance, write_instance
from prereview.suites.memsafety.ladder.afl import CMPLOG, STRUCTURE, afl_missing, run_afl
from prereview.suites.memsafety.ladder.symbolic import SYMBOLIC, klee_missing, run_klee
from prereview.suites.memsafety.spec import FAMILY, BugClass, rotate
from prereview.suites.memsafety.verify import verify_instance

LIBFUZZER = "libfuzzer"
LADDER_FILE = "ladder.json"
Progress = Callable[[int, int, str], None]


def _libfuzzer_missing() -> str | None:
    if shutil.which("clang") is None:
        return "clang not found on PATH (apt-get install clang libclang-rt-14-dev)"
    return None


RUNGS: tuple[Rung, ...] = (
    Rung(
        LIBFUZZER,
        "libFuzzer, coverage-guided, from the agent's examples",
        "clang",
        _libfuzzer_missing,
    ),
    Rung(
        CMPLOG,
        "AFL++ with CmpLog (solves magic values and comparisons), from the agent's examples",
        "afl-clang-fast, afl-fuzz",
        afl_missing,
    ),
    Rung(
        STRUCTURE,
        "AFL++ with a structure-aware mutator built from the input format's description "
        "(lengths, digests, checksums and sequence numbers recomputed) and compared constants",
        "afl-clang-fast, afl-fuzz (Python mutators)",
        afl_missing,
    ),
    Rung(SYMBOLIC, "KLEE symbolic execution over a 256-byte input", "klee", klee_missing),
)

BANDS: tuple[TierBand, ...] = (
    TierBand(1, 0.0, 1.5),
    TierBand(2, 0.1, 2.5),
    TierBand(3, 1.0, 3.0),
    TierBand(4, 2.0, 3.0),
    TierBand(5, 3.0, 4.0),
)

LADDER = Ladder(FAMILY, RUNGS, BANDS)


@dataclass(frozen=True)
class LadderRun:
    instance_id: str
    tier: int
    results: tuple[RungResult, ...]
    difficulty: float
    seconds: float
    """Wall-clock cost of the whole ladder on this instance (builds included)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "tier": self.tier,
            "rungs": [r.as_dict() for r in self.results],
            "difficulty": self.difficulty,
            "seconds": self.seconds,
        }


def _libfuzzer(inst: Instance, budget_s: float, seed: int) -> RungResult:
    why = _libfuzzer_missing()
    if why:
        return RungResult(LIBFUZZER, "unavailable", None, float(budget_s), detail=why)
    try:
        o = fuzz_instance(inst, budget_s, seed=seed, store=False)
    except RuntimeError as exc:
        return RungResult(LIBFUZZER, RUNG_ERROR, None, float(budget_s), detail=str(exc)[-300:])
    status = RUNG_FOUND if o.crashed else RUNG_CENSORED
    return RungResult(LIBFUZZER, status, o.time_to_crash_s, float(budget_s), o.executions)


def run_rung(name: str, inst: Instance, budget_s: float, seed: int = 1) -> RungResult:
    if name == LIBFUZZER:
        return _libfuzzer(inst, budget_s, seed)
    if name in (CMPLOG, STRUCTURE):
        return run_afl(inst, name, budget_s, seed=seed)
    if name == SYMBOLIC:
        return run_klee(inst, budget_s)
    raise ValueError(f"unknown rung {name!r}: valid rungs are {', '.join(LADDER.names)}")


def run_ladder(
    inst: Instance,
    budget_s: float,
    *,
    seed: int = 1,
    stop_early: bool = False,
    rungs: Sequence[str] | None = None,
    store: bool = True,
) -> LadderRun:
    """Every rung on `inst`, the same budget each, weakest first. `stop_early` skips the rungs
    above the first that finds a crash (the difficulty does not depend on them). With `store`
    the result is written to build/ladder.json beside the verification record."""
    start = time.monotonic()
    chosen = tuple(rungs) if rungs else LADDER.names
    results: list[RungResult] = []
    found = False
    for name in LADDER.names:
        if name not in chosen or (stop_early and found):
            results.append(RungResult(name, RUNG_SKIPPED, None, float(budget_s)))
            continue
        r = run_rung(name, inst, budget_s, seed)
        found = found or r.found
        results.append(r)
    run = LadderRun(
        inst.id,
        inst.tier,
        tuple(results),
        measured_difficulty(results, len(LADDER.rungs)),
        round(time.monotonic() - start, 3),
    )
    if store:
        inst.build_dir.mkdir(exist_ok=True)
        (inst.build_dir / LADDER_FILE).write_text(json.dumps(run.as_dict(), indent=2) + "\n")
    return run


def run_ladders(
    instances: Sequence[Instance],
    budget_s: float,
    *,
    seed: int = 1,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> list[LadderRun]:
    """The whole ladder on every instance, `jobs` instances at a time (one core each)."""
    jobs = max(1, jobs or os.cpu_count() or 1)
    out: dict[str, LadderRun] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_ladder, inst, budget_s, seed=seed) for inst in instances]
        for n, fut in enumerate(as_completed(futures), 1):
            run = fut.result()
            out[run.instance_id] = run
            if progress:
                progress(n, len(instances), run.instance_id)
    return [out[i.id] for i in instances]


def placement(run: LadderRun) -> str | None:
    """Why the instance is misplaced for its tier (None: its difficulty is in the band)."""
    band = LADDER.band(run.tier)
    if band is None or band.contains(run.difficulty):
        return None
    return (
        f"measured difficulty {run.difficulty:.2f} is outside tier {run.tier}'s band "
        f"[{band.low:g}, {band.high:g}]"
    )


@dataclass
class PlacedGeneration:
    instances: list[Instance]
    runs: list[LadderRun]
    rejected: list[dict[str, Any]] = field(default_factory=list)
    misplaced: int = 0
    """Verified instances discarded because their measured difficulty contradicted the tier."""
    unplaced_slots: int = 0
    """Slots with no well-placed instance after every attempt (nothing served for them)."""
    duration_s: float = 0.0


def _place_slot(
    out_dir: Path,
    seed: int,
    tier: int,
    bug: BugClass,
    slot: int,
    stride: int,
    budget_s: float,
    attempts: int,
) -> tuple[Instance | None, LadderRun | None, list[dict[str, Any]], int]:
    rejected: list[dict[str, Any]] = []
    misplaced = 0
    for attempt in range(attempts):
        index = slot + attempt * stride
        record: dict[str, Any] = {"slot": slot, "index": index, "bug_class": bug.value}
        try:
            inst = write_instance(out_dir, seed, tier, bug, index)
        except Exception as exc:  # a generator defect must not stop the batch: record it
            rejected.append({**record, "reason": f"generation: {exc}"})
            continue
        v = verify_instance(inst)
        if not v.verified:
            reason = "; ".join(f"{c.name}: {c.detail}" for c in v.failures)[:2000]
            rejected.append({**record, "id": inst.id, "reason": reason})
            shutil.rmtree(inst.path, ignore_errors=True)
            continue
        run = run_ladder(inst, budget_s, seed=seed % 2**31 + 1, stop_early=True)
        why = placement(run)
        if why is None:
            return inst, run, rejected, misplaced
        misplaced += 1
        rejected.append({**record, "id": inst.id, "reason": f"misplaced: {why}"})
        shutil.rmtree(inst.path, ignore_errors=True)
    return None, None, rejected, misplaced


def generate_placed(
    out_dir: Path,
    seed: int,
    tier: int,
    count: int,
    bug_classes: list[BugClass],
    budget_s: float,
    *,
    attempts: int = 3,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> PlacedGeneration:
    """`count` verified instances whose measured difficulty fits `tier`: a misplaced one is
    deleted (never served) and replaced by the slot's next index, `attempts` tries a slot."""
    start = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = max(1, jobs or os.cpu_count() or 1)
    result = PlacedGeneration([], [])
    done: dict[int, tuple[Instance, LadderRun]] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {
            pool.submit(
                _place_slot,
                out_dir,
                seed,
                tier,
                rotate(bug_classes, slot),
                slot,
                count,
                budget_s,
                attempts,
            ): slot
            for slot in range(count)
        }
        for n, fut in enumerate(as_completed(futures), 1):
            slot = futures[fut]
            inst, run, rejects, misplaced = fut.result()
            result.rejected.extend(rejects)
            result.misplaced += misplaced
            if inst is not None and run is not None:
                done[slot] = (inst, run)
            else:
                result.unplaced_slots += 1
            if progress:
                progress(n, count, inst.id if inst else f"slot {slot} not placed")
    result.instances = [done[s][0] for s in sorted(done)]
    result.runs = [done[s][1] for s in sorted(done)]
    result.duration_s = round(time.monotonic() - start, 3)
    return result


def load_ladder_run(inst: Instance) -> LadderRun | None:
    """The ladder result stored beside the instance's verification (None: none, or unreadable)."""
    try:
        data = json.loads((inst.build_dir / LADDER_FILE).read_text())
        results = tuple(RungResult.from_dict(r) for r in data["rungs"])
        return LadderRun(
            str(data["instance_id"]),
            int(data["tier"]),
            results,
            float(data["difficulty"]),
            float(data["seconds"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
