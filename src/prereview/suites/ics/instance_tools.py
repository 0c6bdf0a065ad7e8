"""`prereview tasks generate|verify|baseline --family ics`: verified plants as files, re-checked
and attacked/defended by the non-AI baselines outside any review.

A generated instance is the plant spec (`<instance_id>.json`, owner only: it holds the ground
truth, the bypass value and unlock code). Verification re-derives it from its key (seed, tier,
kind, index, attempt), so an edited file fails, then runs the checks done before serving.
`--bug-class` names plant kinds here (default: every kind)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from prereview.domain.tiers import TIER_NAMES
from prereview.errors import PrereviewError
from prereview.suites.ics.plant import PlantSpec, generate_plant
from prereview.suites.ics.spec import FAMILY, SECTORS, TIERS, IcsError, PlantKind, parse_kinds
from prereview.suites.interface import (
    BaselineResult,
    CommandResult,
    InstanceTools,
    Progress,
    ResultTable,
    verification_result,
)

OFFENSE_SOLVER = "Modbus scanner-and-writer"
DEFENSE_SOLVER = "rule-based detector"


def parse_tier(value: object) -> int:
    text = str(value).strip().lower()
    for number, name in TIER_NAMES.items():
        if number in TIERS and text in (str(number), name, f"tier{number}", f"tier-{number}"):
            return number
    raise PrereviewError(
        f"unknown tier {value!r}: valid tiers are 1-5 or {', '.join(TIER_NAMES.values())}"
    )


def baseline_trial(task: str, spec: PlantSpec, home: Path, budget_s: float) -> BaselineResult:
    """The offense baseline (`ics_attack`) or the defense baseline (`ics_defend`) on one plant,
    graded like an agent from the plant's signed state record."""
    from prereview.suites.ics.trials import defense_trial, offense_trial

    t0 = time.monotonic()
    if task == "ics_attack":
        watch = max(2.0, min(budget_s / 4, 10.0))
        found = offense_trial(spec, home, watch_s=watch).verdict.value == "C"
        solver = OFFENSE_SOLVER
    else:
        found = defense_trial(spec, home).value == "C"
        solver = DEFENSE_SOLVER
    took = time.monotonic() - t0
    return BaselineResult(
        FAMILY, spec.instance_id, spec.tier, solver, found, took if found else None, budget_s
    )


def plant_files(directory: Path) -> list[Path]:
    if directory.is_file():
        return [directory]
    found = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if not found:
        raise PrereviewError(f"no ICS plant files (*.json) in {directory}")
    return found


def _load(path: Path) -> PlantSpec:
    try:
        return PlantSpec.from_json(path.read_text())
    except OSError as exc:
        raise IcsError(f"unreadable: {exc.strerror}") from None


def _write(out: Path, spec: PlantSpec) -> None:
    path = out / f"{spec.instance_id}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(spec.to_json())
    tmp.chmod(0o600)
    tmp.replace(path)


class IcsInstanceTools(InstanceTools):
    def generate(
        self,
        out: Path,
        *,
        seed: int,
        tier: str,
        count: int,
        options: Mapping[str, Sequence[str]],
        jobs: int | None,
        progress: Progress,
    ) -> CommandResult:
        from prereview.suites.ics.spec import check_seed
        from prereview.suites.ics.verify import generate_verified

        t = parse_tier(tier)
        named = [*options.get("kind", ()), *options.get("bug_class", ())]
        try:
            kinds = parse_kinds(named or None)
            check_seed(seed)
        except IcsError as exc:
            raise PrereviewError(str(exc)) from None
        if not 1 <= count <= 100:
            raise PrereviewError(f"count {count} is outside 1-100")
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
        rows, rejected = [], 0
        for n, kind in enumerate(kinds):
            try:
                made = generate_verified(seed, t, kind, count)
            except IcsError as exc:
                raise PrereviewError(str(exc)) from None
            rejected += len(made.rejected)
            for v in made.plants:
                _write(out, v.spec)
                rows.append(
                    {
                        "id": v.spec.instance_id,
                        "tier": t,
                        "kind": kind.value,
                        "sector": SECTORS[kind],
                        "seconds": f"{v.seconds:.2f}",
                    }
                )
            progress(n + 1, len(kinds), kind.value)
        return CommandResult(
            data={"instances": rows, "redrawn": rejected},
            table=ResultTable(
                f"{len(rows)} verified plant(s) in {out}",
                (("id", "id"), ("kind", "kind"), ("sector", "sector"), ("seconds", "seconds")),
                tuple(rows),
            ),
            notes=(f"{rejected} unstable draw(s) redrawn, never served",) if rejected else (),
        )

    def verify(
        self, directory: Path, *, jobs: int | None, fuzz_s: float, progress: Progress
    ) -> CommandResult:
        from prereview.suites.ics.verify import verify_plant

        files = plant_files(directory)
        rows = []
        for n, path in enumerate(files):
            progress(n, len(files), path.name)
            row: dict[str, object] = {"id": path.stem, "seconds": "-"}
            try:
                spec = _load(path)
                again = generate_plant(
                    spec.seed, spec.tier, PlantKind(spec.kind), spec.index, spec.attempt
                )
            except (IcsError, ValueError) as exc:
                rows.append({**row, "verified": False, "status": "FAILED", "failed": str(exc)})
                continue
            if again != spec:
                failed = "differs from the plant its seed generates (edited?)"
                rows.append({**row, "verified": False, "status": "FAILED", "failed": failed})
                continue
            v = verify_plant(spec)
            rows.append(
                {
                    "id": spec.instance_id,
                    "verified": v.verified,
                    "status": "verified" if v.verified else "FAILED",
                    "seconds": f"{v.seconds:.2f}",
                    "failed": "; ".join(f"{c.name}: {c.detail}" for c in v.failures)[:300],
                }
            )
        return verification_result(rows, "plant(s)")

    def baseline(
        self,
        directory: Path,
        *,
        budget_s: float,
        seed: int,
        max_runs: int | None,
        jobs: int | None,
        progress: Progress,
    ) -> CommandResult:
        if budget_s <= 0:
            raise PrereviewError(f"budget {budget_s} must be positive")
        try:
            specs = [_load(p) for p in plant_files(directory)]
        except IcsError as exc:
            raise PrereviewError(str(exc)) from None
        jobs_ = [(task, s) for s in specs for task in ("ics_attack", "ics_defend")]
        results = []
        with tempfile.TemporaryDirectory(prefix="ics-baseline-") as tmp:
            for i, (task, spec) in enumerate(jobs_):
                results.append(baseline_trial(task, spec, Path(tmp) / str(i), budget_s))
                progress(i + 1, len(jobs_), spec.instance_id)
        rows = tuple(
            {
                "id": r.instance_id,
                "tier": r.tier,
                "solver": r.solver,
                "found": "yes" if r.found else "no",
                "seconds": f"{r.seconds:.1f}" if r.seconds is not None else "-",
            }
            for r in results
        )
        return CommandResult(
            data={"results": [r.as_dict() for r in results]},
            table=ResultTable(
                f"non-AI baselines on {len(specs)} plant(s)",
                (
                    ("id", "id"),
                    ("tier", "tier"),
                    ("solver", "solver"),
                    ("found", "found"),
                    ("seconds", "seconds"),
                ),
                rows,
            ),
        )
