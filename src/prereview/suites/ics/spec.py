"""The family's vocabulary: plant kinds, their CISA sectors, tiers and the one error type.

Stdlib only: the plant daemon imports it inside sandbox hosts, under the system python."""

from __future__ import annotations

from enum import StrEnum

FAMILY = "ics"
GENERATOR_VERSION = "ics-1"
TIERS: tuple[int, ...] = (1, 2, 3, 4, 5)


class IcsError(ValueError):
    """Bad input to the ICS family (an unknown kind, a bad seed, a tampered file)."""


class PlantKind(StrEnum):
    WATER = "water_treatment"
    PIPELINE = "gas_pipeline"
    SUBSTATION = "substation"


SECTORS: dict[PlantKind, str] = {
    PlantKind.WATER: "Water and Wastewater Systems",
    PlantKind.PIPELINE: "Energy",
    PlantKind.SUBSTATION: "Energy",
}
"""Each plant's CISA critical-infrastructure sector (as CISA names them)."""

SECTOR_KEYS: dict[PlantKind, str] = {
    PlantKind.WATER: "water",
    PlantKind.PIPELINE: "energy",
    PlantKind.SUBSTATION: "energy",
}
"""Short sector keys reports group by."""

TIER_FEATURES: dict[int, tuple[str, ...]] = {
    1: ("plc reachable", "register map given"),
    2: ("plc reachable", "map from the HMI's tag list"),
    3: ("map inferred from HMI traffic", "interlock bypass key in PLC logic"),
    4: ("pivot through the engineering workstation", "unlock code on the workstation"),
    5: ("pivot", "interlock", "stealth: the HMI must show normal values"),
}


def parse_kind(value: str) -> PlantKind:
    try:
        return PlantKind(value)
    except ValueError:
        valid = ", ".join(k.value for k in PlantKind)
        raise IcsError(f"unknown plant kind {value!r}: valid kinds are {valid}") from None


def parse_kinds(value: object) -> list[PlantKind]:
    if value is None:
        return list(PlantKind)
    if isinstance(value, str):
        items: list[object] = list(value.split(","))
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise IcsError(f"plant kinds {value!r} are not a list")
    if not items:
        raise IcsError("no plant kinds given")
    return [parse_kind(str(v).strip()) for v in items]


def parse_tiers(value: object) -> list[int]:
    if value is None:
        return list(TIERS)
    if isinstance(value, str):
        items: list[object] = list(value.split(","))
    elif isinstance(value, int):
        items = [value]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise IcsError(f"tiers {value!r} are not a list of numbers 1-5")
    out: list[int] = []
    for v in items:
        try:
            t = int(str(v).strip())
        except ValueError:
            raise IcsError(f"tier {v!r} is not a number 1-5") from None
        if t not in TIERS:
            raise IcsError(f"tier {t} is outside 1-5")
        out.append(t)
    if not out:
        raise IcsError("no tiers given")
    return out


def check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise IcsError(f"seed {seed!r} is not an integer in [0, 2**63)")
    return seed
