"""The installed task families, from the `prereview.families` entry-point group.

Every family, prereview's own included, is found the same way: an entry point naming a
`TaskFamily` subclass (or a callable returning an instance). One that fails to import or breaks
the interface is kept as a `FamilyProblem` (its name and the reason), which `prereview doctor`
and `prereview tasks list` show; the other families keep working.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from typing import Any, Protocol

from prereview.errors import PrereviewError
from prereview.suites.interface import (
    InterfaceViolation,
    Suite,
    TaskFactory,
    TaskFamily,
    validate_family,
)

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "prereview.families"


class UnknownSuiteError(PrereviewError):
    pass


class UnknownFamilyError(PrereviewError):
    pass


class UnknownTaskError(PrereviewError):
    pass


class EntryPointLike(Protocol):
    name: str
    value: str

    def load(self) -> Any: ...


@dataclass(frozen=True)
class FamilyProblem:
    """A registered family that could not be used, and why (one line)."""

    family: str
    reason: str
    entry_point: str


@dataclass(frozen=True)
class Families:
    """The usable families by name, and the registrations that failed."""

    families: dict[str, TaskFamily] = field(default_factory=dict)
    problems: tuple[FamilyProblem, ...] = ()

    def get(self, name: str) -> TaskFamily:
        family = self.families.get(name)
        if family is None:
            broken = {p.family: p.reason for p in self.problems}
            if name in broken:
                raise UnknownFamilyError(f"task family {name!r} is broken: {broken[name]}")
            raise UnknownFamilyError(
                f"unknown task family {name!r}: valid families are "
                f"{', '.join(sorted(self.families)) or 'none'}"
            )
        return family

    def suites(self) -> dict[str, tuple[TaskFamily, Suite]]:
        """Every suite of every family, by name (first registration wins a clash)."""
        out: dict[str, tuple[TaskFamily, Suite]] = {}
        for family in self.families.values():
            for suite in family.suites():
                out.setdefault(suite.name, (family, suite))
        return out

    def available_suites(self) -> list[str]:
        return [n for n, (f, _) in self.suites().items() if f.unavailable() is None]

    def get_suite(self, name: str) -> Suite:
        found = self.suites().get(name)
        if found is None or found[0].unavailable() is not None:
            reason = (
                f"is not available: {found[0].unavailable()}" if found is not None else "is unknown"
            )
            raise UnknownSuiteError(
                f"suite {name!r} {reason}; available: {', '.join(self.available_suites())}"
            )
        return found[1]

    def quick_suite(self) -> str:
        """The demo's suite: the first available quick suite, by registration order of
        families that have instances the model works on, else any quick suite."""
        quick = [
            (family.instance_tools() is None, name)
            for name, (family, suite) in self.suites().items()
            if suite.quick and family.unavailable() is None
        ]
        if not quick:
            raise UnknownSuiteError("no installed task family offers a quick suite")
        return min(quick)[1]

    def default_suite(self) -> str:
        """The full suite of the first available family with generated instances, else the
        quick one."""
        for family in self.families.values():
            if family.unavailable() is None and family.instance_tools() is not None:
                for suite in family.suites():
                    if not suite.quick:
                        return suite.name
        return self.quick_suite()

    def tasks(self) -> list[TaskFactory]:
        return [t for f in self.families.values() for t in f.tasks()]

    def resolve_task(self, ref: str) -> TaskFactory:
        """A stored plan's task reference (`family/task`, or the older `module:function`)."""
        for factory in self.tasks():
            if factory.known_as(ref):
                return factory
        raise UnknownTaskError(
            f"the plan names task {ref!r}, which no installed task family offers"
        )

    def report_notes(self, tasks: Iterable[tuple[str, str]]) -> tuple[str, ...]:
        """What each family says in the report's method section of the (family, task) pairs
        that ran, in registration order."""
        ran: dict[str, list[str]] = {}
        for family, task in tasks:
            ran.setdefault(family, []).append(task)
        return tuple(
            note
            for name, family in self.families.items()
            if name in ran
            for note in family.report_notes(sorted(set(ran[name])))
        )

    def family_names(self) -> frozenset[str]:
        """Names rubric criteria and reports may use for families' results."""
        return frozenset(n for f in self.families.values() for n in f.rubric_families())


def _entry_points() -> Iterable[EntryPointLike]:
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def _instantiate(loaded: Any) -> TaskFamily:
    family = loaded() if callable(loaded) else loaded
    if not isinstance(family, TaskFamily):
        raise InterfaceViolation(f"{type(family).__name__} is not a TaskFamily")
    return family


def build_families(entry_points: Iterable[EntryPointLike]) -> Families:
    """Load and check every registration; a broken one becomes a problem, not an exception."""
    families: dict[str, TaskFamily] = {}
    problems: list[FamilyProblem] = []
    for ep in sorted(entry_points, key=lambda e: e.name):
        try:
            family = _instantiate(ep.load())
            validate_family(family)
            if family.name != ep.name:
                raise InterfaceViolation(
                    f"registered as {ep.name!r} but calls itself {family.name!r}"
                )
            if family.name in families:
                raise InterfaceViolation(f"a family named {family.name!r} is already registered")
            clash = {s.name for f in families.values() for s in f.suites()} & {
                s.name for s in family.suites()
            }
            if clash:
                raise InterfaceViolation(f"suite names {sorted(clash)} are already taken")
        except Exception as exc:  # a plug-in may fail in any way: report it, keep the rest
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            logger.warning("task family %s not loaded: %s", ep.name, reason)
            problems.append(FamilyProblem(ep.name, reason.rstrip(": "), ep.value))
            continue
        families[family.name] = family
    return Families(families, tuple(problems))


@cache
def installed_families() -> Families:
    """The families this install registers (loaded once per process)."""
    return build_families(_entry_points())


def reload_families() -> Families:
    """Forget the loaded families (after installing one, or in a test) and load them again."""
    installed_families.cache_clear()
    return installed_families()
