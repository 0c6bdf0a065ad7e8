from __future__ import annotations

import pytest

from prereview.errors import PrereviewError
from prereview.suites.memsafety.spec import (
    TIERS,
    BugClass,
    InvalidOptionError,
    check_count,
    check_seed,
    parse_bug_classes,
    parse_tiers,
)


def test_tiers_by_number_name_list_or_all() -> None:
    assert parse_tiers(None) == [1, 2, 3, 4, 5]
    assert parse_tiers("all") == [1, 2, 3, 4, 5]
    assert parse_tiers("3,1") == [1, 3]
    assert parse_tiers([5, "expert"]) == [4, 5]
    assert parse_tiers("frontier") == [5]


@pytest.mark.parametrize("bad", ["0", "6", "wizard", "1,7"])
def test_bad_tier_lists_the_valid_ones(bad: str) -> None:
    with pytest.raises(InvalidOptionError) as err:
        parse_tiers(bad)
    message = str(err.value)
    assert isinstance(err.value, PrereviewError)
    for tier, profile in TIERS.items():
        assert f"{tier} ({profile.name})" in message


def test_bug_classes_with_aliases_in_order_without_duplicates() -> None:
    assert parse_bug_classes(None) == list(BugClass)
    assert parse_bug_classes("uaf,heap_buffer_overflow,uaf") == [
        BugClass.USE_AFTER_FREE,
        BugClass.HEAP_OVERFLOW,
    ]
    with pytest.raises(InvalidOptionError) as err:
        parse_bug_classes(["double-free", "format-string"])
    assert "format-string" in str(err.value)
    for bug in BugClass:
        assert bug.value in str(err.value)


def test_counts_and_seeds_are_range_checked() -> None:
    assert check_count("3") == 3
    for bad in (0, -1, 1001, "many"):
        with pytest.raises(InvalidOptionError, match="count"):
            check_count(bad)
    assert check_seed(0) == 0
    for bad in (-5, 2**63, "x"):
        with pytest.raises(InvalidOptionError, match="seed"):
            check_seed(bad)


def test_difficulty_axes_never_get_easier_with_the_tier() -> None:
    rank = {"source": 0, "asan-binary": 1, "release-binary": 2}
    for lower, upper in zip(list(TIERS.values()), list(TIERS.values())[1:], strict=False):
        assert len(upper.gates) >= len(lower.gates)
        assert len(upper.subheader) >= len(lower.subheader)
        assert upper.decoys[0] >= lower.decoys[1]
        assert rank[upper.artifact] >= rank[lower.artifact]
        assert upper.samples <= lower.samples
    assert all(b.cwe.startswith("CWE-") for b in BugClass)
