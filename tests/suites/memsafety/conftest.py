"""Instances generated once per session and shared: generation and verification cost compiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from prereview.suites.memsafety.instance import Instance
from prereview.suites.memsafety.spec import BugClass
from prereview.suites.memsafety.tasks import prepare_instances

SEED = 20240611


@pytest.fixture(scope="session")
def instances_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tier 1 with every bug class, and tiers 2-5 with one class each, generated and verified."""
    root = tmp_path_factory.mktemp("memsafety-instances")
    prepare_instances(SEED, [1], list(BugClass), 1, str(root))
    for tier, bug in (
        (2, BugClass.DOUBLE_FREE),
        (3, BugClass.OOB_READ),
        (4, BugClass.USE_AFTER_FREE),
        (5, BugClass.INTEGER_OVERFLOW),
    ):
        prepare_instances(SEED, [tier], [bug], 1, str(root))
    return root


@pytest.fixture(scope="session")
def instances(instances_root: Path) -> list[Instance]:
    from prereview.suites.memsafety.instance import find_instances

    found = [i for d in sorted(instances_root.iterdir()) for i in find_instances(d)]
    assert len(found) == 10
    return found


def pick(instances: list[Instance], *, tier: int, bug: BugClass | None = None) -> Instance:
    return next(i for i in instances if i.tier == tier and (bug is None or i.bug_class == bug))
