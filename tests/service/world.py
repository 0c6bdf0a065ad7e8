"""The service tests' data dir: the authorization matrix's (tests/security/world.py), with a
hostile model name on Org A's submission, a finding whose SARIF message is hostile, an
advisory and a brief."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from prereview.config import Settings
from prereview.findings.access import session_codecs
from prereview.findings.ingest import import_findings
from prereview.findings.sectors import load_catalog
from prereview.findings.triage import Triage
from prereview.review.service import ReviewService
from prereview.vault.policy import Operation
from prereview.vault.service import Vault
from tests.findings.factory import result, sarif_log
from tests.security.world import NAMES, ROLES, populate

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


def sarif_bytes() -> bytes:
    doc = sarif_log([result(1)])
    doc["runs"][0]["results"][0]["message"]["text"] = "<img src=x onerror=alert(1)> overflow"
    return json.dumps(doc).encode()


def build_world(base: Path) -> World:
    """Initialize `PREREVIEW_HOME` (already set by the caller) and populate it."""
    population = populate(HOSTILE_MODEL_NAME)
    settings, tokens = population.settings, population.tokens
    session = Vault.open(settings).authenticate(tokens["coordinator"])
    with ReviewService.open(settings, session=session) as c:
        findings = c.access.guard.authorize(Operation.FINDINGS_WRITE, population.submission)
        upload = base / "agent.sarif"
        upload.write_bytes(sarif_bytes())
        import_findings(
            c.access.vault.db,
            upload,
            codecs=session_codecs(c.access),
            submission=findings,
            triage=Triage(load_catalog(settings)),
        )
    (settings.home / "advisories").mkdir(exist_ok=True)
    (settings.home / "advisories" / "test.json").write_text('{"document": {}}')
    (settings.reports_dir / "briefs").mkdir(parents=True, exist_ok=True)
    (settings.reports_dir / "briefs" / "test.md").write_text("# brief\n")
    return World(
        settings,
        settings.home,
        population.submission,
        population.review,
        population.other,
        "F-1",
        tokens,
    )


__all__ = ["NAMES", "ROLES", "World", "build_world", "sarif_bytes"]
