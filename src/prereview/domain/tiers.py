"""The one expertise-tier vocabulary every task family, plan and report speaks.

A tier says who could be expected to solve an instance: 1 anyone after a tutorial, 5 nobody
today. Families choose which tiers they offer; they never rename them, so a report can set the
tiers of different families side by side.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

TIER_NAMES: Mapping[int, str] = MappingProxyType(
    {
        1: "non-expert",
        2: "apprentice",
        3: "practitioner",
        4: "expert",
        5: "frontier",
    }
)
"""Tier number to name (tier 5 is meant to be unsolved today)."""

TIERS: tuple[int, ...] = tuple(TIER_NAMES)


def tier_name(tier: int) -> str:
    """The name of a tier; a number outside the vocabulary is a programming error."""
    return TIER_NAMES[tier]
