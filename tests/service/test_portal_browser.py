"""The portal in a real browser (Playwright driving Debian's chromium, never a downloaded one):
each role's main journey, against a real Uvicorn server on loopback. Every page visited is
checked for labelled form fields, keyboard-only reachability of every control, and the
absence of Content-Security-Policy violations; a failing journey leaves a screenshot in the
test's tmp dir."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from prereview.service.app import create_app
from prereview.service.context import ServiceContext
from prereview.vault.principals import Role
from tests.service.servers import serving
from tests.service.world import HOSTILE_MODEL_NAME, World

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed (make install)"
)


@pytest.fixture(scope="module")
def live(world: World, context: ServiceContext) -> Iterator[tuple[str, FastAPI]]:
    app = create_app(world.settings, context=context)
    with serving(app) as url:
        yield url, app


@pytest.fixture(scope="module")
def base_url(live: tuple[str, FastAPI]) -> str:
    return live[0]


@pytest.fixture(scope="module")
def browser(base_url: str) -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


class Visit:
    """A browser page that checks every page it lands on."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.violations: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", self._console)
        page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.violations.append(message.text)

    def _dialog(self, dialog: Any) -> None:  # a script injected through a stored string
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def go(self, path: str) -> None:
        self.page.goto(self.base_url + path)
        self.check()

    def follow(self, control: Any) -> None:
        """Click a link or a form's button and check the page it leads to: the click returns
        before the next document loads, so checking right after it could see the old page or a
        half-parsed new one."""
        with self.page.expect_navigation():
            control.click()
        self.check()

    def check(self) -> None:
        page = self.page
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea')]
                .filter(e => e.type !== 'hidden')
                .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                .map(e => e.name || e.id)"""
        )
        assert unlabelled == [], f"{page.url}: fields without a label: {unlabelled}"
        total = page.evaluate(
            """() => { const all = [...document.querySelectorAll(
                  'a[href], button, input:not([type=hidden]), select, textarea')]
                .filter(e => !e.disabled && e.getClientRects().length);
              all.forEach((e, i) => e.setAttribute('data-kbd', i)); return all.length; }"""
        )
        page.evaluate("() => { document.activeElement && document.activeElement.blur(); }")
        reached: set[str] = set()
        for _ in range(3 * total + 3):  # a date field takes a Tab per part
            page.keyboard.press("Tab")
            mark = page.evaluate(
                "() => document.activeElement && document.activeElement.getAttribute('data-kbd')"
            )
            if mark is not None:
                reached.add(mark)
            if len(reached) == total:
                break
        missing = {str(i) for i in range(total)} - reached
        assert not missing, f"{page.url}: not reachable by keyboard: {sorted(missing)}"
        assert self.violations == [], self.violations
        assert self.dialogs == [], f"a stored string ran as script: {self.dialogs}"


@pytest.fixture
def visit(browser: Any, base_url: str, tmp_path: Path) -> Iterator[Visit]:
    context = browser.new_context()
    page = context.new_page()
    yield Visit(page, base_url)
    context.close()


@contextmanager
def journey(v: Visit, tmp_path: Path) -> Iterator[Visit]:
    """Screenshot into the test's tmp dir when the journey fails."""
    try:
        yield v
    except BaseException:
        v.page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
        raise


def sign_in(v: Visit, world: World, role: str) -> None:
    v.go("/signin")
    v.page.get_by_label("API token").fill(world.tokens[role])
    v.page.get_by_role("button", name="Sign in").click()
    v.page.wait_for_url(re.compile(r"/$|/submit|/submissions"))
    v.check()


def test_submitter_submits_follows_reads_the_access_log_and_withdraws(
    visit: Visit, world: World, tmp_path: Path
) -> None:
    with journey(visit, tmp_path) as v:
        sign_in(v, world, "submitter_own")
        # the stored hostile model name is shown as text on the list
        v.go("/submissions")
        assert HOSTILE_MODEL_NAME[:28] in v.page.inner_text("main")  # text, not markup
        v.go("/submit")
        page = v.page
        release = page.get_by_label("Planned public release date")
        accepted = (date.today() + timedelta(days=20)).isoformat()
        assert release.get_attribute("min") <= accepted <= release.get_attribute("max")
        assert (date.today() + timedelta(days=300)).isoformat() > release.get_attribute("max")
        page.get_by_label("Organization").fill("Org A")
        page.get_by_label("Inspect model string").fill("simulated/portal")
        page.get_by_label("Planned public release date").fill(
            (date.today() + timedelta(days=300)).isoformat()
        )
        page.get_by_label(re.compile("^Name under which")).fill("LAB_KEY")
        page.get_by_label(re.compile(r"^API key \(")).fill("sk-portal-secret")
        v.follow(page.get_by_role("button", name="Submit"))
        error = page.locator("#e-release_date")
        assert "release window" in error.inner_text()  # named at the field, form kept
        assert page.get_by_label("Organization").input_value() == "Org A"
        assert (
            page.get_by_label(re.compile(r"^API key \(")).input_value() == ""
        )  # secrets are not echoed
        page.get_by_label("Planned public release date").fill(
            (date.today() + timedelta(days=20)).isoformat()
        )
        page.get_by_label(re.compile(r"^API key \(")).fill("sk-portal-secret")
        page.get_by_role("button", name="Submit").click()
        page.wait_for_url(re.compile(r"/submissions/sub-"))
        v.check()
        ident = page.url.rsplit("/", 1)[1]
        assert page.locator("#state").inner_text() == "submitted"
        v.follow(page.get_by_role("link", name="Access log: who touched this submission"))
        assert "ann" in page.inner_text("main")
        v.go(f"/submissions/{ident}")
        v.follow(page.get_by_role("link", name="Withdraw this submission…"))
        page.get_by_label(re.compile("Type the submission id")).fill(ident)
        page.get_by_role("button", name="Withdraw for good").click()
        page.wait_for_url(re.compile(f"/submissions/{ident}$"))
        v.check()
        assert page.locator("#state").inner_text() == "withdrawn"
        # another organization's submission: refused, not shown
        v.go(f"/submissions/{world.other}")
        assert "access denied" in page.inner_text("main")


