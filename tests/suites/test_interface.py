"""The family interface's checks and the grader contract's `unknown` helper, without Inspect
runs: each violation is refused with a one-line reason and leaves the other families usable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from importlib import metadata

import pytest
from inspect_ai.scorer import NOANSWER

from prereview.suites import registry
from prereview.suites.interface import (
    InterfaceViolation,
    Suite,
    TaskFactory,
    TaskFamily,
    is_unknown,
    unknown_score,
    validate_family,
)
from tests.suites.plugin_family import EchoFileFamily

GROUP = registry.ENTRY_POINT_GROUP


def test_unknown_is_neither_success_nor_failure() -> None:
    score = unknown_score("poc.bin", "the fuzz run made 12 executions", {"kept": 1})
    assert score.value == NOANSWER and is_unknown(score.metadata)
    assert score.metadata is not None and score.metadata["kept"] == 1
    assert not is_unknown({"verdict": "incorrect"}) and not is_unknown(None)


class _Renamed(EchoFileFamily):
    name = "Bad Name"


class _Stolen(EchoFileFamily):
    def tasks(self) -> Sequence[TaskFactory]:
        (own,) = super().tasks()
        return (replace(own, family="memsafety"),)


class _Foreign(EchoFileFamily):
    def suites(self) -> Sequence[Suite]:
        (suite,) = super().suites()
        (spec,) = suite.tasks
        other = TaskFactory("echofile", "echofile_other", spec.factory.load)
        return (replace(suite, tasks=(replace(spec, factory=other),)),)


@pytest.mark.parametrize(
    ("family", "reason"),
    [
        (_Renamed(), "not a lowercase identifier"),
        (_Stolen(), "claims family 'memsafety'"),
        (_Foreign(), "not one of the family's tasks"),
    ],
)
def test_validate_refuses_with_the_reason(family: TaskFamily, reason: str) -> None:
    with pytest.raises(InterfaceViolation, match=reason):
        validate_family(family)


def test_registry_keeps_the_first_of_a_name_and_refuses_a_mismatch() -> None:
    value = "tests.suites.plugin_family:EchoFileFamily"
    found = registry.build_families(
        [
            metadata.EntryPoint("echofile", value, GROUP),
            metadata.EntryPoint("other", value, GROUP),
            metadata.EntryPoint("notafamily", "tests.suites.plugin_family:ANSWER", GROUP),
        ]
    )
    assert list(found.families) == ["echofile"]
    reasons = {p.family: p.reason for p in found.problems}
    assert "registered as 'other' but calls itself 'echofile'" in reasons["other"]
    assert "is not a TaskFamily" in reasons["notafamily"]
    assert found.resolve_task("echofile/echofile_write").name == "echofile_write"
    with pytest.raises(registry.UnknownTaskError, match="no installed task family"):
        found.resolve_task("memsafety/memsafety_poc")
    with pytest.raises(registry.UnknownSuiteError, match="available: echofile-quick"):
        found.get_suite("memsafety")
