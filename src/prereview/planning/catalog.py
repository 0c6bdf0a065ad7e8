"""Suites a review can run, as the installed task families offer them.

Each family (`prereview.suites.interface.TaskFamily`, registered in the `prereview.families`
entry-point group) names its suites: each task with its priority, sample count and the cost its
family's model predicts per sample. The planner reads them from here and knows no family.
"""

from __future__ import annotations

from prereview.suites.interface import Suite, TaskFactory, TaskSpec
from prereview.suites.registry import UnknownSuiteError, installed_families

__all__ = [
    "Suite",
    "TaskSpec",
    "UnknownSuiteError",
    "available_suites",
    "default_suite",
    "get_suite",
    "quick_suite",
    "resolve_task",
    "suites",
]


def suites() -> dict[str, Suite]:
    """Every suite the installed families offer, available here or not."""
    return {name: suite for name, (_, suite) in installed_families().suites().items()}


def available_suites() -> list[str]:
    return installed_families().available_suites()


def default_suite() -> str:
    return installed_families().default_suite()


def quick_suite() -> str:
    """The demo's suite: small enough for the embedded model."""
    return installed_families().quick_suite()


def get_suite(name: str) -> Suite:
    return installed_families().get_suite(name)


def resolve_task(ref: str) -> TaskFactory:
    """The task a stored plan names (`family/task`)."""
    return installed_families().resolve_task(ref)
