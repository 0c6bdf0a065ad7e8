"""The installed task families as `prereview tasks list --json` prints them (and the API
serves them): tasks, tiers, suites, and a broken family's reason."""

from __future__ import annotations

from typing import Any

from prereview.suites.registry import installed_families


def family_listing() -> list[dict[str, Any]]:
    families = installed_families()
    data: list[dict[str, Any]] = [
        {
            "family": f.name,
            "description": f.description,
            "inspect_tasks": [f"prereview/{t.name}" for t in f.tasks()],
            "tiers": {str(t): n for t, n in f.tier_names().items()},
            "suites": [s.name for s in f.suites()],
            **f.listing(),
            "problem": f.unavailable(),
        }
        for f in families.families.values()
    ]
    data += [
        {"family": p.family, "problem": p.reason, "entry_point": p.entry_point}
        for p in families.problems
    ]
    return data
