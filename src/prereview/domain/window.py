"""Release-window policies as data: when, relative to the public release, a submission may arrive.

The profiles ship in `window_policies.toml` (default `eo-2026`: at most 30 days ahead and at least a
configurable minimum; `draft-14-90`). An install can override a profile's numbers, or add
profiles, under `[prereview.window_policies.NAME]` in its config file. A violation names the
profile and the rule, and the caller stores nothing.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from prereview.errors import PrereviewError


class WindowPolicyError(PrereviewError):
    """The policy name or its configuration is not valid."""


class WindowViolationError(PrereviewError):
    """The release date does not satisfy a rule of the window policy."""

    def __init__(self, policy: str, rule: str, message: str) -> None:
        super().__init__(f"release window policy {policy!r}, rule {rule!r}: {message}")
        self.policy = policy
        self.rule = rule


@dataclass(frozen=True)
class ReleaseWindowPolicy:
    name: str
    description: str
    min_lead_days: int
    max_lead_days: int

    def __post_init__(self) -> None:
        if not 0 <= self.min_lead_days <= self.max_lead_days:
            raise WindowPolicyError(
                f"window policy {self.name!r}: need 0 <= min_lead_days <= max_lead_days, got "
                f"{self.min_lead_days} and {self.max_lead_days}"
            )

    def check(self, submitted_on: date, release_date: date) -> int:
        """The lead time in days, or WindowViolationError naming the rule it breaks."""
        lead = (release_date - submitted_on).days
        if lead < 0:
            raise WindowViolationError(
                self.name,
                "release-date-not-past",
                f"release date {release_date} is in the past (submission date {submitted_on})",
            )
        if lead > self.max_lead_days:
            raise WindowViolationError(
                self.name,
                "max-lead-days",
                f"release date {release_date} is {lead} days after submission; submissions open "
                f"at most {self.max_lead_days} days before release (from "
                f"{date.fromordinal(release_date.toordinal() - self.max_lead_days)})",
            )
        if lead < self.min_lead_days:
            raise WindowViolationError(
                self.name,
                "min-lead-days",
                f"release date {release_date} is {lead} days after submission; the assessment "
                f"needs at least {self.min_lead_days} days before release",
            )
        return lead


@dataclass(frozen=True)
class WindowPolicies:
    default: str
    profiles: dict[str, ReleaseWindowPolicy]

    def get(self, name: str | None) -> ReleaseWindowPolicy:
        key = name or self.default
        try:
            return self.profiles[key]
        except KeyError:
            known = ", ".join(sorted(self.profiles))
            raise WindowPolicyError(f"unknown window policy {key!r}; known: {known}") from None


def _as_int(name: str, field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WindowPolicyError(f"window policy {name!r}: {field} must be an integer")
    return value


@cache
def _shipped() -> tuple[str, dict[str, dict[str, Any]]]:
    """The profiles shipped in the package (parsed once: every API request opens a review
    service, and the file cannot change under a running process)."""
    shipped = tomllib.loads(
        resources.files("prereview.domain").joinpath("window_policies.toml").read_text()
    )
    return str(shipped["default"]), {k: dict(v) for k, v in shipped["policies"].items()}


def load_policies(overrides: dict[str, Any] | None = None) -> WindowPolicies:
    """The shipped profiles with an install's overrides (`Settings.extra["window_policies"]`)."""
    default, shipped = _shipped()
    raw: dict[str, dict[str, Any]] = {k: dict(v) for k, v in shipped.items()}
    for name, values in (overrides or {}).items():
        if not isinstance(values, dict):
            raise WindowPolicyError(f"window policy override {name!r} must be a table")
        raw.setdefault(name, {"description": f"{name} (configured)"}).update(values)
    profiles = {}
    for name, values in raw.items():
        missing = {"min_lead_days", "max_lead_days"} - set(values)
        if missing:
            raise WindowPolicyError(f"window policy {name!r} lacks {', '.join(sorted(missing))}")
        profiles[name] = ReleaseWindowPolicy(
            name=name,
            description=str(values.get("description", "")),
            min_lead_days=_as_int(name, "min_lead_days", values["min_lead_days"]),
            max_lead_days=_as_int(name, "max_lead_days", values["max_lead_days"]),
        )
    return WindowPolicies(default=default, profiles=profiles)
