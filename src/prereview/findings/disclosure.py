"""Coordinated disclosure: a finding's status, its vendor deadline from a policy profile, overdue.

Status moves forward only::

    new → triaged → vendor_notified → fix_available → published
                                    ↘────────────────↗  (deadline passed without a fix)

The deadline is the policy's: with `cisa-45`, publication 45 days after the vendor was notified;
with `90+30`, 90 days to fix, and when a fix ships in time publication 30 days after the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Literal

import yaml

from prereview.errors import PrereviewError

Status = Literal["new", "triaged", "vendor_notified", "fix_available", "published"]
STATUSES: tuple[Status, ...] = ("new", "triaged", "vendor_notified", "fix_available", "published")
NEXT: dict[Status, tuple[Status, ...]] = {
    "new": ("triaged",),
    "triaged": ("vendor_notified",),
    "vendor_notified": ("fix_available", "published"),
    "fix_available": ("published",),
    "published": (),
}
DEFAULT_POLICY = "cisa-45"


class DisclosureError(PrereviewError):
    """A disclosure step that is not allowed now; the message says which steps are."""


@dataclass(frozen=True)
class DisclosurePolicy:
    name: str
    description: str
    fix_days: int
    after_fix_days: int | None = None

    def deadline(self, notified: date, fixed: date | None = None) -> date:
        """The day the details are due to be published."""
        due = notified + timedelta(days=self.fix_days)
        if fixed is not None and self.after_fix_days is not None and fixed <= due:
            return fixed + timedelta(days=self.after_fix_days)
        return due


@cache
def policies() -> dict[str, DisclosurePolicy]:
    text = (
        resources.files("prereview.findings").joinpath("data/disclosure-policies.yaml").read_text()
    )
    raw = yaml.safe_load(text)["policies"]
    return {
        name: DisclosurePolicy(
            str(name), p["description"], int(p["fix_days"]), p.get("after_fix_days")
        )
        for name, p in raw.items()
    }


def policy(name: str) -> DisclosurePolicy:
    known = policies()
    if name not in known:
        raise DisclosureError(f"unknown disclosure policy {name!r}; known: {', '.join(known)}")
    return known[name]


def check_transition(current: str, target: str) -> Status:
    """`target` as a Status if the finding may move there from `current`, else a clear error."""
    if target not in STATUSES:
        raise DisclosureError(f"unknown status {target!r}; statuses: {' → '.join(STATUSES)}")
    allowed = NEXT.get(current, ())  # type: ignore[call-overload]
    if target not in allowed:
        nexts = ", ".join(allowed) or "none (published is final)"
        raise DisclosureError(f"a {current} finding cannot become {target}; next: {nexts}")
    return target


def is_overdue(status: str, deadline: date | None, today: date) -> bool:
    """Notified or fixed but not published, and past the deadline."""
    return (
        status in ("vendor_notified", "fix_available") and deadline is not None and today > deadline
    )
