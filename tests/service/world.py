"""One data dir with a principal of every role, two organizations' submissions, a finding."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from prereview.config import Settings, load_settings
from prereview.domain.submission import Confidentiality, ModelAccess, Throughput
from prereview.findings.access import session_codecs
from prereview.findings.ingest import import_findings
from prereview.findings.sectors import load_catalog
from prereview.findings.triage import Triage
from prereview.home import initialize_home
from prereview.review.service import ReviewService, SubmissionRequest
from prereview.vault.policy import Operation
from prereview.vault.principals import Role
from prereview.vault.service import Vault
from tests.findings.factory import result, sarif_log

ROLES = (
    "submitter_own",
    "submitter_other",
    "evaluator_assigned",
    "evaluator_unassigned",
    "coordinator",
    "sector_partner",
    "auditor",
)
PRINCIPALS: dict[str, tuple[Role, str | None]] = {
    "submitter_own": (Role.SUBMITTER, "Org A"),
    "submitter_other": (Role.SUBMITTER, "Org B"),
    "evaluator_assigned": (Role.EVALUATOR, None),
    "evaluator_unassigned": (Role.EVALUATOR, None),
    "sector_partner": (Role.SECTOR_PARTNER, None),
    "auditor": (Role.AUDITOR, None),
}
NAMES = {
    "submitter_own": "ann",
    "submitter_other": "bob",
    "evaluator_assigned": "eve",
    "evaluator_unassigned": "ed",
    "coordinator": "coordinator",
    "sector_partner": "pat",
    "auditor": "aud",
}
HOSTILE_MODEL_NAME = '<script>alert("x")</script>\x1b[31m&amp;'


@dataclass
class World:
    settings: Settings
    home: Path
    submission: str
    review: str
    other: str
    finding: str
    tokens: dict[str, str] = field(default_factory=dict)


def request(
    org: str, confidentiality: Confidentiality, name: str | None = None
) -> SubmissionRequest:
    return SubmissionRequest(
        organization=org,
        access=ModelAccess("simulated/service"),
        release_date=date.today() + timedelta(days=30),
        throughput=Throughput(None, 2, 0.01),
        confidentiality=confidentiality,
        model_name=name,
    )


def sarif_bytes() -> bytes:
    doc = sarif_log([result(1)])
    doc["runs"][0]["results"][0]["message"]["text"] = "<img src=x onerror=alert(1)> overflow"
    return json.dumps(doc).encode()


def build_world(base: Path) -> World:
    """Initialize `PREREVIEW_HOME` (already set by the caller) and populate it."""
    init = initialize_home(load_settings(), save_token=False)
    tokens = {"coordinator": str(init["token"])}
    settings = load_settings()
    session = Vault.open(settings).authenticate(tokens["coordinator"])
    with ReviewService.open(settings, session=session) as c:
        vault = c.access.vault
        for name, (role, org) in PRINCIPALS.items():
            _, tokens[name] = vault.principals.add(NAMES[name], role, org, "test")
        own = c.acting_as(vault.authenticate(tokens["submitter_own"]))
        other = c.acting_as(vault.authenticate(tokens["submitter_other"]))
        record = own.submit(request("Org A", Confidentiality.SHARE_SANITIZED, HOSTILE_MODEL_NAME))
        theirs = other.submit(request("Org B", Confidentiality.CONFIDENTIAL))
        c.plan(record.id, suite="calibration")
        review = c.get(record.id).review
        assert review is not None
        handle = c.access.guard.authorize(Operation.REVIEW_ASSIGN, record.id)
        vault.principals.assign(NAMES["evaluator_assigned"], handle, "test")
        findings = c.access.guard.authorize(Operation.FINDINGS_WRITE, record.id)
        upload = base / "agent.sarif"
        upload.write_bytes(sarif_bytes())
        import_findings(
            vault.db,
            upload,
            codecs=session_codecs(c.access),
            submission=findings,
            triage=Triage(load_catalog(settings)),
        )
    (settings.home / "advisories").mkdir(exist_ok=True)
    (settings.home / "advisories" / "test.json").write_text('{"document": {}}')
    (settings.reports_dir / "briefs").mkdir(parents=True, exist_ok=True)
    (settings.reports_dir / "briefs" / "test.md").write_text("# brief\n")
    return World(settings, settings.home, record.id, review.id, theirs.id, "F-1", tokens)
