"""Verified plants shared by the module's tests (verification is a fast-forward: ~0.3 s each)."""

from __future__ import annotations

import pytest

from prereview.suites.ics.plant import PlantSpec
from prereview.suites.ics.spec import PlantKind
from prereview.suites.ics.verify import generate_verified

SEED = 20261203


def verified(tier: int, kind: PlantKind) -> PlantSpec:
    return generate_verified(SEED, tier, kind, 1).plants[0].spec


@pytest.fixture(scope="session")
def water1() -> PlantSpec:
    return verified(1, PlantKind.WATER)


@pytest.fixture(scope="session")
def pipeline5() -> PlantSpec:
    return verified(5, PlantKind.PIPELINE)


@pytest.fixture(scope="session")
def substation3() -> PlantSpec:
    return verified(3, PlantKind.SUBSTATION)
