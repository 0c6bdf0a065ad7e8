"""What a token authenticates as, read fresh on every request: organization, every assignment,
revocation; and what a reference resolves to. The service authenticates and resolves on every
call, so nothing here may be served from a cache that outlives a change."""

from __future__ import annotations

import pytest

from prereview.store.base import new_id, utcnow
from prereview.store.tables.review import ReviewRow
from prereview.vault.errors import AuthenticationError
from prereview.vault.policy import Operation
from tests.vault.conftest import World, add_submission


def test_principal_carries_its_organization_and_every_assignment(world: World) -> None:
    submitter = world.vault.authenticate(world.tokens["submitter"]).principal
    assert (submitter.organization, submitter.assigned_submissions) == ("Org A", frozenset())
    assert submitter.organization_id is not None and not submitter.revoked
    evaluator = world.vault.authenticate(world.tokens["evaluator"]).principal
    assert evaluator.organization is None
    assert evaluator.assigned_submissions == {world.own}


def test_assignment_changes_and_revocation_hold_from_the_next_request(world: World) -> None:
    token = world.tokens["evaluator"]
    coordinator = world.sessions["coordinator2"].guard
    third = add_submission(world.vault, "Org A")
    for sub in (world.other, third):
        handle = coordinator.authorize(Operation.REVIEW_ASSIGN, sub)
        world.vault.principals.assign("evaluator", handle, "test")
    assert world.vault.authenticate(token).principal.assigned_submissions == {
        world.own,
        world.other,
        third,
    }
    handle = coordinator.authorize(Operation.REVIEW_ASSIGN, world.own)
    world.vault.principals.unassign("evaluator", handle)
    assert world.vault.authenticate(token).principal.assigned_submissions == {world.other, third}
    world.vault.principals.revoke("evaluator", "test")
    before = len(world.vault.audit.entries())
    with pytest.raises(AuthenticationError, match="not recognized"):
        world.vault.authenticate(token)
    refused = world.vault.audit.entries()[before:]
    assert [(e.action, e.outcome) for e in refused] == [("auth", "denied")]
    assert world.vault.audit.verify().ok


def test_a_reference_resolves_by_submission_or_review_id_exactly(world: World) -> None:
    resolver = world.vault.resolver
    assert resolver.resolve(world.own) is not None
    assert resolver.resolve(world.own).review_id is None  # type: ignore[union-attr]
    review_id = new_id("rev")
    with world.vault.db.session() as s:
        s.add(ReviewRow(id=review_id, submission_id=world.own, created_at=utcnow()))
    by_sub, by_review = resolver.resolve(world.own), resolver.resolve(review_id)
    assert by_sub == by_review and by_sub is not None
    assert (by_sub.submission_id, by_sub.review_id) == (world.own, review_id)
    for spelling in (review_id.upper(), f" {review_id}", world.own + " ", world.own[:-1]):
        assert resolver.resolve(spelling) is None
