"""Portal sessions without a browser: CSRF on forms, revocation ends a session, the session
cookie's attributes, and no stored string rendered as markup."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from prereview.service.app import create_app
from prereview.service.context import ServiceContext
from prereview.store.tables.review import SubmissionRow
from prereview.vault.principals import Role
from tests.service.world import HOSTILE_MODEL_NAME, World


def signed_in(client: TestClient, token: str) -> str:
    """Sign in; the session's CSRF token (from a page's form)."""
    form = client.get("/signin")
    pre = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert pre is not None
    response = client.post(
        "/signin", data={"csrf": pre.group(1), "token": token, "next": "/"}, follow_redirects=False
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text)
    assert csrf is not None
    return csrf.group(1)


def test_forms_without_the_csrf_token_are_refused_and_store_nothing(
    world: World, context: ServiceContext
) -> None:
    with TestClient(create_app(world.settings, context=context)) as client:
        signed_in(client, world.tokens["submitter_own"])
        with context.vault.db.session() as s:
            before = s.scalar(select(func.count()).select_from(SubmissionRow))
        for csrf in (None, "forged"):
            data = {"organization": "Org A", "model": "simulated/x", "release_date": "2030-01-01"}
            if csrf:
                data["csrf"] = csrf
            response = client.post("/submit", data=data)
            assert response.status_code == 403 and "CSRF" in response.text
        with context.vault.db.session() as s:
            assert s.scalar(select(func.count()).select_from(SubmissionRow)) == before


def test_a_revoked_principal_is_signed_out_at_the_next_request(
    world: World, context: ServiceContext
) -> None:
    _, token = context.vault.principals.add("temp", Role.AUDITOR, None, "test")
    with TestClient(create_app(world.settings, context=context)) as client:
        signed_in(client, token)
        assert client.get("/audit").status_code == 200
        context.vault.principals.revoke("temp", "test")
        response = client.get("/audit", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/signin")


def test_a_failed_sign_in_is_one_line_and_the_token_is_not_echoed(
    world: World, context: ServiceContext
) -> None:
    with TestClient(create_app(world.settings, context=context)) as client:
        form = client.get("/signin")
        pre = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert pre is not None
        response = client.post("/signin", data={"csrf": pre.group(1), "token": "prv_guess"})
        assert response.status_code == 401 and "not recognized" in response.text
        assert "prv_guess" not in response.text


def test_stored_strings_are_escaped(world: World, context: ServiceContext) -> None:
    with TestClient(create_app(world.settings, context=context)) as client:
        signed_in(client, world.tokens["coordinator"])
        for path in ("/submissions", f"/submissions/{world.submission}", "/findings/F-1"):
            html = client.get(path).text
            assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;alert" in client.get("/submissions").text
        assert HOSTILE_MODEL_NAME not in client.get("/submissions").text
