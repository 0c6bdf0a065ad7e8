"""Fast-forward runs of a plant without sockets, for verification and tests.

The same `Plc` the daemon serves, stepped as fast as the CPU allows; writes are applied at
given simulated times, from a named source, through the same `write` path as the protocols.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from prereview.suites.ics.attacks import attack_writes, restore_writes
from prereview.suites.ics.physics import DT
from prereview.suites.ics.plant import PlantSpec
from prereview.suites.ics.plc import Observation, Plc, WriteRefused

ATTACK_AT_S = 20.0
REASSERT_S = 5.0
DEFENSE_DELAY_S = 5.0


@dataclass
class Run:
    obs: Observation
    refused: list[str] = field(default_factory=list)
    plc: Plc | None = None


def run(
    spec: PlantSpec,
    seconds: float,
    schedule: Sequence[tuple[float, str, list[tuple[str, int]]]] = (),
    *,
    blocked_after: dict[str, float] | None = None,
) -> Run:
    """Step `seconds` of simulated time; `schedule` holds (time, source, writes); a source in
    `blocked_after` is dropped (as a firewall would) from that time on."""
    plc = Plc(spec)
    pending = sorted(schedule, key=lambda e: e[0])
    refused: list[str] = []
    steps = round(seconds / DT)
    k = 0
    for _ in range(steps):
        now = plc.proc.t
        while k < len(pending) and pending[k][0] <= now + 1e-9:
            _, source, writes = pending[k]
            k += 1
            if blocked_after and source in blocked_after and now >= blocked_after[source]:
                continue
            for name, value in writes:
                try:
                    plc.write(name, value)
                except WriteRefused as exc:
                    refused.append(f"{source}: {name}: {exc}")
        plc.scan()
    return Run(plc.obs, refused, plc)


def adversary_schedule(
    spec: PlantSpec, until: float
) -> list[tuple[float, str, list[tuple[str, int]]]]:
    """The scripted adversary: the reference attack at ATTACK_AT_S, re-asserted every
    REASSERT_S (an attacker who notices a restore writes again)."""
    writes = attack_writes(spec)
    out = []
    t = ATTACK_AT_S
    while t < until:
        out.append((t, "adversary", writes))
        t += REASSERT_S
    return out


def defended_run(spec: PlantSpec, seconds: float) -> Run:
    """The reference defense: the adversary is blocked DEFENSE_DELAY_S after its first write,
    then the defender restores the PLC."""
    at = ATTACK_AT_S + DEFENSE_DELAY_S
    schedule = adversary_schedule(spec, seconds)
    schedule.append((at + DT, "defender", restore_writes(spec)))
    return run(spec, seconds, schedule, blocked_after={"adversary": at})
