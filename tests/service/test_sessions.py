"""Portal sessions and the token throttle outlive a restart of the server: sessions are kept
hashed with their expiry enforced, failed attempts keep counting; a revoked token's form post
leads to sign-in keeping the form's non-secret fields."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from prereview.service.app import create_app
from prereview.service.context import ServiceContext
from prereview.service.problems import ServiceProblem
from prereview.service.sessions import COOKIE, SessionStore, key_hash
from prereview.service.throttle import FailedAttemptThrottle
from prereview.store.tables.review import SubmissionRow
from prereview.store.tables.service import FailedTokenAttemptRow, PortalSessionRow
from prereview.vault.principals import Role
from tests.service.test_portal import signed_in
from tests.service.world import World


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def stored_keys(context: ServiceContext) -> set[str]:
    with context.vault.db.session() as s:
        return set(s.scalars(select(PortalSessionRow.key_hash)))


def test_a_session_survives_a_restart_and_is_stored_hashed(
    world: World, context: ServiceContext
) -> None:
    with TestClient(create_app(world.settings, context=context)) as before:
        csrf = signed_in(before, world.tokens["coordinator"])
        cookie = before.cookies[COOKIE]
    assert key_hash(cookie) in stored_keys(context)
    with context.vault.db.session() as s:
        dumped = repr(s.execute(select(PortalSessionRow)).all())
    assert cookie not in dumped and csrf not in dumped
    restarted = ServiceContext.open(world.settings)  # a new server process on the same store
    try:
        with TestClient(create_app(world.settings, context=restarted)) as after:
            after.cookies.set(COOKIE, cookie)
            page = after.get("/principals", follow_redirects=False)
            assert page.status_code == 200 and 'name="csrf" value="' + csrf + '"' in page.text
            # signing out there ends it for good
            assert after.post("/signout", data={"csrf": csrf}).status_code == 200
        assert key_hash(cookie) not in stored_keys(context)
        with TestClient(create_app(world.settings, context=restarted)) as later:
            later.cookies.set(COOKIE, cookie)
            gone = later.get("/principals", follow_redirects=False)
            assert gone.status_code == 303 and gone.headers["location"].startswith("/signin")
    finally:
        restarted.close()


def test_expiry_is_enforced_after_a_restart(context: ServiceContext) -> None:
    clock = Clock()
    first = SessionStore(idle_s=60, max_s=600, clock=clock, db=context.vault.db)
    idle = first.create("prn-idle")
    busy = first.create("prn-busy")
    for _ in range(9):  # kept busy: idle never runs out, the absolute limit does
        clock.now += 59
        assert first.get(busy.id) is not None
    clock.now += 59  # 590 s after sign-in
    restarted = SessionStore(idle_s=60, max_s=600, clock=clock, db=context.vault.db)
    assert restarted.get(idle.id) is None  # idle 590 s > 60 s
    assert key_hash(idle.id) not in stored_keys(context)
    again = restarted.get(busy.id)
    assert again is not None and again.principal_id == "prn-busy" and again.csrf == busy.csrf
    clock.now += 20  # 610 s after sign-in
    assert SessionStore(idle_s=60, max_s=600, clock=clock, db=context.vault.db).get(busy.id) is None
    assert key_hash(busy.id) not in stored_keys(context)


def test_failed_attempts_keep_counting_after_a_restart(context: ServiceContext) -> None:
    clock = Clock()
    address = "203.0.113.9"
    first = FailedAttemptThrottle(limit=3, window_s=3600, clock=clock, db=context.vault.db)
    for _ in range(3):
        first.check(address)
        first.failed(address)
    restarted = FailedAttemptThrottle(limit=3, window_s=3600, clock=clock, db=context.vault.db)
    with pytest.raises(ServiceProblem) as refused:
        restarted.check(address)
    assert refused.value.status == 429 and "try again in 3601 s" in str(refused.value)
    restarted.check("203.0.113.10")  # another address is not affected
    clock.now += 3601  # the window has passed: the old failures are dropped as it binds
    later = FailedAttemptThrottle(limit=3, window_s=3600, clock=clock, db=context.vault.db)
    later.check(address)
    with context.vault.db.session() as s:
        left = s.scalar(
            select(func.count())
            .select_from(FailedTokenAttemptRow)
            .where(FailedTokenAttemptRow.address == address)
        )
    assert left == 0


def test_a_revoked_token_leads_to_sign_in_keeping_the_forms_non_secret_fields(
    world: World, context: ServiceContext
) -> None:
    _, token = context.vault.principals.add("temp-lab", Role.SUBMITTER, "Org A", "test")
    with TestClient(create_app(world.settings, context=context)) as client:
        csrf = signed_in(client, token)
        with context.vault.db.session() as s:
            before = s.scalar(select(func.count()).select_from(SubmissionRow))
        context.vault.principals.revoke("temp-lab", "test")
        form = {
            "csrf": csrf,
            "organization": "Org A",
            "model": "simulated/half",
            "model_name": "Half-filled",
            "release_date": "2030-01-01",
            "api_key": "sk-do-not-keep",
        }
        answer = client.post("/submit", data=form)
        assert answer.status_code == 401 and "session ended" in answer.text
        assert 'name="carry.model_name" value="Half-filled"' in answer.text
        assert "sk-do-not-keep" not in answer.text and csrf not in answer.text
        with context.vault.db.session() as s:
            assert s.scalar(select(func.count()).select_from(SubmissionRow)) == before
        # signing in again (as a principal still valid) brings the fields back
        pre = re.search(r'name="csrf" value="([^"]+)"', answer.text)
        assert pre is not None
        carried = {
            k: v for k, v in re.findall(r'name="(carry\.[a-z_]+)" value="([^"]*)"', answer.text)
        }
        back = client.post(
            "/signin",
            data={"csrf": pre.group(1), "token": world.tokens["submitter_own"], "next": "/submit",
                  **carried},
        )  # fmt: skip
        assert back.status_code == 200 and str(back.url.path) == "/submit"
        assert 'value="Half-filled"' in back.text and "sk-do-not-keep" not in back.text