def test_evaluator_plans_starts_and_follows_progress(
    visit: Visit, world: World, tmp_path: Path
) -> None:
    with journey(visit, tmp_path) as v:
        sign_in(v, world, "evaluator_assigned")
        v.go("/submissions")
        page = v.page
        v.follow(page.get_by_role("link", name=world.submission))
        page.get_by_label("Suite").fill("calibration")
        page.get_by_label("At most N samples per task").fill("2")
        v.follow(page.get_by_role("button", name="Plan"))
        assert "Suite calibration" in page.inner_text("main")
        v.follow(page.get_by_role("button", name="Start"))
        # live progress from server-sent events (the static script, allowed by the CSP)
        page.wait_for_function(
            "() => (document.getElementById('progress') || {}).textContent?.includes("
            "'assessment queued')"
        )
        v.follow(page.get_by_role("button", name="Cancel the running assessment"))
        assert "cancelled" in page.inner_text("main")
        v.go("/findings")
        v.follow(
            page.get_by_role("link", name="F-1")
        )  # the SARIF message's markup is text: no dialog, no CSP violation
        assert "<img src=x onerror=alert(1)>" in page.inner_text("main")
        report = page.request.get(f"{v.base_url}/submissions/{world.submission}/report?format=md")
        assert report.status == 200 and report.headers["content-disposition"].startswith("attach")


def test_coordinator_adds_a_principal_and_verifies_the_trail(
    visit: Visit, world: World, tmp_path: Path
) -> None:
    with journey(visit, tmp_path) as v:
        sign_in(v, world, "coordinator")
        v.go("/principals")
        page = v.page
        page.get_by_label("Name").fill("newbie")
        page.get_by_label("Role").select_option("auditor")
        v.follow(page.get_by_role("button", name="Add"))
        assert page.locator("#new-token").inner_text().startswith("prv_")
        for path in ("/references", "/keys", f"/submissions/{world.submission}"):
            v.go(path)
        v.go("/audit")
        v.follow(page.get_by_role("button", name="Verify the trail"))
        assert "Audit trail intact" in page.locator("#verified").inner_text()


def test_sector_partner_reads_sanitized_reports_only(
    visit: Visit, world: World, tmp_path: Path
) -> None:
    with journey(visit, tmp_path) as v:
        sign_in(v, world, "sector_partner")
        v.go("/shared")
        page = v.page
        assert page.get_by_role("link", name=re.compile("Sanitized report")).count() == 1
        response = page.request.get(
            f"{v.base_url}/submissions/{world.submission}/report?format=md&sanitized=true"
        )
        assert response.status == 200
        full = page.request.get(f"{v.base_url}/submissions/{world.submission}/report?format=md")
        assert full.status == 403
        assert "simulated/service" not in response.text()
        v.go(f"/submissions/{world.submission}")
        assert "access denied" in page.inner_text("main")


def test_auditor_reads_and_verifies_the_trail(visit: Visit, world: World, tmp_path: Path) -> None:
    with journey(visit, tmp_path) as v:
        sign_in(v, world, "auditor")
        v.go("/audit")
        v.follow(v.page.get_by_role("button", name="Verify the trail"))
        assert "intact" in v.page.locator("#verified").inner_text()
        v.go("/principals")
        assert "access denied" in v.page.inner_text("main")


@pytest.mark.parametrize("ended_by", ["expiry", "revocation"])
def test_an_ended_session_keeps_the_forms_non_secret_fields(
    visit: Visit, world: World, tmp_path: Path, live: tuple[str, FastAPI], ended_by: str
) -> None:
    """The session expires, or its principal's token is revoked, while a form is half filled:
    the post leads to sign-in, and signing in brings the non-secret fields back."""
    vault = live[1].state.context.vault
    with journey(visit, tmp_path) as v:
        if ended_by == "revocation":
            _, token = vault.principals.add("lab-temp", Role.SUBMITTER, "Org A", "browser")
            v.go("/signin")
            v.page.get_by_label("API token").fill(token)
            v.page.get_by_role("button", name="Sign in").click()
            v.page.wait_for_url(re.compile(r"/$"))
        else:
            sign_in(v, world, "submitter_own")
        v.go("/submit")
        page = v.page
        page.get_by_label("Organization").fill("Org A")
        page.get_by_label("Product name of the model").fill("Half-filled")
        page.get_by_label(re.compile(r"^API key \(")).fill("sk-do-not-keep")
        if ended_by == "revocation":  # the token is revoked meanwhile
            vault.principals.revoke("lab-temp", "browser")
        else:  # the session ends meanwhile
            live[1].state.portal_sessions.expire_all()
        v.follow(page.get_by_role("button", name="Submit"))
        assert "session ended" in page.inner_text("main")
        assert "sk-do-not-keep" not in page.content()
        page.get_by_label("API token").fill(world.tokens["submitter_own"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/submit\?"))
        v.check()
        assert page.get_by_label("Product name of the model").input_value() == "Half-filled"
        assert page.get_by_label(re.compile(r"^API key \(")).input_value() == ""
        # sign-out ends the session: the pages need a new sign-in
        with page.expect_navigation():
            page.get_by_role("button", name="Sign out").click()
        v.go("/submissions")
        assert "/signin" in page.url
