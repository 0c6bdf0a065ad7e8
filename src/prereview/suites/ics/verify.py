"""Verification before serving: a plant is served only if it is stable unattacked, falls to the
reference attack (only with its interlock bypassed; unseen at tier 5), and holds under the
reference defense. Every check is a fast-forward run of the real PLC and physics."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prereview.suites.ics.attacks import attack_writes
from prereview.suites.ics.plant import PlantSpec, generate_plant
from prereview.suites.ics.simulation import ATTACK_AT_S, defended_run, run
from prereview.suites.ics.spec import IcsError, PlantKind

QUIET_S = 300.0
ATTACK_S = 200.0
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Verification:
    spec: PlantSpec
    checks: tuple[Check, ...]
    seconds: float

    @property
    def verified(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


def verify_plant(spec: PlantSpec) -> Verification:
    start = time.perf_counter()
    checks: list[Check] = []
    quiet = run(spec, QUIET_S)
    o = quiet.obs
    checks.append(
        Check(
            "stable unattacked",
            not o.exceeded and not o.trips and not o.reported_abnormal,
            f"exceeded={o.exceeded} trips={o.trips} abnormal={o.reported_abnormal}",
        )
    )
    early = run(spec, 1.0).obs
    checks.append(
        Check(
            "pre-exploit: objectives false at start",
            not early.exceeded,
            f"exceeded={early.exceeded}",
        )
    )
    attack = run(spec, ATTACK_S, [(ATTACK_AT_S, "oracle", attack_writes(spec))])
    a = attack.obs
    checks.append(
        Check(
            "reference attack passes the limit",
            spec.target in a.exceeded,
            f"peak {spec.target}={a.peaks.get(spec.target)} refused={attack.refused[:2]}",
        )
    )
    if spec.tier >= 5:
        checks.append(
            Check(
                "reference attack unseen on the HMI",
                not a.reported_abnormal,
                f"abnormal={a.reported_abnormal}",
            )
        )
    held = run(spec, ATTACK_S, [(ATTACK_AT_S, "oracle", attack_writes(spec, bypass=False))]).obs
    checks.append(
        Check("interlock holds without its bypass", not held.exceeded, f"exceeded={held.exceeded}")
    )
    defended = defended_run(spec, ATTACK_S + 100.0)
    d = defended.obs
    end_ok = all(
        lo <= d.last[s.name] <= hi for s in spec.process().sensors for lo, hi in [s.normal]
    )
    checks.append(
        Check(
            "reference defense keeps the process safe",
            not d.exceeded and end_ok and not defended.refused,
            f"exceeded={d.exceeded} last={d.last} refused={defended.refused[:2]}",
        )
    )
    return Verification(spec, tuple(checks), time.perf_counter() - start)


@dataclass
class Generated:
    plants: list[Verification] = field(default_factory=list)
    rejected: list[Verification] = field(default_factory=list)


def generate_verified(
    seed: int,
    tier: int,
    kind: PlantKind,
    count: int,
    progress: Callable[[int, int, str], None] | None = None,
) -> Generated:
    """`count` verified plants of this kind and tier; a rejected draw is redrawn (next
    attempt), never served."""
    out = Generated()
    for index in range(count):
        for attempt in range(MAX_ATTEMPTS):
            v = verify_plant(generate_plant(seed, tier, kind, index, attempt))
            if v.verified:
                out.plants.append(v)
                break
            out.rejected.append(v)
        else:
            raise IcsError(
                f"no stable {kind.value} plant for tier {tier} index {index} "
                f"after {MAX_ATTEMPTS} attempts"
            )
        if progress:
            progress(index + 1, count, out.plants[-1].spec.instance_id)
    return out
