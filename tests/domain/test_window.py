from __future__ import annotations

from datetime import date, timedelta

import pytest

from prereview.domain.window import (
    WindowPolicyError,
    WindowViolationError,
    load_policies,
)

TODAY = date(2026, 3, 1)


def day(n: int) -> date:
    return TODAY + timedelta(days=n)


def test_default_policy_is_the_signed_order() -> None:
    policies = load_policies()
    policy = policies.get(None)
    assert policy.name == "eo-2026"
    assert policy.max_lead_days == 30
    assert policy.check(TODAY, day(30)) == 30
    assert policy.check(TODAY, day(policy.min_lead_days)) == policy.min_lead_days


@pytest.mark.parametrize(
    ("lead", "rule"),
    [
        (31, "max-lead-days"),
        (6, "min-lead-days"),
        (0, "min-lead-days"),
        (-1, "release-date-not-past"),
    ],
)
def test_eo_2026_violations_name_profile_and_rule(lead: int, rule: str) -> None:
    with pytest.raises(WindowViolationError) as err:
        load_policies().get("eo-2026").check(TODAY, day(lead))
    assert err.value.policy == "eo-2026" and err.value.rule == rule
    assert "'eo-2026'" in str(err.value) and f"'{rule}'" in str(err.value)


def test_draft_14_90() -> None:
    policy = load_policies().get("draft-14-90")
    assert policy.check(TODAY, day(90)) == 90
    assert policy.check(TODAY, day(14)) == 14
    for lead, rule in ((13, "min-lead-days"), (91, "max-lead-days")):
        with pytest.raises(WindowViolationError, match=rule):
            policy.check(TODAY, day(lead))


def test_minimum_is_configurable_and_profiles_can_be_added() -> None:
    policies = load_policies(
        {"eo-2026": {"min_lead_days": 20}, "agency-pilot": {"min_lead_days": 1, "max_lead_days": 5}}
    )
    with pytest.raises(WindowViolationError, match="min-lead-days"):
        policies.get("eo-2026").check(TODAY, day(19))
    assert policies.get("eo-2026").max_lead_days == 30  # only the overridden number changes
    assert policies.get("agency-pilot").check(TODAY, day(5)) == 5


@pytest.mark.parametrize(
    "override",
    [
        {"eo-2026": {"min_lead_days": "ten"}},
        {"eo-2026": {"min_lead_days": 40}},
        {"eo-2026": 3},
        {"half": {"min_lead_days": 1}},
    ],
)
def test_bad_policy_configuration_is_reported(override: dict[str, object]) -> None:
    with pytest.raises(WindowPolicyError):
        load_policies(override)  # type: ignore[arg-type]


def test_unknown_policy_lists_known_ones() -> None:
    with pytest.raises(WindowPolicyError, match=r"draft-14-90.*eo-2026"):
        load_policies().get("eo-2027")
